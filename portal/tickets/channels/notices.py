"""What the complainant is told: notices and replies by email through the outbox, or recorded
as given another way, each on the ticket.

Every email here is transactional (no marketing consent needed, the channel opt-out still
honoured by the contact policy), rendered from the admin-editable template of its notice, its
regulatory profile and the complainant's language (`ticket_<notice>_<profile>`; a handler's
reply is `ticket_reply`), and carries the ticket's reference in the subject and a Message-ID
recorded on the ticket, so that the answer threads back onto it (see `inbound`). Notices sent
automatically — the acknowledgement — are marked `Auto-Submitted: auto-replied` (RFC 3834) so
that a customer's own auto-responder does not answer them.

Which notices a ticket needs, and whether they were given, are the rules in `notice_rules`.
"""

import re
from datetime import datetime
from email.utils import make_msgid
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.core.audit import Actor
from portal.core.errors import ValidationFailed
from portal.core.extensions import db
from portal.core.i18n import format_day, format_deadline
from portal.core.timeutil import utc_now
from portal.core.transaction import use_case
from portal.customers.pii import first_name
from portal.messaging.models import Message, Purpose
from portal.messaging.services import Draft, queue
from portal.tickets.access import get_ticket, require_handler
from portal.tickets.deadlines import is_regulated
from portal.tickets.events import add_event
from portal.tickets.models import (
    REMEDIES,
    InboundMail,
    NoticeKind,
    SentVia,
    Status,
    Ticket,
    TicketMailId,
    TicketNotice,
)
from portal.tickets.notice_rules import (
    complainant,
    given,
    notices_for,
    notices_of,
    notices_offered,
    summary_in_time,
)
from portal.tickets.validation import clean_text
from portal.tickets.versions import locked_for_change, ticket_changed_meanwhile

LOOP_HEADER = "X-Credit-Care-Loop"
NOTICE_TEXT_MAX = 5_000


# A greeting: "Dear Mei,", "Hello", "Good morning"; "王女士，您好：", "尊敬的客户". The reply's
# email template greets the customer (by name, in their language), so its text must not.
_GREETING = re.compile(
    r"^(dear|hello|hi|hey|good (morning|afternoon|evening))\b|^.{0,30}(您好|你好)|^(尊敬的|亲爱的)",
    re.IGNORECASE,
)


def opens_with_greeting(text: str) -> bool:
    """Whether the first line of `text` greets the reader."""
    for line in (text or "").splitlines():
        if line.strip():
            return _GREETING.match(line.strip()) is not None
    return False


def template_key(kind: str, profile: str) -> str:
    if kind == NoticeKind.REPLY:
        return "ticket_reply"
    return f"ticket_{kind}_{profile.lower()}"


def _deadline(end: datetime | None, locale: str) -> str:
    return "" if end is None else format_deadline(end, locale)


def _redress(ticket: Ticket) -> str:
    if ticket.redress_amount is None:
        return ""
    return f"{ticket.redress_amount:,.2f}"


def notice_context(ticket: Ticket, locale: str, message: str = "") -> dict[str, Any]:
    """The values a ticket template may use (the sample values in messaging/templates.py name
    the same ones, so an admin's template is checked against them on save). Dates are written
    out in `locale`, the language the message is in: the day of receipt, and each deadline as
    the last day of its period, which counts whole ("6 Jan 2027, end of day")."""
    deadline = ticket.due_at if is_regulated(ticket) else None
    return {
        "reference": ticket.reference,
        "kind": ticket.kind,
        "received_on": format_day(ticket.received_at, locale),
        "deadline": _deadline(deadline, locale),
        "summary_deadline": _deadline(ticket.summary_due_at, locale),
        "message": message,
        "outcome": ticket.resolution or "",
        "redress": _redress(ticket),
        "company_response": ticket.company_response or "",
    }


def _thread_headers(ticket: Ticket) -> dict[str, str]:
    """In-Reply-To the complainant's latest email on the ticket, References its first and
    latest, so that the customer's mail program shows one conversation."""
    received = list(
        db.session.scalars(
            select(InboundMail.message_id)
            .where(InboundMail.ticket_id == ticket.id, InboundMail.message_id.is_not(None))
            .order_by(InboundMail.id)
        )
    )
    if not received:
        return {}
    chain = list(dict.fromkeys([received[0], received[-1]]))
    return {
        "In-Reply-To": f"<{received[-1]}>",
        "References": " ".join(f"<{mid}>" for mid in chain),
    }


