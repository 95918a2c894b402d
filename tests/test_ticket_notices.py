"""Notices to the complainant: the acknowledgement, clock notices, the closing notice that a
complaint cannot close without, replies in the thread, and the ticket page's correspondence."""

from functools import partial

import pytest
from sqlalchemy import select

from portal.accounts.services import actor_for
from portal.core.errors import Conflict, NotFound, ValidationFailed
from portal.core.extensions import db as _db
from portal.messaging.models import Message
from portal.tickets import clock_changes, merging, notice_rules, services
from portal.tickets.channels import intake, notices
from portal.tickets.events import events_of
from portal.tickets.models import Prospect, Ticket, TicketMailId, TicketNotice
from tests.factories import make_actor, make_customer, make_ticket


@pytest.fixture
def handler(db):
    return make_actor("handler", name="Hana Handler")


# Registered by staff, who acknowledge the complaint by email at once.
register = partial(make_ticket, acknowledge=True)


def fresh(ticket_id):
    _db.session.expire_all()
    return _db.session.get(Ticket, ticket_id)


def outbox(ticket):
    return list(
        _db.session.scalars(
            select(Message).where(Message.source_id == str(ticket.id)).order_by(Message.id)
        )
    )


def resolve(actor, ticket):
    return services.change_status(
        actor, ticket.id, ticket.version, "resolved", resolution="The late fee is refunded."
    )


def to_progress(actor, ticket):
    return services.change_status(actor, ticket.id, ticket.version, "in_progress")


def test_a_registered_complaint_is_acknowledged_once_by_email(db, handler):
    customer = make_customer(email="mei@mail.example.com", locale="zh_Hans")
    ticket = register(handler, customer)
    (message,) = outbox(ticket)
    assert message.to_address == "mei@mail.example.com"
    assert message.transactional and message.purpose == "service"
    assert message.dedupe_key.startswith(f"ticket:{ticket.id}:acknowledgement:")
    assert message.headers["Auto-Submitted"] == "auto-replied"
    assert message.headers[notices.LOOP_HEADER]
    recorded = _db.session.get(TicketMailId, message.message_id.strip("<>"))
    assert recorded is not None and recorded.ticket_id == ticket.id and recorded.outbound
    (notice,) = _db.session.scalars(select(TicketNotice).where(TicketNotice.ticket_id == ticket.id))
    assert (notice.kind, notice.sent_via, notice.outbox_id) == (
        "acknowledgement",
        "email",
        message.id,
    )
    with pytest.raises(ValidationFailed, match="already"):
        notices.send(handler, ticket, "acknowledgement")
    _db.session.rollback()
    assert len(outbox(ticket)) == 1


def test_no_email_no_acknowledgement_and_sending_one_is_refused(db, handler):
    customer = make_customer(email=None)
    ticket = register(handler, customer)
    assert outbox(ticket) == []
    with pytest.raises(ValidationFailed, match="no email address"):
        notices.send_notice(handler, ticket.id, ticket.version, "acknowledgement")


def make_prospect():
    prospect = Prospect(name="Li Lei", email="lilei@mail.example.com", locale="en")
    _db.session.add(prospect)
    _db.session.commit()
    return prospect


def from_prospect(actor, prospect, kind="complaint", subject="The app is slow"):
    """A ticket from someone who wrote in before they were known as a customer."""
    return make_ticket(
        actor,
        kind=kind,
        subject=subject,
        channel_code="A0304",
        business_code="B99",
        cause_code="C99",
        prospect_id=prospect.id,
    )


def test_a_prospect_is_acknowledged_at_the_address_they_gave(db, handler):
    ticket = from_prospect(handler, make_prospect(), kind="feedback")
    notices.acknowledge(handler, ticket)
    (message,) = outbox(ticket)
    assert message.customer_id is None
    assert message.to_address == "lilei@mail.example.com"
    assert notice_rules.notices_for(ticket) == ("acknowledgement",)


