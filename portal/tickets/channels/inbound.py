"""Inbound email: each received message opens a ticket, is threaded onto its ticket, is kept
as automatic mail, or waits in the quarantine for an admin — and is never lost or handled twice.

A message is keyed by its Message-ID (else a hash of its bytes) in `inbound_mails`, inserted
before anything else is done: the same message piped twice, or fetched by two runs of the IMAP
job, finds its key taken and changes nothing. Its raw bytes are kept as received.

Threading: a reply finds its ticket by `In-Reply-To`/`References` (the Message-IDs of the
ticket's emails, sent and received) or by the reference in the subject — and only when it comes
from the ticket's complainant. A message naming another customer's ticket opens a new ticket
instead, so a forged reference never adds words to someone else's complaint.

An email to the `mailto:` of a `List-Unsubscribe` header carries the signed unsubscribe token
as its subject and is carried out like a click on the link.

Automatic mail (auto-replies, bounces, mailing lists, our own messages coming back) never
opens a ticket and is never answered; only a new ticket is acknowledged, never a threaded
reply, so two auto-responders cannot keep each other going; and a sender's tickets per day are
capped (`intake.check_rate`) for auto-responders that ignore RFC 3834.
"""

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.core.audit import Actor
from portal.core.errors import ServiceError, ValidationFailed
from portal.core.extensions import db
from portal.core.timeutil import as_utc, utc_now
from portal.core.transaction import use_case
from portal.messaging.services import read_unsubscribe_token, unsubscribe
from portal.tickets.channels import intake, mailparse, notices
from portal.tickets.channels.quarantine import require_admin
from portal.tickets.events import add_event
from portal.tickets.models import (
    Axis,
    InboundMail,
    InboundStatus,
    Kind,
    Ticket,
    TicketMailId,
)
from portal.tickets.notice_rules import complainant
from portal.tickets.notifications import notify
from portal.tickets.services import TicketInput, create_ticket
from portal.tickets.taxonomy import active_or_other

log = logging.getLogger("portal.tickets.inbound")

INBOUND_ACTOR = "inbound email"
UNSUBSCRIBE_MAIL = Actor.system("unsubscribe by email")
REFERENCE_IN_SUBJECT = re.compile(r"\b(?:CMP|FBK|INQ|CPL)-\d{4}-\d{6}\b")
# Where an emailed complaint lands in the JR/T 0169 taxonomy until a handler classifies it:
# electronic channels, other business, other causes.
EMAIL_CHANNEL, EMAIL_BUSINESS, EMAIL_CAUSE = "A03", "B99", "C99"
NO_SUBJECT = "(no subject)"
# The reason a row has while it is being handled; left there, handling did not finish.
HANDLING = "received; handling did not finish"
STILL_HANDLING = timedelta(minutes=10)
CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Outcome:
    inbound_id: int
    status: str
    ticket_id: int | None
    reason: str | None
    duplicate: bool = False


def _own_addresses() -> frozenset[str]:
    sender = current_app.config.get("MAIL_FROM") or ""
    address = sender.rsplit("<", 1)[-1].rstrip(">").strip().lower()
    return frozenset({address} if address else set())


def _parse(raw: bytes) -> tuple[mailparse.ParsedMail | None, str | None]:
    try:
        parsed = mailparse.parse(
            raw, loop_header=notices.LOOP_HEADER, own_addresses=_own_addresses()
        )
    except mailparse.MailUnreadable as error:
        return None, str(error)
    return parsed, None


def _key(parsed: mailparse.ParsedMail | None, raw: bytes) -> str:
    if parsed is not None and parsed.message_id:
        return f"mid:{parsed.message_id}"[:300]
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


def ingest(raw: bytes, channel: str, now: datetime | None = None) -> Outcome:
    """Handle one received message, in two transactions: it is stored first — so that a crash
    while handling leaves it in the quarantine, bytes and all, instead of losing it — and then
    handled. A message seen before returns its first outcome with `duplicate` set and changes
    nothing."""
    now = now or utc_now()
    parsed, unreadable = _parse(raw)
    key, reused, seen = _identify(raw, parsed)
    if seen is not None:
        return _outcome(seen, duplicate=True)
    try:
        row = _store(raw, channel, parsed, key, reused or HANDLING, now)
    except IntegrityError:  # the same message, stored by another process a moment ago
        return _outcome(_stored_under(key), duplicate=True)
    if reused:
        log.warning("inbound %s quarantined: %s", row.id, reused)
        return _outcome(row)
    return _handle(row, parsed, unreadable, now)


