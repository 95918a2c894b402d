"""The outbox and what decides and shapes every email the portal sends."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.audit import BigId
from portal.core.extensions import db
from portal.core.models import TimestampMixin


class Purpose(StrEnum):
    """What a message is for; each has its own consent on the customer."""

    CARE = "care"  # greetings, financial-education notes: promotional, need consent
    SURVEY = "survey"  # satisfaction surveys: opt-out on their own
    SERVICE = "service"  # reminders, notices: transactional, honour the channel opt-out


class MessageStatus(StrEnum):
    QUEUED = "queued"
    DEFERRED = "deferred"  # held to the next allowed minute (quiet hours)
    SENDING = "sending"  # claimed by a delivery worker
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"  # held back by the contact policy, with the reason


DELIVERABLE = (MessageStatus.QUEUED, MessageStatus.DEFERRED)


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Message(db.Model):
    """One email in the transactional outbox, written in the transaction that causes it."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(_in("purpose", Purpose), name="purpose_known"),
        CheckConstraint(_in("status", MessageStatus), name="status_known"),
        # Delivery claims due rows in this order; the caps count a customer's recent messages.
        Index("ix_messages_due", "status", "next_attempt_at", "id"),
        Index("ix_messages_customer_created", "customer_id", "created_at", "id"),
        # Whether a message by its key was sent, from the index alone (the survey funnel).
        Index("ix_messages_dedupe_key_status", "dedupe_key", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    purpose: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(32))  # birthday, festival, reminder, campaign, …
    transactional: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="SET NULL")
    )
    to_address: Mapped[str | None] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(16), default="en")
    # What the message is rendered from when it is sent (or shown before that): the template
    # and the values the room that queued it gave. A row without a template key carries its
    # text ready-made.
    template_key: Mapped[str | None] = mapped_column(String(40))
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The text as sent, stored with the sent message (empty until then, unless ready-made).
    subject: Mapped[str] = mapped_column(String(300), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    # Headers the queueing room asked for; once sent, every header the email carried beyond
    # From, To, Subject, Date and Message-ID (List-Unsubscribe, …).
    headers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    message_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default=MessageStatus.QUEUED.value)
    held_reason: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    source_id: Mapped[str | None] = mapped_column(String(64))  # rule, campaign or ticket id


class Suppression(db.Model):
    """An address that must not be mailed again (a permanent failure), with why."""

    __tablename__ = "mail_suppressions"

    address: Mapped[str] = mapped_column(String(254), primary_key=True)
    reason: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime]


class MessageTemplate(TimestampMixin, db.Model):
    """Jinja templates of one message kind in one language, editable by admins."""

    __tablename__ = "message_templates"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    locale: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    # CN commercial email (MII Order 38) starts the subject with 「广告」 / "AD".
    ad_prefix: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  (SQLAlchemy reads it once)