def test_a_complaint_cannot_close_before_its_decision_notice(db, handler):
    customer = make_customer()
    ticket = to_progress(handler, register(handler, customer))
    with pytest.raises(ValidationFailed, match="Resolve the ticket first"):
        notices.send_notice(handler, ticket.id, ticket.version, "decision")
    ticket = resolve(handler, ticket)
    with pytest.raises(ValidationFailed, match="decision"):
        services.change_status(handler, ticket.id, ticket.version, "closed")
    assert fresh(ticket.id).status == "resolved"
    notices.send_notice(handler, ticket.id, ticket.version, "decision", "Refunded on 1 Dec.")
    ticket = fresh(ticket.id)
    assert ticket.remedies_told == ["review", "mediation", "arbitration", "litigation"]
    closed = services.change_status(handler, ticket.id, ticket.version, "closed")
    assert closed.status == "closed"
    decision = outbox(ticket)[-1]
    assert decision.dedupe_key.startswith(f"ticket:{ticket.id}:decision:")


def test_a_notice_given_by_letter_lets_the_complaint_close(db, handler):
    customer = make_customer(email=None)
    ticket = resolve(handler, to_progress(handler, register(handler, customer)))
    with pytest.raises(ValidationFailed, match="Say what"):
        notices.record_notice(handler, ticket.id, ticket.version, "decision", "post", " ")
    with pytest.raises(ValidationFailed, match="how the notice"):
        notices.record_notice(handler, ticket.id, ticket.version, "decision", "email", "x")
    notices.record_notice(
        handler, ticket.id, ticket.version, "decision", "post", "Letter of 1 Dec, ref L-77."
    )
    ticket = fresh(ticket.id)
    assert services.change_status(handler, ticket.id, ticket.version, "closed").status == "closed"
    events = [e.action for e in events_of(ticket.id)]
    assert "notice" in events


def test_a_notice_the_policy_held_back_does_not_count(db, handler):
    customer = make_customer(consent_service=False)
    ticket = resolve(handler, to_progress(handler, register(handler, customer)))
    notices.send_notice(handler, ticket.id, ticket.version, "decision")
    (row,) = [r for r in notice_rules.notices_of(ticket.id) if r.notice.kind == "decision"]
    assert row.status == "suppressed" and not notice_rules.given(row)
    ticket = fresh(ticket.id)
    with pytest.raises(ValidationFailed):
        services.change_status(handler, ticket.id, ticket.version, "closed")


def test_uk_summary_resolution_closes_a_complaint(db, handler, profile):
    profile("UK")
    ticket = resolve(handler, to_progress(handler, register(handler, make_customer())))
    assert notice_rules.missing_at_close(ticket) == ("decision", "summary_resolution")
    notices.send_notice(handler, ticket.id, ticket.version, "summary_resolution")
    ticket = fresh(ticket.id)
    assert notice_rules.missing_at_close(ticket) == ()
    assert outbox(ticket)[-1].template_key == "ticket_summary_resolution_uk"


def test_feedback_closes_without_a_notice(db, handler):
    ticket = resolve(
        handler, to_progress(handler, register(handler, make_customer(), kind="feedback"))
    )
    assert services.change_status(handler, ticket.id, ticket.version, "closed").status == "closed"


def test_cn_extension_is_emailed_with_the_reason_and_new_deadline(db, handler):
    ticket = register(handler, make_customer())
    clock_changes.extend_clock(
        handler, ticket.id, ticket.version, "Needs the call recording", "We need 15 more days."
    )
    message = outbox(ticket)[-1]
    assert message.template_key == "ticket_extension_cn"
    assert message.context["message"] == "We need 15 more days."
    ticket = fresh(ticket.id)
    deadline = notices.notice_context(ticket, "zh_Hans")["deadline"]
    assert message.context["deadline"] == deadline and deadline.endswith("24时前")


def test_cn_extension_told_by_phone_is_recorded_not_emailed(db, handler):
    ticket = register(handler, make_customer(email=None))
    with pytest.raises(ValidationFailed, match="no email address"):
        clock_changes.extend_clock(
            handler, ticket.id, ticket.version, "Complex", "Told by phone.", told_via="email"
        )
    _db.session.rollback()  # as at the end of the refused request
    assert fresh(ticket.id).extensions == 0  # nothing saved
    clock_changes.extend_clock(
        handler, ticket.id, ticket.version, "Complex", "Told by phone.", told_via="phone"
    )
    (row,) = notice_rules.notices_of(ticket.id)
    assert (row.notice.kind, row.notice.sent_via, row.notice.note) == (
        "extension",
        "phone",
        "Told by phone.",
    )


