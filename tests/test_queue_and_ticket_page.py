"""The handler's queue and ticket page as a handler works them, in English and Chinese: the search
box and filters, counts that agree with their lists, time left in words, refusals beside the
action that caused them, a 409 that keeps the typed text and names who changed what and when,
verbs and only the actions that fit, names and local times in the history, and a reply email
that greets the customer once in their language."""

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime as babel_datetime
from sqlalchemy import select

from portal.accounts.services import actor_for
from portal.core.errors import ValidationFailed
from portal.core.extensions import db as _db
from portal.messaging.compose import content_of
from portal.messaging.models import Message
from portal.tickets import clock_changes, queue, services
from portal.tickets.channels import notices
from portal.tickets.events import events_of
from portal.tickets.models import Prospect, Ticket
from tests.factories import make_customer, make_ticket, make_user

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def handler(db):
    return make_user(
        role="handler", name="Hana Handler", email="hana@bank.example.com", timezone="UTC"
    )


def rows(page: str) -> list[str]:
    """The references of the queue's rows, in order."""
    return re.findall(r'<td class="col-reference"><a href="[^"]*">([A-Z]{3}-\d{4}-\d{6})</a>', page)


def set_due(ticket: Ticket, due: datetime, **values: object) -> Ticket:
    row = _db.session.get(Ticket, ticket.id)
    row.due_at = due
    row.warn_at = due
    for name, value in values.items():
        setattr(row, name, value)
    _db.session.commit()
    return row


def outbox(ticket: Ticket) -> list[Message]:
    return list(
        _db.session.scalars(
            select(Message).where(Message.source_id == str(ticket.id)).order_by(Message.id)
        )
    )


# ---------------------------------------------------------------- the queue


def test_the_queue_shows_what_a_handler_scans_with_time_left_in_words(client, login_as, handler):
    login_as(user=handler)
    customer = make_customer(name="Wang Mei", number="C-QUEUE-1")
    long_subject = "Late fee charged after the payment had reached the bank " * 3
    now = datetime.now(UTC)
    late = set_due(
        make_ticket(actor_for(handler), customer, subject=long_subject[:200]),
        now - timedelta(days=3, hours=2),
        assignee_id=handler.id,
    )
    soon = set_due(make_ticket(actor_for(handler)), now + timedelta(days=2, hours=4, minutes=5))
    page = client.get("/tickets").text
    assert rows(page)[:2] == [late.reference, soon.reference]  # due-date order
    for heading in ("Reference", "Customer", "Subject", "Status", "Assignee", "Time left"):
        assert f">{heading}</th>" in page
    late_row = page[page.index(late.reference) : page.index(soon.reference)]
    assert "Wang Mei" in late_row and "Hana Handler" in late_row
    assert f'title="{long_subject[:200].strip()}' in late_row  # the whole subject on hover
    # Time left in words and a symbol, not colour alone.
    assert "overdue 3 d" in late_row and 'class="clock-symbol" aria-hidden="true">‼' in late_row
    assert "Deadline breached:" in late_row  # what the symbol means, for screen readers
    assert re.search(r'class="clock clock-ok"[^>]*>2 d 4 h</span>', page) and "Unassigned" in page

    handler.locale = "zh_Hans"
    _db.session.commit()
    chinese = client.get("/tickets").text
    assert ">剩余时间</th>" in chinese and ">客户</th>" in chinese
    assert "已逾期 3 天" in chinese and "2 天 4 小时" in chinese


def test_a_whole_reference_opens_the_ticket(client, login_as, handler):
    login_as(user=handler)
    ticket = make_ticket(actor_for(handler))
    typed = " " + ticket.reference.lower() + " "
    found = client.get("/tickets", query_string={"q": typed})
    assert found.status_code == 303 and found.headers["Location"].endswith(f"/tickets/{ticket.id}")
    live = client.get(
        "/tickets",
        query_string={"q": ticket.reference},
        headers={"HX-Request": "true", "HX-Target": "queue-results"},
    )
    assert live.status_code == 204 and live.headers["HX-Redirect"].endswith(f"/tickets/{ticket.id}")
    # A reference the viewer may not see is no shortcut: an RM finds nothing.
    login_as("rm")
    hidden = client.get("/tickets", query_string={"q": ticket.reference})
    assert hidden.status_code == 200 and "No tickets match." in hidden.text


