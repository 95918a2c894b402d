"""Public-form submissions held as suspected spam: handlers review them, release one as a ticket
received when it was sent (acknowledged, audited) or discard it as spam (kept, audited), each
with a reason; a second decision is refused; only handlers, leads and admins see the page."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.core.audit import AuditEvent
from portal.core.errors import Conflict, PermissionDenied
from portal.core.extensions import db as _db
from portal.core.timeutil import utc_now
from portal.customers import privacy
from portal.messaging.models import Message
from portal.tickets import queue
from portal.tickets.channels import intake, suspected_spam, webform
from portal.tickets.models import (
    HeldSubmission,
    Prospect,
    Ticket,
    TicketEvent,
    TicketNotice,
    Trap,
)
from tests.factories import actor_for, make_actor, make_customer, make_user

EMAIL = "zhou.min@mail.example.com"
SCRIPT = '<script>alert("x")</script>'
HANDLER = "hana.handler@bank.example.com"


def hold(
    trap: Trap = Trap.TOO_FAST, seconds: float | None = 1.2, *, days_ago: float = 0, **overrides
) -> HeldSubmission:
    values: dict[str, object] = {
        "kind": "complaint",
        "about": "credit_card",
        "description": "Fee charged twice\nOnce on 3 March and again on 4 March.",
        "request": "Refund one.",
        "name": "Zhou Min",
        "email": EMAIL,
    }
    values.update(overrides)
    held_id = suspected_spam.hold(
        webform.WebSubmission(**values),
        suspected_spam.Caught(trap, seconds),
        now=utc_now() - timedelta(days=days_ago),
    )
    return _db.session.get(HeldSubmission, held_id)


def count(model) -> int:
    return _db.session.scalar(select(func.count()).select_from(model))


def audit(action: str) -> list[AuditEvent]:
    return list(_db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def decide(client, row: HeldSubmission, action: str, reason: str, version=None):
    return client.submit(
        f"/tickets/suspected-spam/{row.id}/{action}",
        {"reason": reason, "version": str(row.version if version is None else version)},
    )


@pytest.fixture
def handler(login_as):
    return login_as("handler", email=HANDLER)


# ---------------------------------------------------------------- the review page


def test_the_page_shows_each_waiting_submission_with_what_the_trap_saw(client, handler):
    fast = hold(description="Card blocked abroad " + SCRIPT, phone="13800001111")
    hold(Trap.TRAP_FIELD, None, name="Bot " + SCRIPT, email="bot@spam.example")
    hold(Trap.TIME_STAMP, None, email="other@mail.example.com")
    page = client.get("/tickets/suspected-spam")
    assert page.status_code == 200
    text = page.text
    assert "Sent too fast: 1.2 s after the form was served" in text
    assert "The field hidden from people was filled in" in text
    assert "The form&#39;s time stamp was missing or altered" in text
    assert "Card blocked abroad &lt;script&gt;" in text and "<script>alert" not in text
    assert "Bot &lt;script&gt;" in text
    assert EMAIL in text and "13800001111" in text and "Credit card" in text
    assert "Waiting for review (3)" in text
    assert f'action="/tickets/suspected-spam/{fast.id}/release"' in text
    assert f'formaction="/tickets/suspected-spam/{fast.id}/discard"' in text


def test_the_queue_links_the_page_and_its_sidebar_counts_what_waits(client, handler):
    assert 'href="/tickets/suspected-spam"' in client.get("/tickets").text
    empty = client.get("/tickets/counts").text
    assert 'Suspected spam to review</a> <span class="count">0<' in empty
    hold()
    hold(email="second@mail.example.com")
    counts = client.get("/tickets/counts").text
    assert 'Suspected spam to review</a> <span class="count count-alert">2<' in counts


def test_the_page_goes_on_to_older_submissions(client, handler, monkeypatch):
    monkeypatch.setattr(suspected_spam, "PAGE", 2)
    oldest, middle, newest = (hold(email=f"sender{n}@mail.example.com") for n in range(3))
    first = client.get("/tickets/suspected-spam").text
    assert f'id="held-{newest.id}"' in first and f'id="held-{middle.id}"' in first
    assert f'id="held-{oldest.id}"' not in first
    link = f"/tickets/suspected-spam?state=held&amp;before={middle.id}"
    assert f'rel="next" href="{link}"' in first
    second = client.get(link.replace("&amp;", "&")).text
    assert f'id="held-{oldest.id}"' in second and f'id="held-{middle.id}"' not in second
    assert 'rel="next"' not in second


@pytest.mark.parametrize("role", ["handler", "lead", "admin"])
def test_handlers_leads_and_admins_see_it_in_their_navigation(client, login_as, role):
    login_as(role)
    home = client.get("/").text
    assert 'href="/tickets/suspected-spam">Suspected spam</a>' in home
    assert client.get("/tickets/suspected-spam").status_code == 200


def test_a_relationship_manager_neither_sees_nor_decides(client, login_as):
    row = hold()
    login_as("rm")
    assert "/tickets/suspected-spam" not in client.get("/").text
    assert "Suspected spam" not in client.get("/tickets/counts").text
    assert client.get("/tickets/suspected-spam").status_code == 403
    assert decide(client, row, "release", "Looks real").status_code == 403
    assert decide(client, row, "discard", "Spam").status_code == 403
    _db.session.expire_all()
    assert row.status == "held" and count(Ticket) == 0
    with pytest.raises(PermissionDenied):
        suspected_spam.release(make_actor("rm"), row.id, row.version, "Looks real")


def test_a_signed_out_visitor_is_sent_to_sign_in(client):
    row = hold()
    response = client.get("/tickets/suspected-spam")
    assert response.status_code in (303, 401)
    assert decide(client, row, "release", "x").status_code in (303, 401)
    _db.session.expire_all()
    assert row.status == "held"


# ---------------------------------------------------------------- release


def test_release_makes_the_ticket_received_when_sent_acknowledged_and_audited(client, handler):
    row = hold(days_ago=20, seconds=0.8)
    sent_at = row.received_at
    response = decide(client, row, "release", "A real complaint, pasted in a hurry")
    assert response.status_code == 303
    assert response.headers["Location"] == "/tickets/suspected-spam"
    _db.session.expire_all()
    ticket = _db.session.scalars(select(Ticket)).one()
    assert ticket.received_at == sent_at  # not the day of release
    assert ticket.reference.startswith(f"CMP-{sent_at.year}-")
    assert (ticket.source, ticket.kind, ticket.channel_code, ticket.business_code) == (
        "web",
        "complaint",
        "A0304",
        "B0302",
    )
    assert ticket.subject == "Fee charged twice" and ticket.request == "Refund one."
    # The regulatory clock counts from the day it was sent: 20 days on, a CN complaint's
    # 15 days are over, so it arrives breached.
    assert ticket.due_at < utc_now()
    assert queue.urgency(ticket) == "breached"
    prospect = _db.session.get(Prospect, ticket.prospect_id)
    assert (prospect.name, prospect.email) == ("Zhou Min", EMAIL)
    notice = _db.session.scalars(
        select(TicketNotice).where(TicketNotice.ticket_id == ticket.id)
    ).one()
    assert (notice.kind, notice.sent_via) == ("acknowledgement", "email")
    assert _db.session.get(Message, notice.outbox_id).to_address == EMAIL
    released = _db.session.scalars(
        select(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.action == "released"
        )
    ).one()
    assert released.actor_label == HANDLER
    assert released.reason == "A real complaint, pasted in a hurry"
    assert released.data == {"held": row.id, "trap": "too_fast", "seconds": 0.8}
    (event,) = audit("web_form.released")
    assert (event.actor_id, event.subject_id, event.reason) == (
        handler.id,
        str(row.id),
        "A real complaint, pasted in a hurry",
    )
    assert event.after == {"status": "released", "ticket": ticket.reference}
    row = _db.session.get(HeldSubmission, row.id)
    assert (row.status, row.ticket_id, row.decided_by) == (
        "released",
        ticket.id,
        HANDLER,
    )

    page = client.get("/tickets/suspected-spam")
    assert f"Released as {ticket.reference}" in page.text
    assert "Waiting for review (0)" in page.text
    done = client.get("/tickets/suspected-spam?state=released").text
    assert f'href="/tickets/{ticket.id}">{ticket.reference}</a>' in done
    assert "A real complaint, pasted in a hurry" in done
    shown = client.get(f"/tickets/{ticket.id}").text
    assert "Released from suspected spam" in shown
    assert ticket.reference in client.get("/tickets?status=all").text


def test_a_released_customer_complaint_counts_as_their_open_complaint(db):
    from portal.tickets.contact_policy import customers_with_open_complaints

    customer = make_customer(email=EMAIL)
    row = hold()
    assert customers_with_open_complaints([customer.id]) == set()
    ticket = suspected_spam.release(make_actor("lead"), row.id, row.version, "Real")
    assert ticket.customer_id == customer.id
    assert customers_with_open_complaints([customer.id]) == {customer.id}


@pytest.mark.parametrize("reason", ["", "   \n "])
@pytest.mark.parametrize("action", ["release", "discard"])
def test_a_decision_without_a_reason_is_refused_by_the_field(client, handler, action, reason):
    row = hold()
    response = decide(client, row, action, reason)
    assert response.status_code == 400
    assert "This field is required." in response.text
    assert f'id="reason-{row.id}-errors"' in response.text
    assert 'aria-invalid="true"' in response.text
    _db.session.expire_all()
    assert _db.session.get(HeldSubmission, row.id).status == "held"
    assert count(Ticket) == 0 and audit(f"web_form.{action}d") == []


def test_a_reason_too_long_is_refused_and_kept_in_the_box(client, handler):
    row = hold()
    response = decide(client, row, "release", "x" * 2001)
    assert response.status_code == 400
    assert "At most 2000 characters." in response.text
    assert f">{'x' * 2001}</textarea>" in response.text
    assert count(Ticket) == 0


def test_a_second_release_leaves_one_ticket_and_says_who_released_it(client, handler):
    row = hold()
    version = row.version
    assert decide(client, row, "release", "Real complaint").status_code == 303
    again = decide(client, row, "release", "Real complaint", version=version)
    assert again.status_code == 409
    ticket = _db.session.scalars(select(Ticket)).one()
    assert (
        f"This submission was already released as {ticket.reference} by {HANDLER} at" in again.text
    )
    discard = decide(client, row, "discard", "Spam after all", version=version)
    assert discard.status_code == 409 and "already released" in discard.text
    assert count(Ticket) == 1 and count(Message) == 1
    assert len(audit("web_form.released")) == 1 and audit("web_form.discarded") == []


def test_two_handlers_deciding_at_once_make_one_ticket(db):
    row = hold()
    first, second = make_actor("handler", email="first@bank.example.com"), make_actor("lead")
    suspected_spam.release(first, row.id, row.version, "Real")
    with pytest.raises(
        Conflict, match=r"already released as CMP-\d{4}-\d{6} by first@bank\.example\.com at"
    ):
        suspected_spam.release(second, row.id, 1, "Real too")
    with pytest.raises(Conflict, match="already released"):
        suspected_spam.discard(second, row.id, None, "Spam")
    assert count(Ticket) == 1


def test_a_decision_on_a_stale_page_is_refused(db):
    row = hold()
    with pytest.raises(Conflict, match="changed this in the meantime"):
        suspected_spam.release(make_actor("handler"), row.id, row.version + 1, "Real")
    assert count(Ticket) == 0


def test_an_unknown_submission_is_not_found(client, handler):
    response = client.submit(
        "/tickets/suspected-spam/999999/release", {"reason": "x", "version": "1"}
    )
    assert response.status_code == 404 and "No such held submission." in response.text


# ---------------------------------------------------------------- discard


def test_discard_keeps_the_submission_with_its_reason_and_makes_no_ticket(client, handler):
    row = hold(Trap.TRAP_FIELD, None, description="Buy cheap watches")
    response = decide(client, row, "discard", "Advertising, not a complaint")
    assert response.status_code == 303
    _db.session.expire_all()
    assert (count(Ticket), count(Prospect), count(Message)) == (0, 0, 0)
    row = _db.session.get(HeldSubmission, row.id)
    assert (row.status, row.reason, row.decided_by) == (
        "discarded",
        "Advertising, not a complaint",
        HANDLER,
    )
    (event,) = audit("web_form.discarded")
    assert (event.actor_id, event.reason) == (handler.id, "Advertising, not a complaint")
    flashed = client.get("/tickets/suspected-spam").text
    assert "Discarded as spam; it is kept with your reason." in flashed
    assert "Buy cheap watches" not in flashed  # not among the waiting ones
    kept = client.get("/tickets/suspected-spam?state=discarded").text
    assert "Buy cheap watches" in kept and "Advertising, not a complaint" in kept
    assert "Buy cheap watches" not in client.get("/tickets?status=all").text
    again = decide(client, row, "release", "Changed my mind")
    assert again.status_code == 409
    assert f"already discarded as spam by {HANDLER}" in again.text


# ---------------------------------------------------------------- limits and privacy


def test_waiting_submissions_count_under_the_senders_daily_cap(db):
    for _ in range(5):
        hold()
    with pytest.raises(intake.TooMany, match="already received 5 messages"):
        webform.submit(
            webform.WebSubmission(
                kind="feedback", about="other", description="x", name="Zhou Min", email=EMAIL
            )
        )
    assert count(Ticket) == 0


def test_erasure_sets_aside_and_erases_what_the_customer_sent(db):
    customer = make_customer(email=EMAIL, number="C-HELD-1")
    row = hold(description="My card 6222 1234 was blocked")
    other = hold(email="someone.else@mail.example.com")
    admin = actor_for(make_user(role="admin"))
    exported = privacy.export_customer(admin, customer.id)["held_web_submissions"]
    assert [h["description"] for h in exported] == ["My card 6222 1234 was blocked"]
    privacy.erase_customer(admin, customer.id, "Customer's request", customer.number)
    _db.session.expire_all()
    row = _db.session.get(HeldSubmission, row.id)
    assert (row.status, row.email, row.description, row.name) == (
        "discarded",
        None,
        "[erased]",
        "[erased]",
    )
    assert _db.session.get(HeldSubmission, other.id).status == "held"
