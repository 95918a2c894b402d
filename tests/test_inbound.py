"""Inbound email into tickets: new tickets, threaded replies, forged references, automatic
mail, the quarantine, exactly-once handling, the pipe command and the admin pages."""

from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import func, select

from portal.accounts.services import actor_for
from portal.core.errors import PermissionDenied
from portal.core.extensions import db as _db
from portal.core.timeutil import utc_now
from portal.messaging.models import Message
from portal.tickets import assignment
from portal.tickets.channels import inbound, intake, notices
from portal.tickets.events import events_of
from portal.tickets.models import (
    InboundMail,
    Notification,
    Prospect,
    Ticket,
    TicketEvent,
)
from tests.factories import make_actor, make_customer, make_user


def mail(
    sender="Li Lei <lilei@mail.example.com>",
    subject="My card was charged twice",
    body="I was charged twice for one purchase on 3 November.",
    **headers,
):
    message = EmailMessage()
    if sender is not None:
        message["From"] = sender
    message["To"] = "complaints@bank.example.com"
    message["Subject"] = subject
    message["Message-ID"] = headers.pop("message_id", make_msgid(domain="mail.example.com"))
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


def tickets():
    return list(_db.session.scalars(select(Ticket).order_by(Ticket.id)))


def emails_of(ticket):
    return list(
        _db.session.scalars(
            select(TicketEvent).where(
                TicketEvent.ticket_id == ticket.id, TicketEvent.action == "email"
            )
        )
    )


def outbox_count():
    return _db.session.scalar(select(func.count(Message.id)))


def test_a_new_email_opens_a_ticket_for_a_prospect_and_is_acknowledged(db):
    raw = mail()
    outcome = inbound.ingest(raw, "pipe")
    assert outcome.status == "opened" and not outcome.duplicate
    (ticket,) = tickets()
    assert ticket.source == "email" and ticket.kind == "complaint"
    assert ticket.subject == "My card was charged twice"
    assert "charged twice for one purchase" in ticket.description
    prospect = _db.session.get(Prospect, ticket.prospect_id)
    assert (prospect.name, prospect.email) == ("Li Lei", "lilei@mail.example.com")
    (ack,) = _db.session.scalars(select(Message))
    assert ack.to_address == "lilei@mail.example.com"
    assert ack.template_key == "ticket_acknowledgement_cn"
    row = _db.session.get(InboundMail, outcome.inbound_id)
    assert row.raw == raw and row.ticket_id == ticket.id


def test_the_same_message_twice_is_handled_once(db):
    raw = mail()
    first = inbound.ingest(raw, "imap")
    again = inbound.ingest(raw, "pipe")
    assert again.duplicate and again.inbound_id == first.inbound_id
    assert len(tickets()) == 1 and outbox_count() == 1


def test_a_customer_is_matched_by_email(db):
    customer = make_customer(email="wang@mail.example.com")
    inbound.ingest(mail(sender="Wang <WANG@mail.example.com>"), "pipe")
    (ticket,) = tickets()
    assert ticket.customer_id == customer.id and ticket.prospect_id is None


def test_a_reply_threads_onto_its_ticket_by_in_reply_to(db):
    customer = make_customer(email="wang@mail.example.com")
    handler = make_user(role="handler")
    inbound.ingest(mail(sender="wang@mail.example.com"), "pipe")
    (ticket,) = tickets()
    assignment.assign(actor_for(handler), [ticket.id], handler.id, None)
    ack = _db.session.scalars(select(Message)).one()
    answer = mail(
        sender="wang@mail.example.com",
        subject="Re: something else entirely",
        body="Here is the receipt.\n\nOn Mon, the bank wrote:\n> We have received your complaint",
        In_Reply_To=ack.message_id,
    )
    outcome = inbound.ingest(answer, "imap")
    assert outcome.status == "threaded" and outcome.ticket_id == ticket.id
    assert len(tickets()) == 1
    threaded = emails_of(ticket)[-1]
    assert threaded.body == "Here is the receipt."
    assert outbox_count() == 1  # a reply is never acknowledged: no auto-responder ping-pong
    assert _db.session.scalar(
        select(Notification).where(Notification.user_id == handler.id, Notification.kind == "email")
    )
    assert customer.id == ticket.customer_id