def test_search_by_customer_number_name_or_email(client, login_as, handler):
    login_as(user=handler)
    actor = actor_for(handler)
    wang = make_customer(name="王小明", number="C-SEARCH-01", email="xiaoming@mail.example.com")
    smith = make_customer(name="Anna Smith", number="C-SEARCH-02", email="anna@mail.example.com")
    mine, theirs = make_ticket(actor, wang), make_ticket(actor, smith)
    prospect = Prospect(name="Li Lei", email="lilei@mail.example.com", locale="en")
    _db.session.add(prospect)
    _db.session.commit()
    wrote_in = make_ticket(actor, prospect_id=prospect.id)
    for typed, expected in (
        ("C-SEARCH-01", [mine]),
        ("c-search", [mine, theirs]),  # a number's beginning
        ("小明", [mine]),  # part of a Chinese name
        ("smi", [theirs]),  # the beginning of a word of the name
        ("ANNA@mail.example.com", [theirs]),
        ("lilei@mail.example.com", [wrote_in]),  # someone who is not yet a customer
    ):
        page = client.get("/tickets", query_string={"q": typed}).text
        assert sorted(rows(page)) == sorted(t.reference for t in expected), typed
    assert 'value="小明"' in client.get("/tickets?q=小明").text  # the box keeps the text
    nothing = client.get("/tickets?q=nobody-at-all").text
    assert rows(nothing) == [] and "Search every status" in nothing
    closed = make_ticket(actor, wang)
    services.change_status(actor, closed.id, closed.version, "withdrawn", reason="Taken back")
    assert closed.reference not in rows(client.get("/tickets?q=C-SEARCH-01").text)
    assert closed.reference in rows(client.get("/tickets?q=C-SEARCH-01&status=all").text)


def test_a_search_matching_too_many_customers_says_so(client, login_as, handler, monkeypatch):
    login_as(user=handler)
    monkeypatch.setattr(queue, "CUSTOMER_MATCHES", 2)
    for number in range(3):
        make_ticket(actor_for(handler), make_customer(name=f"Zhou Broad{number}"))
    page = client.get("/tickets?q=zhou").text
    assert len(rows(page)) == 2 and "Many customers match “zhou”" in page


def test_the_kind_filter(client, login_as, handler):
    login_as(user=handler)
    actor = actor_for(handler)
    complaint = make_ticket(actor)
    praise = make_ticket(actor, kind="compliment", subject="Great help at the branch")
    question = make_ticket(actor, kind="inquiry", subject="How is the fee computed?")
    assert rows(client.get("/tickets?kind=compliment").text) == [praise.reference]
    assert rows(client.get("/tickets?kind=inquiry").text) == [question.reference]
    everything = rows(client.get("/tickets?kind=bogus").text)  # unknown: no kind filter
    assert {complaint.reference, praise.reference, question.reference} <= set(everything)


