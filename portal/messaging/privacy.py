"""The customer's messages in a data-subject export, and what erasure removes from them."""

from typing import Any

from sqlalchemy import select, update

from portal.core.extensions import db
from portal.customers.privacy import ERASED_TEXT
from portal.messaging.compose import Composed, Composer, RenderFailed, as_sent, names_of, stored
from portal.messaging.models import DELIVERABLE, Message, MessageStatus


def export_messages(customer_id: int) -> list[dict[str, Any]]:
    """Each message as sent, or — not sent yet — as its template renders it now."""
    name = names_of([customer_id]).get(customer_id)
    rows = db.session.scalars(
        select(Message).where(Message.customer_id == customer_id).order_by(Message.id)
    ).all()
    composer = Composer()
    exported = []
    for m in rows:
        try:
            content = stored(m) if as_sent(m) else composer.compose(m, name)
        except RenderFailed:  # its template no longer renders it: nothing was said
            content = Composed("", "", "", {})
        exported.append(
            {
                "created_at": m.created_at.isoformat(),
                "purpose": m.purpose,
                "kind": m.kind,
                "status": m.status,
                "held_reason": m.held_reason,
                "to_address": m.to_address,
                "subject": content.subject,
                "body_text": content.body_text,
                "sent_at": m.sent_at.isoformat() if m.sent_at else None,
            }
        )
    return exported


def erase_messages(*where: Any) -> None:
    """Erase the messages matching `where`: keep purpose, kind, status and dates (the contact
    history's shape); drop the address, every rendered word and the values a message was to be
    rendered with; nothing still waiting is sent. Also used by the tickets room for notices
    sent before the complainant was known as a customer."""
    db.session.execute(
        update(Message)
        .where(*where, Message.status.in_([s.value for s in DELIVERABLE]))
        .values(status=MessageStatus.SUPPRESSED.value, held_reason="customer erased")
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Message)
        .where(*where)
        .values(
            to_address=None,
            template_key=None,
            context=None,
            subject=ERASED_TEXT,
            body_text=ERASED_TEXT,
            body_html=ERASED_TEXT,
            headers=None,
        )
        .execution_options(synchronize_session=False)
    )


def erase_customer_messages(customer_id: int) -> None:
    erase_messages(Message.customer_id == customer_id)