def send(
    actor: Actor,
    ticket: Ticket,
    kind: str,
    *,
    message: str = "",
    automatic: bool = False,
    now: datetime | None = None,
) -> TicketNotice:
    """Queue notice `kind` to the complainant by email in the caller's transaction and record
    it on the ticket; refused when the complainant has no email address (record the notice as
    given another way instead)."""
    now = now or utc_now()
    if kind != NoticeKind.REPLY and kind not in notices_for(ticket):
        raise ValidationFailed(_l("This notice does not apply to this ticket."), field="kind")
    to = complainant(ticket)
    if not to.email:
        raise ValidationFailed(
            _l("The complainant has no email address: record how the notice was given instead."),
            field="kind",
        )
    message = clean_text(message, "message", NOTICE_TEXT_MAX)
    _check_decided(ticket, kind)
    if kind == NoticeKind.ACKNOWLEDGEMENT and any(
        given(row) for row in notices_of(ticket.id) if row.notice.kind == kind
    ):
        raise ValidationFailed(_l("The acknowledgement was already given."), field="kind")
    if kind == NoticeKind.DECISION and ticket.profile == "CN":
        ticket.remedies_told = list(REMEDIES)  # the CN decision notice names all four
    notice = _add(actor, ticket, kind, SentVia.EMAIL.value, message or None, now)
    domain = current_app.config.get("MAIL_DOMAIN") or "portal.invalid"
    message_id = make_msgid(domain=domain)
    headers = {LOOP_HEADER: domain, **_thread_headers(ticket)}
    if automatic:
        headers["Auto-Submitted"] = "auto-replied"
    dedupe_key = f"ticket:{ticket.id}:{kind}:{notice.id}"
    queue(
        [
            Draft(
                dedupe_key=dedupe_key,
                customer_id=to.customer_id,
                to_address=to.email,
                recipient_name=first_name(to.name) if to.name else None,
                locale=to.locale,
                purpose=Purpose.SERVICE.value,
                kind=f"ticket_{kind}"[:32],
                template_key=template_key(kind, ticket.profile),
                send_at=now,
                transactional=True,
                context=notice_context(ticket, to.locale, message),
                source_id=str(ticket.id),
                headers=headers,
                message_id=message_id,
                immediate=automatic,
            )
        ],
        now,
    )
    notice.outbox_id = db.session.scalar(select(Message.id).where(Message.dedupe_key == dedupe_key))
    db.session.add(
        TicketMailId(message_id=message_id.strip("<>"), ticket_id=ticket.id, outbound=True)
    )
    _event(actor, ticket, notice, now)
    return notice


def record(
    actor: Actor,
    ticket: Ticket,
    kind: str,
    via: str,
    note: str,
    now: datetime | None = None,
) -> TicketNotice:
    """Record a notice given another way — a letter, a call, at the branch — with what was
    said, in the caller's transaction."""
    now = now or utc_now()
    if kind not in notices_for(ticket):
        raise ValidationFailed(_l("This notice does not apply to this ticket."), field="kind")
    if via not in {v.value for v in SentVia} or via == SentVia.EMAIL:
        raise ValidationFailed(_l("Say how the notice was given."), field="via")
    text = clean_text(note, "note", NOTICE_TEXT_MAX)
    if not text:
        raise ValidationFailed(_l("Say what the complainant was told."), field="note")
    _check_decided(ticket, kind)
    if kind == NoticeKind.DECISION and ticket.profile == "CN" and not ticket.remedies_told:
        ticket.remedies_told = list(REMEDIES)
    notice = _add(actor, ticket, kind, via, text, now)
    _event(actor, ticket, notice, now)
    return notice


def _add(
    actor: Actor, ticket: Ticket, kind: str, via: str, note: str | None, now: datetime
) -> TicketNotice:
    notice = TicketNotice(
        ticket_id=ticket.id,
        kind=kind,
        sent_via=via,
        recorded_at=now,
        recorded_by_id=actor.user_id,
        note=note,
    )
    db.session.add(notice)
    db.session.flush()  # its id keys the outbox row
    return notice


def _check_decided(ticket: Ticket, kind: str) -> None:
    if kind not in (NoticeKind.DECISION, NoticeKind.SUMMARY):
        return
    if ticket.status != Status.RESOLVED or not ticket.resolution:
        raise ValidationFailed(
            _l("Resolve the ticket first: this notice states its outcome."), field="kind"
        )
    if kind == NoticeKind.SUMMARY and not summary_in_time(ticket):
        raise ValidationFailed(
            _l(
                "A summary resolution is only for a complaint resolved by the end of the third "
                "business day; send the final response."
            ),
            field="kind",
        )