def _identify(
    raw: bytes, parsed: mailparse.ParsedMail | None
) -> tuple[str, str | None, InboundMail | None]:
    """The message's key, why it is held without handling (a reused Message-ID) or None, and
    the row it was stored in before, if any."""
    key = _key(parsed, raw)
    seen = _stored_under(key)
    if seen is None or _same_message(seen, parsed):
        return key, None, seen
    # A careless mailer, or a forgery: another message under a Message-ID already seen. Kept
    # under its own bytes, and not handled without an admin's look.
    reused = f"Message-ID already used by another message (inbound {seen.id})"
    key = f"sha256:{hashlib.sha256(raw).hexdigest()}"
    return key, reused, _stored_under(key)


def _stored_under(key: str) -> InboundMail | None:
    return db.session.scalar(select(InboundMail).where(InboundMail.dedupe_key == key))


@use_case
def _store(
    raw: bytes,
    channel: str,
    parsed: mailparse.ParsedMail | None,
    key: str,
    reason: str,
    now: datetime,
) -> InboundMail:
    """Keep the message as received, quarantined with `reason` until handling says otherwise."""
    row = InboundMail(
        dedupe_key=key,
        received_at=now,
        channel=channel,
        message_id=parsed.message_id[:250] if parsed and parsed.message_id else None,
        sender=(parsed.sender or "")[:254] or None if parsed else None,
        subject=(parsed.subject if parsed else "")[:300],
        status=InboundStatus.QUARANTINED.value,
        reason=reason,
        size=len(raw),
        raw=raw,
    )
    db.session.add(row)
    return row


def _same_message(seen: InboundMail, parsed: mailparse.ParsedMail | None) -> bool:
    """The same message again — by another route, or fetched twice — has the same sender and
    subject; its bytes may differ (a relay adds Received headers)."""
    if parsed is None:
        return False
    return (seen.sender or None) == ((parsed.sender or "")[:254] or None) and (
        seen.subject == parsed.subject[:300]
    )


@use_case
def process_again(actor: Actor, inbound_id: int) -> Outcome:
    """An admin sends a quarantined message through intake again (after the cause — a full
    mailbox limit, a database error — is gone)."""
    row = _quarantined(
        actor, inbound_id, _l("Only a quarantined message can be processed again."), raw=True
    )
    if row.reason == HANDLING and as_utc(row.received_at) > utc_now() - STILL_HANDLING:
        raise ValidationFailed(
            _l("This message may still be being handled; try again in a few minutes.")
        )
    parsed, unreadable = _parse(row.raw)
    log.info("inbound %s processed again by %s", row.id, actor.label)
    return _handle(row, parsed, unreadable, utc_now())


@use_case
def dismiss(actor: Actor, inbound_id: int) -> None:
    row = _quarantined(actor, inbound_id, _l("Only a quarantined message can be dismissed."))
    row.status = InboundStatus.DISMISSED.value
    row.reason = f"{row.reason or ''}; dismissed by {actor.label}".strip("; ")[:500]


def _quarantined(actor: Actor, inbound_id: int, refusal: Any, raw: bool = False) -> InboundMail:
    """The quarantined message (with its bytes, if `raw`) an admin acts on, locked until the
    use case ends; `refusal` says why one that is not quarantined is refused."""
    require_admin(actor)
    row = db.session.get(InboundMail, inbound_id, with_for_update=True)
    if row is None or (raw and row.raw is None):
        raise ValidationFailed(_l("No such message."))
    if row.status != InboundStatus.QUARANTINED:
        raise ValidationFailed(refusal)
    return row


def _outcome(row: InboundMail, duplicate: bool = False) -> Outcome:
    return Outcome(row.id, row.status, row.ticket_id, row.reason, duplicate)


def _quarantine(row: InboundMail, reason: str) -> Outcome:
    row.status = InboundStatus.QUARANTINED.value
    row.reason = reason[:500]
    row.ticket_id = None
    log.warning("inbound %s quarantined: %s", row.id, reason)
    return _outcome(row)


@use_case
def _handle(
    row: InboundMail,
    parsed: mailparse.ParsedMail | None,
    unreadable: str | None,
    now: datetime,
) -> Outcome:
    """Open a ticket for the stored message, thread it, keep it as automatic mail, or leave it
    in the quarantine with the reason: what a refusal wrote is undone, the row says why."""
    if parsed is None:
        return _quarantine(row, f"unreadable: {unreadable}")
    if _unsubscribed(parsed):
        row.status = InboundStatus.UNSUBSCRIBE.value
        row.reason = None
        return _outcome(row)
    if parsed.automatic:
        row.status = InboundStatus.AUTOMATIC.value
        row.reason = parsed.automatic[:500]
        return _outcome(row)
    if not parsed.sender:
        return _quarantine(row, "no sender address to answer")
    try:
        _file(row, parsed, now)
    except intake.TooMany:
        return _quarantine(row, "the sender's ticket limit for the day is reached (a mail loop?)")
    except (ServiceError, ValueError, LookupError) as error:
        return _quarantine(row, f"not handled: {error}")
    return _outcome(row)