def test_due_in_3_days_counts_the_rows_its_link_lists(client, login_as, db):
    """The count once left out overdue tickets that the list showed, and both counted 72 hours
    from now where a handler reads "3 days" as calendar days in their own zone."""
    handler = make_user(role="handler", timezone="Asia/Shanghai")
    login_as(user=handler)
    actor = actor_for(handler)
    now = datetime.now(UTC)
    today = now.astimezone(SHANGHAI).date()
    boundary = datetime.combine(today + timedelta(days=4), time(0), SHANGHAI)
    inside = [
        set_due(make_ticket(actor), now + timedelta(hours=5)),
        set_due(make_ticket(actor), boundary - timedelta(minutes=30)),
    ]
    for due, extra in (
        (now - timedelta(days=1), {}),  # overdue: "Breached", not "due in 3 days"
        (boundary + timedelta(minutes=30), {}),  # the fourth day
        (now + timedelta(hours=5), {"paused_since": now}),  # a paused clock is not running
        (now + timedelta(hours=5), {"is_open": False, "status": "closed"}),
    ):
        set_due(make_ticket(actor), due, **extra)
    counts = client.get("/tickets/counts").text
    counted = int(re.search(r"Due in 3 days</a> <span class=\"count\">(\d+)</span>", counts)[1])
    listed = rows(client.get("/tickets?due_within=3").text)
    assert counted == len(listed) == 2
    assert sorted(listed) == sorted(t.reference for t in inside)
    # The same window read by the queue's own functions.
    zone_now = queue.due_soon_window(now, SHANGHAI, 3)
    assert zone_now[1] == boundary


def test_more_filters_fold_into_a_disclosure_that_stays_open_when_used(client, login_as, handler):
    login_as(user=handler)
    plain = client.get("/tickets").text
    details = re.search(r"<details class=\"more-filters\" id=\"more-filters\"[^>]*>", plain)[0]
    assert "open" not in details
    # The first row: search, status, assignee, kind; the rest inside the disclosure.
    head, folded = plain.split('id="more-filters"', 1)
    for name in ("q", "status", "assignee", "kind"):
        assert f'name="{name}"' in head
    for name in ("team", "severity", "channel", "cause", "due_within", "received_from"):
        assert f'name="{name}"' in folded and f'name="{name}"' not in head
    for query in ("severity=high", "more=1", "breached=1&status=all"):
        page = client.get(f"/tickets?{query}").text
        assert re.search(r'id="more-filters"\s+open>', page), query
    assert (
        'More filters <span class="count">(1 set)</span>'
        in client.get("/tickets?severity=high").text
    )


def test_a_refused_bulk_assignment_is_shown_beside_the_assign_button(client, login_as, handler):
    login_as("lead")
    ticket = make_ticket(actor_for(handler))
    htmx = client.submit("/tickets/assign", {"assignee_id": str(handler.id)}, htmx=True)
    assert htmx.status_code == 400 and htmx.headers["HX-Retarget"] == "#assign-error"
    assert "Select at least one ticket." in htmx.text and "Bad request" not in htmx.text
    plain = client.submit(
        "/tickets/assign", {"back": "severity=high", "ticket_ids": [str(ticket.id)]}
    )
    assert plain.status_code == 400
    slot = plain.text[plain.text.index('id="assign-error"') :]
    assert slot.index("Choose an assignee or a team.") < slot.index("</fieldset>")
    assert '<option value="high" selected>' in plain.text  # the queue as it was filtered
    done = client.submit(
        "/tickets/assign",
        {"back": "severity=medium", "ticket_ids": [str(ticket.id)], "assignee_id": str(handler.id)},
    )
    assert done.status_code == 303 and done.headers["Location"].endswith("?severity=medium")


# ---------------------------------------------------------------- the ticket page