def _event(actor: Actor, ticket: Ticket, notice: TicketNotice, now: datetime) -> None:
    add_event(
        actor,
        ticket,
        "reply" if notice.kind == NoticeKind.REPLY else "notice",
        body=notice.note,
        data={"kind": notice.kind, "via": notice.sent_via, "outbox_id": notice.outbox_id},
        at=now,
    )


# ---------------------------------------------------------------- from the ticket page


def _check_offered(ticket: Ticket, kind: str) -> None:
    """A notice from the ticket page must fit the ticket as it stands (`notices_offered`): no
    resume notice for a clock never paused, no notice at all on a closed ticket. The refusal
    says why."""
    if kind in notices_offered(ticket):
        return
    if ticket.status in (Status.CLOSED, Status.WITHDRAWN) or ticket.merged_into_id is not None:
        reason = _l("No notices go out on a closed ticket.")
    elif kind not in notices_for(ticket):
        reason = _l("This notice does not apply to this ticket.")
    elif kind in (NoticeKind.DECISION, NoticeKind.SUMMARY):
        _check_decided(ticket, kind)  # says what is missing
        reason = _l("This notice does not fit the ticket as it stands.")
    else:
        reason = {
            NoticeKind.ACKNOWLEDGEMENT: _l("The acknowledgement was already given."),
            NoticeKind.EXTENSION: _l(
                "The clock was not extended: extend it, and the notice goes with the extension."
            ),
            NoticeKind.PAUSE: _l("The clock is not paused."),
            NoticeKind.RESUME: _l("The clock was never paused: there is no resumption to tell."),
            NoticeKind.HOLDING: _l("A holding response is for a complaint still open."),
        }.get(NoticeKind(kind), _l("This notice does not fit the ticket as it stands."))
    raise ValidationFailed(reason, field="kind")


@use_case(stale=ticket_changed_meanwhile)
def send_notice(
    actor: Actor, ticket_id: int, version: int | None, kind: str, message: str = ""
) -> Ticket:
    """Email notice `kind` to the complainant from the ticket page; returns the ticket."""
    require_handler(actor)
    if kind == NoticeKind.REPLY:  # a reply has its own action, which needs the words
        raise ValidationFailed(_l("This notice does not apply to this ticket."), field="kind")
    ticket = locked_for_change(actor, ticket_id, version)
    _check_offered(ticket, kind)
    send(actor, ticket, kind, message=(message or "").strip())
    return ticket


@use_case(stale=ticket_changed_meanwhile)
def record_notice(
    actor: Actor, ticket_id: int, version: int | None, kind: str, via: str, note: str
) -> TicketNotice:
    require_handler(actor)
    ticket = locked_for_change(actor, ticket_id, version)
    _check_offered(ticket, kind)
    return record(actor, ticket, kind, via, note)


@use_case(stale=ticket_changed_meanwhile)
def reply(actor: Actor, ticket_id: int, body: str) -> TicketNotice:
    """A handler's reply, by email in the ticket's thread; the customer's answer comes back
    onto the ticket through inbound email. It does not wait for the ticket's version: a status
    change or an edit someone made meanwhile does not touch what the reply says. The email
    greets the customer itself, so the text must not (`replies.opens_with_greeting`)."""
    require_handler(actor)
    ticket = get_ticket(actor, ticket_id)
    if ticket.merged_into_id is not None:
        raise ValidationFailed(_l("This ticket was merged into another; work on that one."))
    text = (body or "").strip()
    if not text:
        raise ValidationFailed(_l("Write the reply first."), field="body")
    if opens_with_greeting(text):
        raise ValidationFailed(
            _l("Leave out the greeting: the email greets the customer by name, in their language."),
            field="body",
        )
    notice = send(actor, ticket, NoticeKind.REPLY, message=text)
    if ticket.acknowledged_at is None:
        ticket.acknowledged_at = notice.recorded_at
    return notice


@use_case
def acknowledge(actor: Actor, ticket: Ticket, now: datetime | None = None) -> TicketNotice | None:
    """Email the complainant the acknowledgement of a new ticket at once when they have an
    address; None when they have none. The channels that register tickets nest it after
    `create_ticket`."""
    if not complainant(ticket).email:
        return None
    return send(actor, ticket, NoticeKind.ACKNOWLEDGEMENT, automatic=True, now=now)
