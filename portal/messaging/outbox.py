"""The outbox and the suppression list as admins see them: pages of messages, one message and
what it says, and lifting a suppression. (Retrying a message and unsubscribing are use cases of
services.py; editing the templates is template_editing.py.)"""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlencode

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.accounts.services import list_audit_events
from portal.core.audit import Actor, AuditEvent, record_event
from portal.core.errors import NotFound, ValidationFailed
from portal.core.extensions import db
from portal.core.pagination import Page
from portal.core.requests import parse_id
from portal.core.transaction import use_case
from portal.customers.cleaning import clean_number
from portal.customers.models import Customer
from portal.messaging.compose import Composed, RenderFailed, as_sent, content_of, subjects_of
from portal.messaging.models import Message, MessageStatus, Purpose, Suppression
from portal.messaging.services import require_admin

KIND_MAX = 32


# ---------------------------------------------------------------- the outbox


@dataclass
class OutboxFilters:
    status: str = ""
    purpose: str = ""
    kind: str = ""
    customer: str = ""  # a customer number
    after: str = ""  # the id of the last message shown

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> "OutboxFilters":
        """Filters from a query string's values; unknown statuses and purposes are dropped."""
        values = {f.name: (args.get(f.name) or "").strip()[:40] for f in fields(cls)}
        filters = cls(**values)
        if filters.status not in {s.value for s in MessageStatus}:
            filters.status = ""
        if filters.purpose not in {p.value for p in Purpose}:
            filters.purpose = ""
        filters.kind = filters.kind[:KIND_MAX]
        return filters

    def query(self, **changes: str) -> str:
        """These filters as a query string, the page key dropped unless given."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["after"] = ""
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v})


@dataclass(frozen=True)
class OutboxRow:
    message: Message
    customer_number: str | None
    subject: str  # as sent, or rendered now for a message not sent yet


def outbox_page(actor: Actor, filters: OutboxFilters, limit: int = 50) -> Page[OutboxRow]:
    """Newest first (ids grow as rows are written), a keyset page at a time.

    A customer filter reads that customer's rows through ix_messages_customer_created, a
    status filter the rows of that status through ix_messages_due; with neither, the primary
    key is read backwards and stops after one page.
    """
    require_admin(actor)
    conditions: list[Any] = []
    if filters.status:
        conditions.append(Message.status == filters.status)
    if filters.purpose:
        conditions.append(Message.purpose == filters.purpose)
    if filters.kind:
        conditions.append(Message.kind == filters.kind)
    if filters.customer:
        number = clean_number(filters.customer)
        customer_id = db.session.scalar(select(Customer.id).where(Customer.number == number))
        if customer_id is None:
            raise ValidationFailed(
                _l("No customer has the number %(number)s.", number=number), field="customer"
            )
        conditions.append(Message.customer_id == customer_id)
    after = parse_id(filters.after)
    if after is not None:
        conditions.append(Message.id < after)
    rows = db.session.execute(
        select(Message, Customer.number)
        .outerjoin(Customer, Customer.id == Message.customer_id)
        .where(*conditions)
        .order_by(Message.id.desc())
        .limit(limit + 1)
    ).all()
    shown = rows[:limit]
    subjects = subjects_of([message for message, _number in shown])
    page = [
        OutboxRow(message, number, subject)
        for (message, number), subject in zip(shown, subjects, strict=True)
    ]
    return Page(page, str(page[-1].message.id) if len(rows) > limit else None)


def _message(actor: Actor, message_id: int) -> Message:
    require_admin(actor)
    message = db.session.get(Message, message_id)
    if message is None:
        raise NotFound(_l("No such message."))
    return message


@dataclass(frozen=True)
class MessageText:
    """What a message says: as sent (or written ready-made), else rendered now with the
    template as it is — `problem` says why when it cannot be."""

    content: Composed
    as_sent: bool
    problem: str | None = None


def _text_of(message: Message) -> MessageText:
    try:
        return MessageText(content_of(message), as_sent(message))
    except RenderFailed as failure:
        return MessageText(Composed("", "", "", dict(message.headers or {})), False, failure.reason)


@dataclass(frozen=True)
class MessagePage:
    """One message for its admin page: what it says, to which customer, and what happened
    to it (its newest audit events)."""

    message: Message
    text: MessageText
    customer: Customer | None
    events: list[AuditEvent]


def message_page(actor: Actor, message_id: int, events_shown: int = 50) -> MessagePage:
    message = _message(actor, message_id)
    customer = db.session.get(Customer, message.customer_id) if message.customer_id else None
    events = list_audit_events(subject=("message", str(message.id)), limit=events_shown).rows
    return MessagePage(message, _text_of(message), customer, events)


def message_html(actor: Actor, message_id: int) -> str:
    """The HTML part of a message, as the customer's mail program gets it."""
    return _text_of(_message(actor, message_id)).content.body_html


# ---------------------------------------------------------------- the suppression list


def suppressions_page(actor: Actor, after: str = "", limit: int = 50) -> Page[Suppression]:
    """Addresses in alphabetical order, a keyset page at a time."""
    require_admin(actor)
    stmt = select(Suppression).order_by(Suppression.address).limit(limit + 1)
    if after:
        stmt = stmt.where(Suppression.address > after[:254])
    rows = list(db.session.scalars(stmt))
    return Page(rows[:limit], rows[limit - 1].address if len(rows) > limit else None)


@use_case
def remove_suppression(actor: Actor, address: str) -> Suppression:
    """Let an address be mailed again (it was fixed, or the bounce was a mistake)."""
    require_admin(actor)
    found = db.session.get(Suppression, address.strip().lower()[:254])
    if found is None:
        raise NotFound(_l("That address is not on the suppression list."))
    record_event(
        actor,
        "mail.suppression_removed",
        "mail_suppression",
        found.address,
        before={"address": found.address, "reason": found.reason},
    )
    db.session.delete(found)
    return found
