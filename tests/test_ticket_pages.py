"""The tickets room over HTTP: the queue, intake, the ticket page, exports, bell and admin."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.accounts.services import actor_for
from portal.core.errors import PermissionDenied
from portal.core.extensions import db as _db
from portal.tickets import assignment, queue, services, taxonomy
from portal.tickets.models import Notification, TaxonomyNode, Ticket
from tests.factories import make_customer, make_ticket, make_user

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def handler(db):
    return make_user(role="handler", name="Hana Handler")


def test_registering_a_complaint_from_the_customer_page(client, login_as, db):
    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id, name="王小明")
    page = client.get(f"/customers/{customer.id}")
    assert f"/tickets/new?customer_id={customer.id}" in page.text
    form = client.get(f"/tickets/new?customer_id={customer.id}")
    assert form.status_code == 200 and "首问负责制" in form.text
    response = client.submit(
        "/tickets/new",
        {
            "customer_id": str(customer.id),
            "kind": "complaint",
            "severity": "high",
            "subject": "催收电话太频繁",
            "channel_code": "A0302",
            "business_code": "B0201",
            "cause_code": "C08",
            "request": "停止每天打电话",
            "description": "",
            "account_id": "",
            "assignee_id": "",
            "team_id": "",
        },
        htmx=False,
    )
    assert response.status_code == 303, response.text
    ticket = _db.session.scalars(select(Ticket).where(Ticket.customer_id == customer.id)).one()
    assert ticket.registered_by_id == rm.id and ticket.severity == "high"
    shown = client.get(response.headers["Location"])
    assert ticket.reference in shown.text and "催收电话太频繁" in shown.text
    # The 360 timeline and My day list it.
    assert ticket.reference in client.get(f"/customers/{customer.id}").text
    assert ticket.reference in client.get("/my-day").text


def test_an_rm_is_not_offered_the_assignment_at_intake(client, login_as, handler):
    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id)
    form = client.get(f"/tickets/new?customer_id={customer.id}")
    assert 'name="assignee_id"' not in form.text and 'name="team_id"' not in form.text
    sent = client.submit(
        "/tickets/new",
        {
            "customer_id": str(customer.id),
            "kind": "complaint",
            "severity": "medium",
            "subject": "Fee charged twice",
            "channel_code": "A0302",
            "business_code": "B0201",
            "cause_code": "C08",
            "assignee_id": str(handler.id),  # not a field of an RM's form: never read
        },
        htmx=False,
    )
    assert sent.status_code == 303, sent.text
    ticket = _db.session.scalars(select(Ticket).where(Ticket.customer_id == customer.id)).one()
    assert ticket.assignee_id is None


def test_intake_refuses_bad_values_with_the_form_kept(client, login_as):
    login_as("handler")
    response = client.submit(
        "/tickets/new",
        {
            "kind": "complaint",
            "severity": "medium",
            "subject": "Keep this subject",
            "channel_code": "A0302",
            "business_code": "B0201",
            "cause_code": "C77",
        },
        htmx=False,
    )
    assert response.status_code == 400
    assert "Unknown cause code" in response.text and "Keep this subject" in response.text
    assert _db.session.scalar(select(Ticket.id)) is None


def test_every_free_text_field_is_shown_escaped(client, login_as, handler):
    login_as(user=handler)
    ticket = make_ticket(
        actor_for(handler),
        subject=SCRIPT[:200],
        request=SCRIPT,
        description=SCRIPT,
        product=SCRIPT[:120],
    )
    services.add_note(actor_for(handler), ticket.id, SCRIPT)
    services.add_note(actor_for(handler), ticket.id, SCRIPT, customer_facing=True)
    for url in (f"/tickets/{ticket.id}", "/tickets", f"/tickets/{ticket.id}/print"):
        text = client.get(url).text
        assert "<script>alert" not in text and "<img src=x" not in text, url
        assert "&lt;script&gt;" in text, url


def test_a_stale_save_over_http_says_who_changed_it(client, login_as, handler):
    ticket = make_ticket(actor_for(handler))
    stale = ticket.version
    lead = make_user(role="lead", name="Lei Lead")
    services.change_status(actor_for(lead), ticket.id, stale, "acknowledged")
    login_as(user=handler)
    response = client.submit(
        f"/tickets/{ticket.id}/status",
        {"to": "in_progress", "version": str(stale), "reason": "Calling the branch"},
    )
    assert response.status_code == 409
    # By name, never the email the event keeps; what changed; when in the viewer's zone.
    assert "Lei Lead changed" in response.text and lead.email not in response.text
    assert "Status changed: New → Acknowledged" in response.text and "UTC" not in response.text
    _db.session.expire_all()
    assert _db.session.get(Ticket, ticket.id).status == "acknowledged"


def test_status_and_clock_actions_over_http(client, login_as, handler):
    login_as(user=handler)
    ticket = make_ticket(actor_for(handler))
    closed = client.submit(
        f"/tickets/{ticket.id}/status", {"to": "closed", "version": str(ticket.version)}
    )
    assert closed.status_code == 400 and "cannot become" in closed.text
    ok = client.submit(
        f"/tickets/{ticket.id}/clock",
        {
            "action": "extend",
            "reason": "Needs the call recordings",
            "notice": "We will answer within 30 days.",
            "version": str(ticket.version),
        },
        htmx=True,
    )
    assert ok.status_code == 204 and ok.headers["HX-Redirect"].endswith(f"/tickets/{ticket.id}")
    page = client.get(f"/tickets/{ticket.id}").text
    assert "We will answer within 30 days." in page and "Needs the call recordings" in page
    bogus = client.submit(f"/tickets/{ticket.id}/clock", {"action": "explode", "version": "2"})
    assert bogus.status_code in (400, 409)


def test_the_queue_filters_sorts_and_pages(client, login_as, handler):
    login_as(user=handler)
    actor = actor_for(handler)
    now = datetime.now(UTC)
    made = [
        make_ticket(actor, received_at=now - timedelta(days=d), severity=sev, cause_code=cause)
        for d, sev, cause in [(1, "low", "C07"), (20, "high", "C08"), (3, "high", "C07")]
    ]
    assignment.assign(actor, [made[1].id], handler.id, None)
    page = client.get("/tickets").text
    order = [m.reference for m in sorted(made, key=lambda t: (t.due_at, t.id))]
    positions = [page.index(ref) for ref in order]
    assert positions == sorted(positions)  # due-date order
    high = client.get("/tickets?severity=high").text
    assert made[1].reference in high and made[0].reference not in high
    cause = client.get("/tickets?cause=c08").text
    assert made[1].reference in cause and made[2].reference not in cause
    mine = client.get("/tickets?assignee=me").text
    assert made[1].reference in mine and made[0].reference not in mine
    breached = client.get("/tickets?breached=1").text
    assert made[1].reference in breached and made[0].reference not in breached
    recent = client.get(
        f"/tickets?received_from={(now - timedelta(days=5)).date().isoformat()}"
    ).text
    assert made[2].reference in recent and made[1].reference not in recent
    # htmx asks for the results only
    fragment = client.get(
        "/tickets?severity=high", headers={"HX-Request": "true", "HX-Target": "queue-results"}
    )
    assert "<html" not in fragment.text and made[1].reference in fragment.text


def test_keyset_pages_cover_every_ticket_once(app, client, login_as, handler):
    login_as(user=handler)
    actor = actor_for(handler)
    base = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    refs = {
        make_ticket(actor, received_at=base + timedelta(hours=i % 3)).reference for i in range(7)
    }
    seen: list[str] = []
    filters = queue.QueueFilters()
    while True:
        page = queue.queue_page(actor_for(handler), filters, ZoneInfo("Asia/Shanghai"), 3)
        seen += [t.reference for t in page.rows]
        if not page.next_key:
            break
        filters.after = str(page.next_key)
    assert sorted(seen) == sorted(refs) and len(seen) == len(set(seen))
    first = client.get("/tickets?status=all")
    assert first.status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "due_within=abc",
        "received_from=2026-13-45",
        "received_from=2026-05-01&received_to=2026-04-01",
        "after=garbage|x",
        "after=2026-01-01T00:00:00|99999999999999999999999",
        "status=exploded&sort=sideways&severity=%00",
        "assignee=-1&team=abc",
    ],
)
def test_malformed_filters_never_give_a_500(client, login_as, query):
    login_as("handler")
    response = client.get(f"/tickets?{query}")
    assert response.status_code in (200, 400), response.text
    assert client.get(f"/tickets/counts?{query}").status_code in (200, 400)


def test_counts_and_saved_views(client, login_as, handler):
    login_as(user=handler)
    actor = actor_for(handler)
    for severity in ("high", "high", "low"):
        make_ticket(actor, severity=severity, assignee_id=handler.id)
    counts = client.get("/tickets/counts?severity=high").text
    assert re.search(r'id="filter-total">[^<]*<strong>2</strong>', counts)
    saved = client.submit(
        "/tickets/views", {"name": "My high ones", "query": "severity=high&bogus=1"}, htmx=False
    )
    assert saved.status_code == 303 and saved.headers["Location"].endswith("?severity=high")
    views = queue.saved_views(handler.id)
    assert [(v.name, v.query) for v in views] == [("My high ones", "severity=high")]
    listed = client.get("/tickets/counts").text
    assert "My high ones" in listed
    other = make_user(role="handler")
    login_as(user=other)
    assert client.submit(f"/tickets/views/{views[0].id}/delete", {}).status_code == 404
    assert "My high ones" not in client.get("/tickets/counts").text


def test_bulk_assign_from_the_queue(client, login_as, handler):
    lead = login_as("lead")
    tickets = [make_ticket(actor_for(handler)) for _ in range(2)]
    response = client.submit(
        "/tickets/assign",
        {"ticket_ids": [str(t.id) for t in tickets], "assignee_id": str(handler.id), "team_id": ""},
        htmx=True,
    )
    assert response.status_code == 204
    _db.session.expire_all()
    assert {_db.session.get(Ticket, t.id).assignee_id for t in tickets} == {handler.id}
    empty = client.submit("/tickets/assign", {"assignee_id": str(handler.id)})
    assert empty.status_code == 400
    assert lead.id


def test_an_rm_sees_only_their_customers_tickets(client, login_as, handler):
    rm = login_as("rm")
    mine = make_ticket(actor_for(handler), customer_id=make_customer(owner_id=rm.id).id)
    theirs = make_ticket(
        actor_for(handler), customer_id=make_customer(owner_id=make_user(role="rm").id).id
    )
    page = client.get("/tickets").text
    assert mine.reference in page and theirs.reference not in page
    assert client.get(f"/tickets/{theirs.id}").status_code == 403
    assert client.get(f"/tickets/{mine.id}").status_code == 200


def test_history_export_as_csv_and_print_view(client, login_as, handler):
    login_as(user=handler)
    ticket = make_ticket(actor_for(handler))
    services.add_note(actor_for(handler), ticket.id, '=HYPERLINK("http://evil")')
    response = client.get(f"/tickets/{ticket.id}/history.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows[0][:5] == ["ticket", "event", "occurred_at_utc", "actor", "action"]
    assert [r[4] for r in rows[1:]] == ["created", "note"]
    assert rows[2][5].startswith("'=")  # never a live formula in a spreadsheet
    printed = client.get(f"/tickets/{ticket.id}/print")
    assert printed.status_code == 200 and ticket.reference in printed.text


def test_the_bell_counts_unread_notifications(client, login_as, handler):
    login_as(user=handler)
    lead = make_user(role="lead")
    ticket = make_ticket(actor_for(lead), assignee_id=handler.id)
    bell = client.get("/notifications/bell")
    assert '<span class="badge">1</span>' in bell.text
    page = client.get("/notifications").text
    assert f"{ticket.reference} was assigned to you." in page
    note = _db.session.scalars(select(Notification)).one()
    assert (
        client.submit(
            "/notifications/read", {"notification_id": str(note.id)}, htmx=False
        ).status_code
        == 303
    )
    assert "badge" not in client.get("/notifications/bell").text
    assert client.submit("/notifications/read", {"notification_id": "abc"}).status_code == 404


def test_only_admins_edit_the_taxonomy_whoever_calls(handler):
    with pytest.raises(PermissionDenied, match="Only admins"):
        taxonomy.save_node(actor_for(handler), "B0205", "助学贷款", "Student loans", "B02")
    assert _db.session.get(TaxonomyNode, "B0205") is None


def test_admins_extend_the_taxonomy(client, login_as):
    login_as("admin")
    page = client.get("/admin/taxonomy")
    assert "债务催收方式和手段" in page.text and "Debt-collection conduct" in page.text
    added = client.submit(
        "/admin/taxonomy",
        {
            "code": "b0205",
            "parent_code": "B02",
            "label_zh": "助学贷款",
            "label_en": "Student loans",
            "active": "y",
        },
        htmx=False,
    )
    assert added.status_code == 303
    node = _db.session.get(TaxonomyNode, "B0205")
    assert node.parent_code == "B02" and node.label_en == "Student loans"
    wrong = client.submit(
        "/admin/taxonomy",
        {"code": "C0205", "parent_code": "B02", "label_zh": "x", "label_en": "x"},
        htmx=False,
    )
    assert wrong.status_code == 400 and "same axis" in wrong.text
    retire_other = client.submit(
        "/admin/taxonomy", {"code": "C99", "label_zh": "其他", "label_en": "Other"}, htmx=False
    )
    assert retire_other.status_code == 400
    assert _db.session.get(TaxonomyNode, "C99").active


def test_admins_create_teams(client, login_as, handler):
    login_as("admin")
    lead = make_user(role="lead", name="Team Lead")
    created = client.submit(
        "/admin/teams",
        {"name": "Cards team", "lead_id": str(lead.id), "member_ids": [str(handler.id)]},
        htmx=False,
    )
    assert created.status_code == 303
    page = client.get("/admin/teams").text
    assert "Cards team" in page and "Team Lead" in page and "Hana Handler" in page
    again = client.submit("/admin/teams", {"name": "Cards team"})
    assert again.status_code == 400