def test_pause_and_resume_notices(db, handler):
    ticket = register(handler, make_customer())
    clock_changes.pause_clock(
        handler, ticket.id, ticket.version, "Appraisal", "Sent to the assessor."
    )
    ticket = fresh(ticket.id)
    clock_changes.resume_clock(handler, ticket.id, ticket.version, "Report received")
    kinds = [m.template_key for m in outbox(ticket)]
    assert kinds == ["ticket_acknowledgement_cn", "ticket_pause_cn", "ticket_resume_cn"]


def test_a_reply_goes_to_the_complainant_and_a_blank_one_is_refused(db, handler):
    ticket = register(handler, make_customer())
    with pytest.raises(ValidationFailed, match="Write the reply"):
        notices.reply(handler, ticket.id, "   ")
    notices.reply(handler, ticket.id, "Could you send the receipt?")
    message = outbox(ticket)[-1]
    assert message.template_key == "ticket_reply"
    assert message.context["message"] == "Could you send the receipt?"
    assert "Auto-Submitted" not in message.headers
    assert events_of(ticket.id)[0].action == "reply"


def test_a_change_meanwhile_stops_a_stale_notice_but_not_a_reply(db, handler):
    """A notice goes out under the version its form was read at; a reply does not wait for
    it: someone's status change meanwhile does not touch what the reply says."""
    ticket = register(handler, make_customer())
    stale = ticket.version
    to_progress(make_actor("lead", name="Lei Lead"), fresh(ticket.id))
    before = len(outbox(ticket))
    with pytest.raises(Conflict, match=r"Lei Lead changed .*Status changed: New → In progress"):
        notices.record_notice(handler, ticket.id, stale, "extension", "post", "Told by letter")
    _db.session.rollback()
    assert len(outbox(ticket)) == before
    notices.reply(handler, ticket.id, "We have asked the branch for the recording.")
    assert len(outbox(ticket)) == before + 1
    assert outbox(ticket)[-1].context["message"].startswith("We have asked the branch")


# ---------------------------------------------------------------- the ticket page


