"""Messages on the customer 360 timeline: every one written for the customer — sent,
deferred, failed or held back — with the reason when it did not simply go."""

from sqlalchemy import select
from sqlalchemy.orm import load_only

from portal.customers.timeline import Cursor, Source, TimelineEntry
from portal.messaging.compose import subjects_of
from portal.messaging.models import Message

# The bodies stay in the outbox: a timeline page reads only what its entries show, and what
# the subject of a message not sent yet is rendered from.
SHOWN = (
    Message.id,
    Message.created_at,
    Message.status,
    Message.purpose,
    Message.kind,
    Message.subject,
    Message.held_reason,
    Message.next_attempt_at,
    Message.sent_at,
    Message.customer_id,
    Message.template_key,
    Message.locale,
    Message.context,
)


MESSAGES = Source(
    "message",
    lambda: select(Message).options(load_only(*SHOWN)),
    Message.customer_id,
    Message.created_at,
    Message.id,
)


def message_entries(customer_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    rows = MESSAGES.newest_first(customer_id, before, limit).scalars().all()
    return [
        TimelineEntry(
            m.created_at,
            "message",
            m.id,
            "messaging/_entry_message.html",
            {"message": m, "subject": subject},
        )
        for m, subject in zip(rows, subjects_of(list(rows)), strict=True)
    ]