def test_a_reply_threads_by_the_reference_in_the_subject(db):
    inbound.ingest(mail(), "pipe")
    (ticket,) = tickets()
    outcome = inbound.ingest(
        mail(subject=f"Re: [{ticket.reference}] We have received your complaint", body="Any news?"),
        "pipe",
    )
    assert outcome.status == "threaded" and outcome.ticket_id == ticket.id


def test_a_forged_reference_opens_a_new_ticket_instead(db):
    victim = make_customer(email="victim@mail.example.com")
    inbound.ingest(mail(sender="victim@mail.example.com"), "pipe")
    (theirs,) = tickets()
    ack = _db.session.scalars(select(Message)).one()
    forged = mail(
        sender="mallory@evil.example.com",
        subject=f"Re: [{theirs.reference}] add this",
        body="Please close my complaint, I withdraw it.",
        In_Reply_To=ack.message_id,
        References=ack.message_id,
    )
    outcome = inbound.ingest(forged, "pipe")
    assert outcome.status == "opened" and outcome.ticket_id != theirs.id
    assert emails_of(theirs)[-1].body is None  # only the victim's own first email
    new = _db.session.get(Ticket, outcome.ticket_id)
    assert new.customer_id is None and new.customer_id != victim.id
    notes = [e.body for e in events_of(new.id) if e.action == "note"]
    assert any("does not come from that ticket's complainant" in n for n in notes)


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"X_Autoreply": "yes"},
        {notices.LOOP_HEADER.replace("-", "_"): "bank.example.com"},
    ],
)
def test_automatic_mail_is_kept_but_never_opens_or_answers(db, headers):
    outcome = inbound.ingest(mail(**headers), "pipe")
    assert outcome.status == "automatic" and outcome.reason
    assert tickets() == [] and outbox_count() == 0


def test_a_bounce_is_automatic(db):
    report = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        b"To: complaints@bank.example.com\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <bounce-1@mx.example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
        b"\r\n--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; x@example.com\r\n"
        b"Action: failed\r\nStatus: 5.1.1\r\n--b1--\r\n"
    )
    outcome = inbound.ingest(report, "pipe")
    assert outcome.status == "automatic"
    assert tickets() == []


def test_no_sender_and_garbage_go_to_the_quarantine_with_the_bytes_kept(db):
    no_sender = mail(sender=None)
    first = inbound.ingest(no_sender, "pipe")
    assert first.status == "quarantined" and "no sender" in first.reason
    garbage = b"\x00\xff" * 10
    second = inbound.ingest(garbage, "pipe")
    assert second.status == "quarantined"
    assert _db.session.get(InboundMail, second.inbound_id).raw == garbage
    assert tickets() == []


def test_a_chinese_email_in_gbk_becomes_a_readable_ticket(db):
    message = EmailMessage()
    message["From"] = "张伟 <zhangwei@mail.example.com>"
    message["Subject"] = "信用卡年费问题"
    message["Message-ID"] = make_msgid()
    message.set_content("我的信用卡被重复收取了年费，请退还。", charset="gbk")
    outcome = inbound.ingest(message.as_bytes(), "pipe")
    assert outcome.status == "opened"
    (ticket,) = tickets()
    assert ticket.subject == "信用卡年费问题"
    assert "重复收取了年费" in ticket.description
    assert _db.session.get(Prospect, ticket.prospect_id).locale == "zh_Hans"


def test_a_sender_over_the_daily_limit_is_quarantined_without_reply(db):
    for n in range(intake.TICKETS_PER_SENDER_PER_DAY):
        assert inbound.ingest(mail(subject=f"Complaint {n}"), "pipe").status == "opened"
    acks = outbox_count()
    outcome = inbound.ingest(mail(subject="One more"), "pipe")
    assert outcome.status == "quarantined" and "limit" in outcome.reason
    assert outbox_count() == acks
    assert len(tickets()) == intake.TICKETS_PER_SENDER_PER_DAY


def test_a_quarantined_message_can_be_processed_again_or_dismissed(db, monkeypatch):
    admin = make_actor("admin")
    monkeypatch.setattr(intake, "TICKETS_PER_SENDER_PER_DAY", 0)
    held = inbound.ingest(mail(), "pipe")
    assert held.status == "quarantined"
    monkeypatch.setattr(intake, "TICKETS_PER_SENDER_PER_DAY", 5)
    again = inbound.process_again(admin, held.inbound_id)
    assert again.status == "opened" and again.ticket_id is not None
    other = inbound.ingest(mail(sender=None), "pipe")
    inbound.dismiss(admin, other.inbound_id)
    assert _db.session.get(InboundMail, other.inbound_id).status == "dismissed"