@use_case
def _file(row: InboundMail, parsed: mailparse.ParsedMail, now: datetime) -> Ticket:
    """Thread the message onto the ticket it answers, else open a ticket for it."""
    ticket, note = _thread_target(parsed)
    if ticket is not None:
        _thread(row, ticket, parsed, now)
        return ticket
    return _open(row, parsed, note, now)


def _unsubscribed(parsed: mailparse.ParsedMail) -> bool:
    """Carry out the unsubscribe an email to the List-Unsubscribe `mailto:` asks for: its
    subject is the signed token, which names the customer and the purpose (a mail program may
    add "Re:" or the like around it)."""
    for word in parsed.subject.split():
        if read_unsubscribe_token(word) is not None:
            how = f"email to the unsubscribe address from {parsed.sender or '?'}"
            unsubscribe(UNSUBSCRIBE_MAIL, word, how)
            return True
    return False


def _thread_target(parsed: mailparse.ParsedMail) -> tuple[Ticket | None, str]:
    """The ticket this message answers, when it comes from that ticket's complainant; else
    None and, when it named a ticket it may not join, a note for the handler."""
    candidates: list[Ticket] = []
    ids = [mid[:250] for mid in (*parsed.in_reply_to, *reversed(parsed.references))]
    if ids:
        found = db.session.scalars(
            select(TicketMailId.ticket_id).where(TicketMailId.message_id.in_(ids))
        ).all()
        candidates += [t for t in (db.session.get(Ticket, i) for i in found) if t is not None]
    for reference in REFERENCE_IN_SUBJECT.findall(parsed.subject):
        ticket = db.session.scalar(select(Ticket).where(Ticket.reference == reference))
        if ticket is not None:
            candidates.append(ticket)
    sender = (parsed.sender or "").lower()
    for ticket in candidates:
        while ticket.merged_into_id is not None:
            ticket = db.session.get(Ticket, ticket.merged_into_id)
        address = complainant(ticket).email
        if address and address.lower() == sender:
            return ticket, ""
    if candidates:
        return None, (
            "This email referred to an existing ticket, but it does not come from that "
            "ticket's complainant, so it was opened as a new ticket."
        )
    return None, ""


def _body(parsed: mailparse.ParsedMail) -> str:
    return mailparse.strip_quoted_reply(parsed.text).strip() or parsed.text.strip()


def _email_data(row: InboundMail, parsed: mailparse.ParsedMail) -> dict[str, object]:
    return {
        "inbound_id": row.id,
        "from": parsed.sender,
        "subject": parsed.subject,
        "attachments": [{"name": a.filename, "size": a.size} for a in parsed.attachments],
        "problems": list(parsed.problems),
    }


def _remember(row: InboundMail, ticket: Ticket) -> None:
    row.ticket_id = ticket.id
    if row.message_id and db.session.get(TicketMailId, row.message_id) is None:
        db.session.add(TicketMailId(message_id=row.message_id, ticket_id=ticket.id, outbound=False))


def _thread(row: InboundMail, ticket: Ticket, parsed: mailparse.ParsedMail, now: datetime) -> None:
    actor = Actor.system(INBOUND_ACTOR)
    add_event(actor, ticket, "email", body=_body(parsed), data=_email_data(row, parsed), at=now)
    _remember(row, ticket)
    row.status = InboundStatus.THREADED.value
    row.reason = None
    if ticket.assignee_id is not None:
        notify(ticket.assignee_id, f"email:{row.id}", "email", ticket)


def _open(row: InboundMail, parsed: mailparse.ParsedMail, note: str, now: datetime) -> Ticket:
    intake.check_rate(parsed.sender, now)
    text = parsed.text.strip()
    who = intake.complainant_for(
        parsed.sender,
        parsed.sender_name,
        locale="zh_Hans" if CJK.search(parsed.subject + text[:2000]) else "en",
    )
    actor = Actor.system(INBOUND_ACTOR)
    ticket = create_ticket(
        actor,
        TicketInput(
            kind=Kind.COMPLAINT.value,
            subject=(parsed.subject or NO_SUBJECT)[:200],
            channel_code=active_or_other(EMAIL_CHANNEL, Axis.CHANNEL),
            business_code=active_or_other(EMAIL_BUSINESS, Axis.BUSINESS),
            cause_code=active_or_other(EMAIL_CAUSE, Axis.CAUSE),
            customer_id=who.customer_id,
            description=text[:20_000] or NO_SUBJECT,
        ),
        source="email",
        prospect_id=who.prospect_id,
    )
    _remember(row, ticket)
    add_event(actor, ticket, "email", body=None, data=_email_data(row, parsed), at=now)
    for remark in (note, who.note):
        if remark:
            add_event(actor, ticket, "note", body=remark, at=now)
    notices.acknowledge(actor, ticket, now)
    row.status = InboundStatus.OPENED.value
    row.reason = None
    return ticket
