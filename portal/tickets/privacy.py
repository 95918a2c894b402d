"""The customer's tickets in a data-subject export, and what erasure removes from them: the
words (subject, request, description, resolution, notes, responses, notices), the emails they
sent (bytes, sender, subject), what they sent through the public form that was held as
suspected spam, and the prospect record they wrote in as; categories, dates, statuses and
clocks stay, for the complaint statistics a regulator asks for."""

from collections import defaultdict
from typing import Any

from sqlalchemy import or_, select, update

from portal.core.extensions import db
from portal.core.timeutil import utc_now
from portal.customers.models import Customer
from portal.customers.privacy import ERASED_TEXT
from portal.messaging.models import Message
from portal.messaging.privacy import erase_messages
from portal.tickets.models import (
    HeldStatus,
    HeldSubmission,
    InboundMail,
    Prospect,
    Ticket,
    TicketEvent,
    TicketNotice,
)

ERASURE = "personal data erased (data-subject request)"


def _of_tickets(model: Any, tickets: Any, *where: Any) -> dict[int, list[Any]]:
    """Rows of `model` for the given tickets (a subquery of ids), by ticket, in id order."""
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in db.session.scalars(
        select(model).where(model.ticket_id.in_(tickets), *where).order_by(model.id)
    ):
        grouped[row.ticket_id].append(row)
    return grouped


def export_tickets(customer_id: int) -> list[dict[str, Any]]:
    ids = select(Ticket.id).where(Ticket.customer_id == customer_id).scalar_subquery()
    tickets = db.session.scalars(
        select(Ticket).where(Ticket.customer_id == customer_id).order_by(Ticket.id)
    ).all()
    texts = _of_tickets(TicketEvent, ids, TicketEvent.body.is_not(None))
    emails = _of_tickets(InboundMail, ids)
    notices = _of_tickets(TicketNotice, ids)
    return [
        {
            "reference": ticket.reference,
            "kind": ticket.kind,
            "status": ticket.status,
            "received_at": ticket.received_at.isoformat(),
            "codes": [ticket.channel_code, ticket.business_code, ticket.cause_code],
            "subject": ticket.subject,
            "request": ticket.request,
            "description": ticket.description,
            "resolution": ticket.resolution,
            "texts": [
                {"at": e.occurred_at.isoformat(), "action": e.action, "body": e.body}
                for e in texts[ticket.id]
            ],
            "emails_received": [
                {"at": m.received_at.isoformat(), "from": m.sender, "subject": m.subject}
                for m in emails[ticket.id]
            ],
            "notices": [
                {
                    "at": n.recorded_at.isoformat(),
                    "kind": n.kind,
                    "via": n.sent_via,
                    "words": n.note,
                }
                for n in notices[ticket.id]
            ],
        }
        for ticket in tickets
    ]


def _addresses(customer_id: int) -> set[str]:
    """The customer's email address and those of the prospects linked to them."""
    return {
        address
        for address in (
            *db.session.scalars(select(Prospect.email).where(Prospect.customer_id == customer_id)),
            db.session.scalar(select(Customer.email).where(Customer.id == customer_id)),
        )
        if address
    }


def export_held(customer_id: int) -> list[dict[str, Any]]:
    """Public-form submissions from the customer's addresses held as suspected spam."""
    rows = db.session.scalars(
        select(HeldSubmission)
        .where(HeldSubmission.email.in_(sorted(_addresses(customer_id))))
        .order_by(HeldSubmission.id)
    )
    return [
        {
            "received_at": row.received_at.isoformat(),
            "status": row.status,
            "kind": row.kind,
            "description": row.description,
            "request": row.request,
            "account_hint": row.account_hint,
            "name": row.name,
            "email": row.email,
            "phone": row.phone,
            "reason": row.reason,
        }
        for row in rows
    ]


def erase_tickets(customer_id: int) -> None:
    ids = select(Ticket.id).where(Ticket.customer_id == customer_id).scalar_subquery()
    ticket_ids = [str(i) for i in db.session.scalars(select(ids))]
    addresses = _addresses(customer_id)
    # Notices sent while the complainant was still a prospect carry no customer id.
    if ticket_ids:
        erase_messages(Message.customer_id.is_(None), Message.source_id.in_(ticket_ids))
    db.session.execute(
        update(TicketEvent)
        .where(TicketEvent.ticket_id.in_(ids), TicketEvent.body.is_not(None))
        .values(body=ERASED_TEXT)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(TicketEvent)
        .where(TicketEvent.ticket_id.in_(ids), TicketEvent.action == "email")
        .values(data=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(TicketNotice)
        .where(TicketNotice.ticket_id.in_(ids), TicketNotice.note.is_not(None))
        .values(note=ERASED_TEXT)
        .execution_options(synchronize_session=False)
    )
    # The emails on their tickets, and those from their addresses that opened no ticket
    # (quarantined, automatic).
    db.session.execute(
        update(InboundMail)
        .where(or_(InboundMail.ticket_id.in_(ids), InboundMail.sender.in_(sorted(addresses))))
        .values(raw=None, sender=None, subject=ERASED_TEXT)
        .execution_options(synchronize_session=False)
    )
    # What they sent through the form that was held as suspected spam: a submission still
    # waiting is set aside, since its words are gone.
    db.session.execute(
        update(HeldSubmission)
        .where(
            HeldSubmission.email.in_(sorted(addresses)),
            HeldSubmission.status == HeldStatus.HELD.value,
        )
        .values(
            status=HeldStatus.DISCARDED.value,
            decided_at=utc_now(),
            decided_by=ERASURE,
            reason=ERASURE,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(HeldSubmission)
        .where(HeldSubmission.email.in_(sorted(addresses)))
        .values(
            name=ERASED_TEXT,
            email=None,
            phone=None,
            description=ERASED_TEXT,
            request=ERASED_TEXT,
            account_hint="",
            customer_number="",
            version=HeldSubmission.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Prospect)
        .where(Prospect.customer_id == customer_id)
        .values(name=ERASED_TEXT, email=None, phone=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Ticket)
        .where(Ticket.customer_id == customer_id)
        .values(
            subject=ERASED_TEXT,
            request=ERASED_TEXT,
            description=ERASED_TEXT,
            resolution=ERASED_TEXT,
            root_cause=None,
            original=None,
            version=Ticket.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