def test_a_refusal_is_shown_beside_the_action_with_what_was_typed(client, login_as, handler):
    login_as(user=handler)
    ticket = make_ticket(actor_for(handler), make_customer(locale="en"))
    withdrawn = client.submit(
        f"/tickets/{ticket.id}/status", {"to": "withdrawn", "version": str(ticket.version)}
    )
    assert withdrawn.status_code == 400 and "Bad request" not in withdrawn.text
    form = withdrawn.text[withdrawn.text.index('id="problem-status-withdrawn"') - 300 :]
    assert "This field is required." in form[: form.index("</form>")]
    assert re.search(
        r'<details class="action-details danger"\s+open>\s*<summary[^>]*>Withdraw', form
    )
    assert 'tabindex="-1" autofocus' in form  # focus moves to it; role=alert announces it
    note = client.submit(f"/tickets/{ticket.id}/notes", {"body": "   "})
    assert note.status_code == 400 and 'id="problem-note"' in note.text
    greeting = "Dear Mei,\n\nWe have asked the branch for the recording."
    reply = client.submit(f"/tickets/{ticket.id}/reply", {"body": greeting})
    assert reply.status_code == 400 and 'id="problem-reply"' in reply.text
    assert "Leave out the greeting" in reply.text and "We have asked the branch" in reply.text
    # htmx swaps the page's content in place, focus on the message.
    swapped = client.submit(f"/tickets/{ticket.id}/reply", {"body": greeting}, htmx=True)
    assert swapped.status_code == 400
    assert swapped.headers["HX-Retarget"] == swapped.headers["HX-Reselect"] == "#ticket-page"
    # A move the page does not offer (a new ticket cannot close): the message above the page.
    closing = client.submit(
        f"/tickets/{ticket.id}/status", {"to": "closed", "version": str(ticket.version)}
    )
    assert closing.status_code == 400 and 'id="problem-page"' in closing.text
    assert "cannot become Closed" in closing.text
    _db.session.expire_all()
    assert _db.session.get(Ticket, ticket.id).status == "new"


@pytest.mark.parametrize(
    ("locale", "said"),
    [
        ("en", "Lei Lead changed {ref} at {when} (Status changed: New → Acknowledged)"),
        ("zh_Hans", "在您操作期间，Lei Lead 于 {when} 修改了 {ref}（状态已变更: 新建 → 已确认）"),
    ],
)
def test_a_409_keeps_the_typed_text_and_says_who_changed_what_when(
    client, login_as, db, locale, said
):
    handler = make_user(role="handler", timezone="America/New_York", locale=locale)
    lead = make_user(role="lead", name="Lei Lead", email="lei.lead@bank.example.com")
    login_as(user=handler)
    ticket = make_ticket(actor_for(handler))
    stale = ticket.version
    services.change_status(actor_for(lead), ticket.id, stale, "acknowledged")
    typed = "Refunded the late fee of 35.00 on 2 December."
    response = client.submit(
        f"/tickets/{ticket.id}/status",
        {"to": "resolved", "version": str(stale), "resolution": typed, "remedies": ["review"]},
    )
    assert response.status_code == 409
    changed = events_of(ticket.id)[0]
    when = babel_datetime(
        changed.occurred_at, "medium", tzinfo=ZoneInfo("America/New_York"), locale=locale
    )
    assert said.format(ref=ticket.reference, when=when) in response.text
    assert lead.email not in response.text and "UTC" not in response.text
    form = response.text[response.text.index('id="problem-status-resolved"') :]
    form = form[: form.index("</form>")]
    assert f">{typed}</textarea>" in form and 'value="review" checked' in form
    # The page is as it now stands: the form carries the new version, so sending it again
    # applies the change the user has now seen.
    assert f'name="version" value="{stale + 1}"' in form


def test_a_stale_detail_edit_keeps_the_typed_values_and_saves_on_the_second_try(
    client, login_as, handler
):
    login_as(user=handler)
    ticket = make_ticket(actor_for(handler))
    stale = ticket.version
    lead = make_user(role="lead", name="Lei Lead")
    services.change_status(actor_for(lead), ticket.id, stale, "acknowledged")
    typed = {
        "subject": "Late fee charged twice after the payment",
        "channel_code": ticket.channel_code,
        "business_code": ticket.business_code,
        "cause_code": ticket.cause_code,
        "severity": "high",
        "redress_kind": "",
        "version": str(stale),
    }
    refused = client.submit(f"/tickets/{ticket.id}/edit", typed)
    assert refused.status_code == 409 and "Lei Lead changed" in refused.text
    assert f'value="{typed["subject"]}"' in refused.text
    assert f'name="version" type="hidden" value="{stale + 1}"' in refused.text
    again = client.submit(f"/tickets/{ticket.id}/edit", {**typed, "version": str(stale + 1)})
    assert again.status_code == 303
    _db.session.expire_all()
    assert _db.session.get(Ticket, ticket.id).subject == typed["subject"]