def test_only_admins_handle_the_quarantine_whoever_calls(db, monkeypatch):
    handler = actor_for(make_user(role="handler"))
    held = inbound.ingest(mail(sender=None), "pipe")
    with pytest.raises(PermissionDenied, match="Only admins"):
        inbound.process_again(handler, held.inbound_id)
    with pytest.raises(PermissionDenied, match="Only admins"):
        inbound.dismiss(handler, held.inbound_id)
    assert _db.session.get(InboundMail, held.inbound_id).status == "quarantined"


def test_a_handler_reply_is_threaded_on_the_customers_email(db):
    first_id = make_msgid(domain="mail.example.com")
    inbound.ingest(mail(message_id=first_id), "pipe")
    (ticket,) = tickets()
    handler = make_actor("handler")
    notices.reply(handler, ticket.id, "Could you send the receipt?")
    reply = _db.session.scalars(select(Message).order_by(Message.id.desc())).first()
    assert reply.headers["In-Reply-To"] == first_id
    assert first_id in reply.headers["References"]
    answer = mail(In_Reply_To=reply.message_id, body="Attached.")
    assert inbound.ingest(answer, "imap").ticket_id == ticket.id


def test_pipe_command(runner, db):
    raw = mail()
    result = runner.invoke(args=["tickets", "ingest-email"], input=raw)
    assert result.exit_code == 0, result.output
    assert "opened CMP-" in result.output
    result = runner.invoke(args=["tickets", "ingest-email"], input=raw)
    assert result.exit_code == 0 and "seen before" in result.output
    result = runner.invoke(args=["tickets", "ingest-email"], input=b"")
    assert result.exit_code == 0 and "quarantined" in result.output


def test_admin_quarantine_pages(client, login_as, db):
    login_as("admin")
    held = inbound.ingest(mail(sender=None, subject="<b>no sender</b>"), "pipe")
    page = client.get("/admin/inbound")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "&lt;b&gt;no sender&lt;/b&gt;" in html
    assert client.get(f"/admin/inbound/{held.inbound_id}").status_code == 200
    raw = client.get(f"/admin/inbound/{held.inbound_id}.eml")
    assert raw.status_code == 200 and raw.mimetype == "message/rfc822"
    response = client.submit(f"/admin/inbound/{held.inbound_id}/process")
    assert response.status_code == 303
    assert _db.session.get(InboundMail, held.inbound_id).status == "quarantined"
    assert client.submit(f"/admin/inbound/{held.inbound_id}/dismiss").status_code == 303
    assert client.submit(f"/admin/inbound/{held.inbound_id}/dismiss").status_code == 400
    assert client.get("/admin/inbound?status=nonsense").status_code == 200
    assert client.get("/admin/inbound/999999").status_code == 404


def test_erasure_removes_the_customers_emails_and_notice_words(db):
    from portal.customers import privacy

    admin = make_actor("admin")
    customer = make_customer(email="wang@mail.example.com")
    outcome = inbound.ingest(mail(sender="Wang <wang@mail.example.com>"), "pipe")
    ticket = _db.session.get(Ticket, outcome.ticket_id)
    notices.reply(admin, ticket.id, "Call me on 13800000000")
    exported = privacy.export_customer(admin, customer.id)["tickets"][0]
    assert exported["emails_received"][0]["from"] == "wang@mail.example.com"
    assert exported["notices"][-1]["words"] == "Call me on 13800000000"
    privacy.erase_customer(admin, customer.id, "Customer's request", customer.number)
    row = _db.session.get(InboundMail, outcome.inbound_id)
    assert (row.raw, row.sender, row.subject) == (None, None, "[erased]")
    exported = privacy.export_customer(admin, customer.id)["tickets"][0]
    assert {n["words"] for n in exported["notices"] if n["words"]} == {"[erased]"}
    assert all(e.data is None for e in emails_of(ticket))


# ---------------------------------------------------------------- real servers, end to end