def test_ticket_page_sends_records_and_replies(client, login_as, db):
    user = login_as("handler")
    actor = actor_for(user)
    ticket = resolve(actor, to_progress(actor, register(actor, make_customer())))
    page = client.get(f"/tickets/{ticket.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Correspondence" in html and "decision notice" in html.lower()
    response = client.submit(
        f"/tickets/{ticket.id}/notices",
        {"kind": "decision", "message": "<script>alert(1)</script>", "version": ticket.version},
    )
    assert response.status_code == 303
    ticket = fresh(ticket.id)
    html = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    response = client.submit(
        f"/tickets/{ticket.id}/reply", {"body": "Refund sent.", "version": ticket.version}
    )
    assert response.status_code == 303
    ticket = fresh(ticket.id)
    response = client.submit(
        f"/tickets/{ticket.id}/notices/record",
        {"kind": "nonsense", "via": "post", "note": "x", "version": ticket.version},
    )
    assert response.status_code == 400
    response = client.submit(
        f"/tickets/{ticket.id}/status", {"to": "closed", "version": ticket.version}
    )
    assert response.status_code == 303
    assert fresh(ticket.id).status == "closed"


def test_closing_without_the_notice_is_refused_on_the_page(client, login_as, db):
    user = login_as("handler")
    actor = actor_for(user)
    ticket = resolve(actor, to_progress(actor, register(actor, make_customer())))
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "Before this complaint can close" in page
    response = client.submit(
        f"/tickets/{ticket.id}/status", {"to": "closed", "version": ticket.version}
    )
    assert response.status_code == 400
    assert "record how it was given another way" in response.get_data(as_text=True)
    assert fresh(ticket.id).status == "resolved"


def test_an_rm_cannot_send_notices(client, login_as, db):
    login_as("rm")
    handler = make_actor("handler")
    ticket = register(handler, make_customer())
    response = client.submit(
        f"/tickets/{ticket.id}/reply", {"body": "Hi", "version": ticket.version}
    )
    assert response.status_code == 403


# ---------------------------------------------------------------- reply templates, prospects


def test_reply_templates_are_checked_on_save_and_filled_for_the_ticket(client, login_as, db):
    login_as("admin")
    bad = client.submit(
        "/admin/reply-templates",
        {"name": "Receipt", "locale": "en", "cause_code": "", "body": "Dear {{ customer_name"},
    )
    assert bad.status_code == 400 and "Line 1" in bad.get_data(as_text=True)
    unknown = client.submit(
        "/admin/reply-templates",
        {"name": "Receipt", "locale": "en", "cause_code": "", "body": "{{ password }}"},
    )
    assert unknown.status_code == 400 and "customer_name" in unknown.get_data(as_text=True)
    # The reply's email greets the customer itself: a template that greets too is refused.
    for greeting in ("Dear {{ customer_name }},\n\nAbout it.", "{{ customer_name }}，您好：\n关于"):
        greets = client.submit(
            "/admin/reply-templates",
            {"name": "Receipt", "locale": "en", "cause_code": "", "body": greeting},
        )
        assert greets.status_code == 400 and "Leave out the greeting" in greets.text
    good = client.submit(
        "/admin/reply-templates",
        {
            "name": "Receipt",
            "locale": "en",
            "cause_code": "C07",
            "body": "About {{ reference }}, {{ customer_name }}: answer by {{ deadline }}.",
            "active": "y",
        },
    )
    assert good.status_code == 303
    duplicate = client.submit(
        "/admin/reply-templates",
        {"name": "Receipt", "locale": "en", "cause_code": "", "body": "Hello"},
    )
    assert duplicate.status_code == 400
    handler = make_actor("handler")
    customer = make_customer(name="Wang Mei", locale="en")
    ticket = register(handler, customer)
    other_cause = register(handler, customer, cause_code="C01")
    in_chinese = register(handler, make_customer(locale="zh_Hans"))
    from portal.tickets.channels import replies

    (template,) = replies.for_ticket(ticket)
    assert replies.for_ticket(other_cause) == []
    assert replies.for_ticket(in_chinese) == []  # only templates in the complainant's language
    with pytest.raises(ValidationFailed, match="not in the complainant's language"):
        replies.fill(in_chinese, template.id)
    box = client.get(
        f"/tickets/{ticket.id}/reply-text",
        query_string={"template": template.id, "body": "Hello."},
        headers={"HX-Request": "true"},
    )
    assert box.status_code == 200
    text = box.get_data(as_text=True)
    deadline = notices.notice_context(ticket, "en")["deadline"]
    assert deadline.endswith(", end of day")
    assert f"Hello.\n\nAbout {ticket.reference}, Wang Mei: answer by {deadline}." in text
    assert client.get(f"/tickets/{ticket.id}/reply-text?template=99999").status_code == 404


def test_a_handler_links_a_prospect_to_a_customer(client, login_as, db):
    user = login_as("handler")
    prospect = make_prospect()
    tickets = [from_prospect(actor_for(user), prospect, subject=f"Complaint {n}") for n in range(2)]
    customer = make_customer(number="C-LINK-1")
    first = tickets[0]
    missing = client.submit(
        f"/tickets/{first.id}/link", {"customer_number": "nobody", "version": first.version}
    )
    assert missing.status_code == 404
    response = client.submit(
        f"/tickets/{first.id}/link", {"customer_number": "C-LINK-1", "version": first.version}
    )
    assert response.status_code == 303
    for ticket in tickets:
        assert fresh(ticket.id).customer_id == customer.id
    assert _db.session.get(Prospect, prospect.id).customer_id == customer.id
    again = client.submit(
        f"/tickets/{first.id}/link",
        {"customer_number": "C-LINK-1", "version": fresh(first.id).version},
    )
    assert again.status_code == 400


def test_a_prospect_is_linked_by_customer_number_in_the_use_case(db, handler):
    ticket = from_prospect(handler, make_prospect())
    with pytest.raises(NotFound, match="No customer has the number NOBODY-1"):
        intake.link_prospect(handler, ticket.id, ticket.version, " NOBODY-1 ")
    customer = make_customer(number="C-LINK-2")
    linked = intake.link_prospect(handler, ticket.id, ticket.version, "C-LINK-2")
    assert linked.customer_id == customer.id


def test_the_acknowledgement_goes_at_once_at_night_a_reply_waits_for_morning(db, handler):
    from datetime import UTC, datetime
    from unittest.mock import patch

    night = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    with patch("portal.tickets.services.utc_now", return_value=night):
        ticket = register(handler, make_customer(timezone="Asia/Shanghai"))
    (ack,) = outbox(ticket)
    assert (ack.status, ack.held_reason) == ("queued", None)
    with patch("portal.tickets.channels.notices.utc_now", return_value=night):
        notices.reply(handler, ticket.id, "We are looking into it.")
    reply = outbox(ticket)[-1]
    assert (reply.status, reply.held_reason) == ("deferred", "quiet hours")


def test_a_decision_given_before_a_reopen_does_not_close_the_new_outcome(db, handler):
    ticket = resolve(handler, to_progress(handler, register(handler, make_customer())))
    notices.send_notice(handler, ticket.id, ticket.version, "decision")
    ticket = services.change_status(
        handler, ticket.id, fresh(ticket.id).version, "in_progress", reason="Refund not received"
    )
    with pytest.raises(ValidationFailed, match="Resolve the ticket first"):
        notices.send_notice(handler, ticket.id, ticket.version, "decision")
    ticket = services.change_status(
        handler, ticket.id, fresh(ticket.id).version, "resolved", resolution="Rejected on review."
    )
    assert notice_rules.missing_at_close(ticket) == ("decision",)
    with pytest.raises(ValidationFailed):
        services.change_status(handler, ticket.id, ticket.version, "closed")
    _db.session.rollback()
    notices.send_notice(handler, ticket.id, fresh(ticket.id).version, "decision")
    ticket = fresh(ticket.id)
    assert services.change_status(handler, ticket.id, ticket.version, "closed").status == "closed"


def test_uk_summary_resolution_only_within_three_business_days(db, handler, profile):
    from datetime import UTC, datetime, timedelta

    profile("UK")
    ticket = register(handler, make_customer(), received_at=datetime.now(UTC) - timedelta(weeks=7))
    ticket = resolve(handler, to_progress(handler, ticket))
    assert notice_rules.missing_at_close(ticket) == ("decision",)
    with pytest.raises(ValidationFailed, match="third business day"):
        notices.send_notice(handler, ticket.id, ticket.version, "summary_resolution")


def test_a_reply_cannot_go_through_the_notice_action(db, handler):
    ticket = register(handler, make_customer())
    with pytest.raises(ValidationFailed):
        notices.send_notice(handler, ticket.id, ticket.version, "reply")


def test_repeats_of_two_different_prospects_are_not_merged(db, handler):
    tickets = []
    for address in ("a@mail.example.com", "b@mail.example.com"):
        prospect = Prospect(name=address, email=address, locale="en")
        _db.session.add(prospect)
        _db.session.commit()
        tickets.append(
            make_ticket(
                handler,
                subject="Fee",
                channel_code="A0304",
                business_code="B99",
                cause_code="C99",
                prospect_id=prospect.id,
            )
        )
    with pytest.raises(ValidationFailed, match="same customer"):
        merging.merge(handler, tickets[0].id, tickets[1].reference, "repeat")


def test_a_reply_template_that_breaks_on_real_values_answers_400(client, login_as, db):
    from portal.tickets.channels import replies

    user = login_as("handler")
    replies.save(
        make_actor("admin"),
        None,
        replies.ReplyTemplateInput(
            "Formal", "en", None, "Mx {{ customer_name.split()[-1] }}, we have looked into it."
        ),
    )
    prospect = Prospect(name="", email="x@mail.example.com", locale="en")
    _db.session.add(prospect)
    _db.session.commit()
    ticket = make_ticket(
        actor_for(user),
        subject="x",
        channel_code="A0304",
        business_code="B99",
        cause_code="C99",
        prospect_id=prospect.id,
    )
    (template,) = replies.for_ticket(ticket)
    response = client.get(f"/tickets/{ticket.id}/reply-text?template={template.id}")
    assert response.status_code == 400 and "cannot be filled" in response.get_data(as_text=True)
    admin_page = client.get("/admin/reply-templates")  # a handler may not edit them
    assert admin_page.status_code == 403
