"""Which notices a ticket's complainant must be given, and whether they were.

The notices each regulatory profile knows, who they go to, and the rule that a complaint cannot
close before its closing notice (CN decision, UK final response or summary resolution, US
response) was sent or recorded as given another way (docs/regulation.md). Sending and recording
them is the notices channel (`channels.notices`); the status and clock use cases check these
rules without depending on it.
"""

from dataclasses import dataclass

from sqlalchemy import select

from portal.core.extensions import db
from portal.core.timeutil import as_utc
from portal.customers.models import Customer
from portal.messaging.models import Message, MessageStatus
from portal.tickets.models import (
    Kind,
    NoticeKind,
    Prospect,
    SentVia,
    Status,
    Ticket,
    TicketEvent,
    TicketNotice,
)

# The notices each regulatory profile knows, in the order a complaint meets them.
PROFILE_NOTICES: dict[str, tuple[NoticeKind, ...]] = {
    "CN": (
        NoticeKind.ACKNOWLEDGEMENT,
        NoticeKind.EXTENSION,
        NoticeKind.PAUSE,
        NoticeKind.RESUME,
        NoticeKind.DECISION,
    ),
    "UK": (
        NoticeKind.ACKNOWLEDGEMENT,
        NoticeKind.SUMMARY,
        NoticeKind.HOLDING,
        NoticeKind.DECISION,
    ),
    "US": (NoticeKind.ACKNOWLEDGEMENT, NoticeKind.HOLDING, NoticeKind.DECISION),
}
# Any one of these, sent or given another way, lets a complaint close.
CLOSING_NOTICES: dict[str, tuple[NoticeKind, ...]] = {
    "CN": (NoticeKind.DECISION,),
    "UK": (NoticeKind.DECISION, NoticeKind.SUMMARY),
    "US": (NoticeKind.DECISION,),
}
NOT_DELIVERED = (MessageStatus.FAILED.value, MessageStatus.SUPPRESSED.value)


def notices_for(ticket: Ticket) -> tuple[NoticeKind, ...]:
    """The notices a handler may send on this ticket: the profile's for a complaint, the
    acknowledgement alone for feedback, questions and compliments."""
    if ticket.kind != Kind.COMPLAINT:
        return (NoticeKind.ACKNOWLEDGEMENT,)
    return PROFILE_NOTICES.get(ticket.profile, (NoticeKind.ACKNOWLEDGEMENT,))


def was_paused(ticket: Ticket) -> bool:
    """Whether the ticket's clock was ever paused (CN outside appraisal)."""
    if ticket.paused_since is not None or ticket.paused_days:
        return True
    paused = select(TicketEvent.id).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.action == "clock.paused"
    )
    return db.session.scalar(paused.limit(1)) is not None


@dataclass(frozen=True)
class Complainant:
    customer_id: int | None
    email: str | None
    name: str
    locale: str


def complainant(ticket: Ticket) -> Complainant:
    """Who the ticket's notices go to: the customer, else the prospect who wrote in."""
    if ticket.customer_id is not None:
        customer = db.session.get(Customer, ticket.customer_id)
        if customer is not None:
            return Complainant(customer.id, customer.email, customer.name, customer.locale)
    if ticket.prospect_id is not None:
        prospect = db.session.get(Prospect, ticket.prospect_id)
        if prospect is not None:
            return Complainant(None, prospect.email, prospect.name, prospect.locale)
    return Complainant(None, None, "", "en")


@dataclass(frozen=True)
class NoticeRow:
    notice: TicketNotice
    status: str | None  # the outbox status of an emailed notice


def notices_of(ticket_id: int) -> list[NoticeRow]:
    rows = db.session.execute(
        select(TicketNotice, Message.status)
        .outerjoin(Message, Message.id == TicketNotice.outbox_id)
        .where(TicketNotice.ticket_id == ticket_id)
        .order_by(TicketNotice.id)
    ).all()
    return [NoticeRow(notice, status) for notice, status in rows]


def given(row: NoticeRow) -> bool:
    """An emailed notice counts once queued (delivery retries until it goes) unless it failed
    or the policy held it back; one given another way counts as recorded."""
    if row.notice.sent_via != SentVia.EMAIL:
        return True
    return row.status not in NOT_DELIVERED


def summary_in_time(ticket: Ticket) -> bool:
    """UK DISP 1.5: resolved by the close of the third business day after receipt."""
    return (
        ticket.summary_due_at is not None
        and ticket.resolved_at is not None
        and as_utc(ticket.resolved_at) <= as_utc(ticket.summary_due_at)
    )


def missing_at_close(ticket: Ticket, rows: list[NoticeRow] | None = None) -> tuple[NoticeKind, ...]:
    """The closing notices of which none was given for the current outcome — a notice of an
    outcome since reopened does not count: empty when the ticket may close. `rows`: the
    ticket's notices, when the caller has read them already."""
    if ticket.kind != Kind.COMPLAINT:
        return ()
    needed = tuple(
        kind
        for kind in CLOSING_NOTICES.get(ticket.profile, ())
        if kind != NoticeKind.SUMMARY or summary_in_time(ticket)
    )
    since = as_utc(ticket.resolved_at) if ticket.resolved_at else None
    done = {
        row.notice.kind
        for row in (notices_of(ticket.id) if rows is None else rows)
        if given(row) and (since is None or as_utc(row.notice.recorded_at) >= since)
    }
    return () if done.intersection(needed) else needed


def notices_offered(ticket: Ticket, rows: list[NoticeRow] | None = None) -> tuple[NoticeKind, ...]:
    """The notices that fit the ticket as it stands, which the ticket page offers and its
    notice actions accept: none once it is closed, withdrawn or merged; the acknowledgement
    until it was given; the extension, pause and resume notices after the clock change they
    announce; the outcome's notices once it is resolved (the summary resolution only in time);
    a holding response while it is open."""
    if ticket.merged_into_id is not None or ticket.status in (Status.CLOSED, Status.WITHDRAWN):
        return ()
    rows = notices_of(ticket.id) if rows is None else rows
    resolved = ticket.status == Status.RESOLVED and bool(ticket.resolution)
    fits = {
        NoticeKind.ACKNOWLEDGEMENT: not any(
            given(row) for row in rows if row.notice.kind == NoticeKind.ACKNOWLEDGEMENT
        ),
        NoticeKind.EXTENSION: ticket.extensions > 0,
        NoticeKind.PAUSE: ticket.paused_since is not None,
        NoticeKind.RESUME: ticket.paused_since is None and was_paused(ticket),
        NoticeKind.HOLDING: ticket.is_open,
        NoticeKind.DECISION: resolved,
        NoticeKind.SUMMARY: resolved and summary_in_time(ticket),
    }
    return tuple(kind for kind in notices_for(ticket) if fits.get(kind, True))