@pytest.fixture
def imap(app, dovecot, monkeypatch):
    dovecot.reset()
    for key, value in {
        "IMAP_HOST": dovecot.host,
        "IMAP_PORT": dovecot.imaps_port,
        "IMAP_SECURITY": "ssl",
        "IMAP_USER": dovecot.user,
        "IMAP_PASSWORD": dovecot.password,
        "IMAP_CA_FILE": dovecot.ca_file,
    }.items():
        monkeypatch.setitem(app.config, key, value)
    return dovecot


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def test_fetch_mail_job_handles_each_message_once(db, imap):
    from portal.tickets.jobs import fetch_mail

    first = crlf(mail(subject="Charged twice"))
    imap.append(first)
    imap.append(crlf(mail(sender="zhang@mail.example.com", subject="年费")))
    imap.append(crlf(mail(subject="Out of office", Auto_Submitted="auto-replied")))
    assert fetch_mail() == {"fetched": 3, "done": 3, "failed": 0}
    assert [t.subject for t in tickets()] == ["Charged twice", "年费"]
    assert len(imap.messages("Processed")) == 3 and imap.messages("INBOX") == []
    assert fetch_mail() == {"fetched": 0, "done": 0, "failed": 0}
    imap.append(first)  # the same message delivered twice to the mailbox
    assert fetch_mail() == {"fetched": 1, "done": 1, "failed": 0}
    assert len(tickets()) == 2


def test_without_imap_settings_the_job_skips(db, app, monkeypatch):
    from portal.tickets.jobs import fetch_mail

    monkeypatch.setitem(app.config, "IMAP_HOST", "")
    assert "skipped" in fetch_mail()


def test_a_reply_sent_by_smtp_comes_back_by_imap_onto_its_ticket(db, imap):
    """The handler's reply leaves through a real SMTP server; the customer's mail program
    answers it (In-Reply-To its Message-ID, "Re:" its subject); the answer arrives in the
    real IMAP mailbox and the fetch job puts it on the same ticket."""
    import email
    from datetime import timedelta
    from email import policy

    from portal.core.timeutil import utc_now
    from portal.messaging.delivery import deliver_due
    from portal.messaging.transports import SmtpTransport
    from portal.tickets.jobs import fetch_mail
    from tests.support.smtp_sink import SmtpSink

    customer = make_customer(email="wang@mail.example.com", name="Wang Mei", locale="en")
    imap.append(crlf(mail(sender="Wang Mei <wang@mail.example.com>", subject="Fee")))
    fetch_mail()
    (ticket,) = tickets()
    assert ticket.customer_id == customer.id
    handler = make_actor("handler")
    notices.reply(handler, ticket.id, "Could you send the statement page?")
    sink = SmtpSink().start()
    try:
        deliver_due(
            utc_now() + timedelta(days=1),
            transport=SmtpTransport(sink.host, sink.port, timeout=5),
        )
    finally:
        sink.stop()
    sent = [
        email.message_from_bytes(r.content, policy=policy.default) for r in sink.handler.received
    ]
    ack, reply = sent  # both in the thread of the customer's email
    assert ack["Auto-Submitted"] == "auto-replied" and "Auto-Submitted" not in reply
    assert ack["In-Reply-To"] == reply["In-Reply-To"]
    assert f"[{ticket.reference}]" in reply["Subject"]
    assert "Could you send the statement page?" in reply.get_body(("plain",)).get_content()
    answer = EmailMessage()
    answer["From"] = "Wang Mei <wang@mail.example.com>"
    answer["To"] = str(reply["From"])
    answer["Subject"] = f"Re: {reply['Subject']}"
    answer["Message-ID"] = make_msgid(domain="mail.example.com")
    answer["In-Reply-To"] = reply["Message-ID"]
    answer["References"] = f"{reply['References']} {reply['Message-ID']}"
    answer.set_content(
        "Attached is the page.\n\nOn 1 Dec, the bank wrote:\n> Could you send the statement page?"
    )
    imap.append(crlf(answer.as_bytes()))
    assert fetch_mail()["done"] == 1
    assert len(tickets()) == 1
    assert emails_of(ticket)[-1].body == "Attached is the page."


def test_a_20_mb_message_opens_a_ticket_and_is_kept_whole(db):
    message = EmailMessage()
    message["From"] = "Li Lei <lilei@mail.example.com>"
    message["Subject"] = "Statements attached"
    message["Message-ID"] = make_msgid(domain="mail.example.com")
    message.set_content("The statements are attached.")
    message.add_attachment(
        bytes(range(256)) * (15 * 4096), maintype="application", subtype="pdf", filename="s.pdf"
    )
    raw = message.as_bytes()  # base64: 20 MB on the wire
    assert len(raw) > 20 * 1024 * 1024
    outcome = inbound.ingest(raw, "imap")
    assert outcome.status == "opened"
    (ticket,) = tickets()
    (event,) = emails_of(ticket)
    assert event.data["attachments"] == [{"name": "s.pdf", "size": 15 * 1024 * 1024}]
    _db.session.expire_all()
    assert _db.session.get(InboundMail, outcome.inbound_id).raw == raw