def test_a_status_change_meanwhile_does_not_block_a_note_or_a_reply(client, login_as, handler):
    login_as(user=handler)
    ticket = make_ticket(actor_for(handler), make_customer(locale="en"))
    stale = str(ticket.version)
    lead = make_user(role="lead", name="Lei Lead")
    services.change_status(actor_for(lead), ticket.id, ticket.version, "acknowledged")
    note = client.submit(f"/tickets/{ticket.id}/notes", {"body": "Called the branch."})
    reply = client.submit(
        f"/tickets/{ticket.id}/reply", {"body": "We are looking into it.", "version": stale}
    )
    assert (note.status_code, reply.status_code) == (303, 303)
    assert [e.action for e in events_of(ticket.id)[:2]] == ["reply", "note"]
    edit = client.submit(f"/tickets/{ticket.id}/status", {"to": "in_progress", "version": stale})
    assert edit.status_code == 409  # a status or detail edit still needs the version it read


def test_buttons_are_verbs_and_only_what_fits_is_offered(client, login_as, handler):
    login_as(user=handler)
    actor = actor_for(handler)
    ticket = make_ticket(actor, make_customer(locale="en"))
    new = client.get(f"/tickets/{ticket.id}").text
    for verb in ("Acknowledge", "Start work", "Withdraw", "Add note", "Send reply", "Assign"):
        assert f">{verb}</" in new, verb
    for absent in ("Resume the clock", "Close ticket", "Reopen", ">Confirm<", "resume notice"):
        assert absent not in new, absent
    assert ">Send the acknowledgement<" in new  # not given yet: the ticket had no email sent

    ticket = clock_changes.pause_clock(
        actor, ticket.id, ticket.version, "Appraisal", "Sent to the assessor.", "post"
    )
    paused = client.get(f"/tickets/{ticket.id}").text
    assert ">Resume the clock<" in paused and "appraisal pause notice" in paused
    assert "Send the appraisal resume notice" not in paused
    ticket = clock_changes.resume_clock(actor, ticket.id, ticket.version, "Report received")
    resumed = client.get(f"/tickets/{ticket.id}").text
    assert ">Send the appraisal resume notice<" in resumed
    assert "Send the appraisal pause notice" not in resumed

    ticket = services.change_status(actor, ticket.id, ticket.version, "in_progress")
    ticket = services.change_status(
        actor, ticket.id, ticket.version, "resolved", resolution="Refunded."
    )
    resolved = client.get(f"/tickets/{ticket.id}").text
    assert "Close ticket</summary>" not in resolved  # the decision notice first
    assert "Close ticket is offered once the decision notice was sent or recorded." in resolved
    notices.record_notice(actor, ticket.id, ticket.version, "decision", "post", "Letter L-1.")
    ticket = _db.session.get(Ticket, ticket.id)
    ready = client.get(f"/tickets/{ticket.id}").text
    assert "Close ticket</summary>" in ready and "Reopen</summary>" in ready
    assert "Closing ends the work on this ticket." in ready  # the second step says what it does
    ticket = services.change_status(actor, ticket.id, ticket.version, "closed")
    closed = client.get(f"/tickets/{ticket.id}").text
    assert "Reopen</summary>" in closed and "No notices go out on a closed ticket." in closed
    for absent in ("Send the ", "Record a notice given another way", "Send reply", "Acknowledge"):
        assert absent not in closed, absent