def test_pipe_command_asks_the_mail_server_to_retry_when_the_database_fails(
    runner, db, monkeypatch
):
    from sqlalchemy.exc import OperationalError

    from portal.tickets import cli

    def down(raw, channel):
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(cli, "ingest", down)
    result = runner.invoke(args=["tickets", "ingest-email"], input=mail())
    assert result.exit_code == 75
    assert "try again later" in result.output


def test_an_email_to_the_unsubscribe_address_unsubscribes(db):
    from portal.customers.models import Customer
    from portal.messaging.services import unsubscribe_token

    customer = make_customer(consent_care=True)
    token = unsubscribe_token(customer.id, "care")
    outcome = inbound.ingest(mail(sender=customer.email, subject=f"Re: {token}"), "pipe")
    assert outcome.status == "unsubscribe"
    _db.session.expire_all()
    assert _db.session.get(Customer, customer.id).consent_care is False
    assert tickets() == []
    tampered = inbound.ingest(mail(subject=token[:-3] + "abc"), "pipe")
    assert tampered.status == "opened"  # not a token: an ordinary message


def test_another_message_under_a_seen_message_id_is_kept_apart(db):
    reused = make_msgid(domain="mail.example.com")
    first = inbound.ingest(mail(message_id=reused), "pipe")
    other = mail(sender="someone.else@mail.example.com", subject="Other", message_id=reused)
    second = inbound.ingest(other, "pipe")
    assert not second.duplicate and second.inbound_id != first.inbound_id
    assert second.status == "quarantined" and "already used" in second.reason
    assert _db.session.get(InboundMail, second.inbound_id).raw == other
    assert inbound.ingest(other, "imap").duplicate  # and that one, again, is a duplicate
    assert inbound.ingest(mail(message_id=reused), "imap").duplicate  # the first, by IMAP
    assert len(tickets()) == 1


def test_a_retired_email_channel_code_falls_back_to_other(db):
    from portal.tickets.models import TaxonomyNode

    _db.session.get(TaxonomyNode, "A03").active = False
    _db.session.commit()
    outcome = inbound.ingest(mail(), "pipe")
    assert outcome.status == "opened"
    assert _db.session.get(Ticket, outcome.ticket_id).channel_code == "A99"


def test_a_message_still_being_handled_is_not_processed_again(db):
    admin = make_actor("admin")
    row = InboundMail(
        dedupe_key="mid:in-flight@x",
        received_at=utc_now(),
        channel="pipe",
        status="quarantined",
        reason=inbound.HANDLING,
        size=3,
        raw=mail(),
    )
    _db.session.add(row)
    _db.session.commit()
    with pytest.raises(Exception, match="may still be being handled"):
        inbound.process_again(admin, row.id)


def test_erasure_reaches_what_was_sent_to_the_prospect_before_linking(db):
    from portal.customers import privacy

    admin = make_actor("admin")
    outcome = inbound.ingest(mail(sender="lilei@mail.example.com"), "pipe")
    held = inbound.ingest(mail(sender=None, subject="x"), "pipe")
    loose = inbound.ingest(
        mail(sender="lilei@mail.example.com", Auto_Submitted="auto-replied"), "pipe"
    )
    ticket = _db.session.get(Ticket, outcome.ticket_id)
    notices.reply(admin, ticket.id, "Account 6222-1234 was refunded")
    customer = make_customer(email="lilei@mail.example.com", number="C-ERASE-1")
    from portal.tickets.channels import intake as intake_service

    intake_service.link_prospect(admin, ticket.id, None, customer.number)
    privacy.erase_customer(admin, customer.id, "Customer's request", customer.number)
    _db.session.expire_all()
    for message in _db.session.scalars(select(Message).where(Message.source_id == str(ticket.id))):
        assert message.to_address is None and message.context is None
    assert _db.session.get(InboundMail, loose.inbound_id).raw is None
    assert _db.session.get(InboundMail, held.inbound_id).raw is not None  # someone else's