def test_notices_that_do_not_fit_are_refused_by_the_use_case(db, handler):
    actor = actor_for(handler)
    ticket = make_ticket(actor, make_customer(locale="en"))
    with pytest.raises(ValidationFailed, match="never paused"):
        notices.send_notice(actor, ticket.id, ticket.version, "resume")
    _db.session.rollback()
    with pytest.raises(ValidationFailed, match="not extended"):
        notices.record_notice(actor, ticket.id, ticket.version, "extension", "post", "Told.")
    _db.session.rollback()
    ticket = services.change_status(
        actor, ticket.id, ticket.version, "withdrawn", reason="Taken back"
    )
    with pytest.raises(ValidationFailed, match="No notices go out on a closed ticket"):
        notices.record_notice(actor, ticket.id, ticket.version, "decision", "post", "Told.")


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", ("Status changed", "Clock extended", "Due")),
        ("zh_Hans", ("状态已变更", "时限已延期", "到期日")),
    ],
)
def test_history_shows_names_and_local_times_never_emails_or_iso(
    client, login_as, db, locale, words
):
    viewer = make_user(role="handler", timezone="Asia/Shanghai", locale=locale)
    worker = make_user(role="handler", name="Zhang Wei", email="zhang.wei@bank.example.com")
    login_as(user=viewer)
    actor = actor_for(worker)
    ticket = make_ticket(actor, make_customer())
    ticket = services.change_status(actor, ticket.id, ticket.version, "acknowledged")
    clock_changes.extend_clock(
        actor, ticket.id, ticket.version, "Needs the recordings", "We need 15 more days.", "post"
    )
    services.add_note(actor, ticket.id, "Asked the branch.")
    page = client.get(f"/tickets/{ticket.id}").text
    history = page[page.index('id="history-heading"') :]
    assert "Zhang Wei" in history and worker.email not in page
    for word in words:
        assert word in history, word
    shown = events_of(ticket.id)[-1].occurred_at
    assert babel_datetime(shown, "medium", tzinfo=SHANGHAI, locale=locale) in history
    # ISO text only in machine-readable attributes, never between tags.
    assert not re.search(r">[^<]*\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", page)
    notes = page[page.index('id="notes-heading"') : page.index('id="history-heading"')]
    assert "Zhang Wei" in notes and "Asked the branch." in notes


# ---------------------------------------------------------------- the reply email


@pytest.mark.parametrize(
    ("locale", "greeting", "other"),
    [("en", "Dear Mei,", "您好"), ("zh_Hans", "梅，您好：", "Dear")],
)
def test_a_reply_greets_the_customer_once_in_their_language(db, handler, locale, greeting, other):
    customer = make_customer(name="Mei Chen" if locale == "en" else "王梅", locale=locale)
    ticket = make_ticket(actor_for(handler), customer)
    notices.reply(actor_for(handler), ticket.id, "We have refunded the late fee.")
    email = content_of(outbox(ticket)[-1])
    assert email.body_text.startswith(greeting)
    assert email.body_text.count(greeting) == 1 and other not in email.body_text
    assert "We have refunded the late fee." in email.body_text


def test_the_print_view_names_who_acted_not_their_email(client, login_as) -> None:
    handler = make_user(role="handler", name="Hana Handler", email="hana@bank.example.com")
    ticket = make_ticket(actor_for(handler))
    services.add_note(actor_for(handler), ticket.id, "Called the customer back.")
    login_as("lead")
    page = client.get(f"/tickets/{ticket.id}/print").text
    assert "Called the customer back." in page
    assert "Hana Handler" in page and "hana@bank.example.com" not in page


def test_a_ticket_nobody_on_the_staff_registered_names_its_channel(client, login_as) -> None:
    ticket = make_ticket(source="web")
    _db.session.execute(
        Ticket.__table__.update().where(Ticket.id == ticket.id).values(registered_by_id=None)
    )
    _db.session.commit()
    login_as("handler", locale="en")
    page = client.get(f"/tickets/{ticket.id}").text
    details = page[page.index("Registered by") :][:200]
    assert "Public form" in details and ">web<" not in details
