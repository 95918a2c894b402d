"""Complaint, feedback, inquiry and compliment tickets, their events and what surrounds them."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.audit import BigId
from portal.core.extensions import db
from portal.core.models import TimestampMixin


class Kind(StrEnum):
    COMPLAINT = "complaint"
    FEEDBACK = "feedback"
    INQUIRY = "inquiry"
    COMPLIMENT = "compliment"


REFERENCE_PREFIX = {
    Kind.COMPLAINT: "CMP",
    Kind.FEEDBACK: "FBK",
    Kind.INQUIRY: "INQ",
    Kind.COMPLIMENT: "CPL",
}


class Status(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting_on_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


OPEN_STATUSES = (Status.NEW, Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.WAITING)


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class RedressKind(StrEnum):
    NONE = "none"
    REFUND = "refund"
    FEE_WAIVER = "fee_waiver"
    COMPENSATION = "compensation"
    GOODWILL = "goodwill"
    CORRECTION = "correction"
    OTHER = "other"


class Axis(StrEnum):
    CHANNEL = "A"
    BUSINESS = "B"
    CAUSE = "C"


# CN decision notices tell the complainant the remedies open to them (docs/regulation.md).
REMEDIES = ("review", "mediation", "arbitration", "litigation")


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Team(TimestampMixin, db.Model):
    """A complaint-handling team; breached tickets escalate to its lead."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class TeamMember(db.Model):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TaxonomyNode(TimestampMixin, db.Model):
    """One code on a JR/T 0169 axis: A channel, B business type, C cause. Admins may add
    codes and relabel or retire them; a code, once used, is never deleted."""

    __tablename__ = "taxonomy_nodes"
    __table_args__ = (
        CheckConstraint(_in("axis", Axis), name="axis_known"),
        Index("ix_taxonomy_nodes_axis_position", "axis", "position", "code"),
    )

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    axis: Mapped[str] = mapped_column(String(1))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("taxonomy_nodes.code"))
    label_en: Mapped[str] = mapped_column(String(120))
    label_zh: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    def label(self, locale: str) -> str:
        return self.label_zh if locale.startswith("zh") else self.label_en


class Ticket(TimestampMixin, db.Model):
    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint(_in("kind", Kind), name="kind_known"),
        CheckConstraint(_in("status", Status), name="status_known"),
        CheckConstraint(_in("severity", Severity), name="severity_known"),
        CheckConstraint(
            f"redress_kind IS NULL OR {_in('redress_kind', RedressKind)}", name="redress_known"
        ),
        CheckConstraint("extensions >= 0 AND paused_days >= 0", name="clock_counts"),
        UniqueConstraint("source", "external_id", name="source_external_id"),
        # The queue: open tickets by due date, alone and under each single filter, so that a
        # page is one index range read however many tickets there are.
        # Also covers the sidebar's counts over open tickets (read from the index alone).
        Index(
            "ix_tickets_open_due",
            "is_open",
            "due_at",
            "id",
            "assignee_id",
            "status",
            "paused_since",
        ),
        Index("ix_tickets_due", "due_at", "id"),  # any status, by due date
        Index("ix_tickets_open_received", "is_open", "received_at", "id"),
        Index("ix_tickets_status_due", "status", "due_at", "id"),
        Index("ix_tickets_assignee_due", "assignee_id", "is_open", "due_at", "id"),
        Index("ix_tickets_team_due", "team_id", "is_open", "due_at", "id"),
        Index("ix_tickets_severity_due", "severity", "is_open", "due_at", "id"),
        Index("ix_tickets_kind_due", "kind", "is_open", "due_at", "id"),
        Index("ix_tickets_channel_due", "channel_code", "is_open", "due_at", "id"),
        Index("ix_tickets_business_due", "business_code", "is_open", "due_at", "id"),
        Index("ix_tickets_cause_due", "cause_code", "is_open", "due_at", "id"),
        Index("ix_tickets_received", "received_at", "id"),
        Index("ix_tickets_customer_received", "customer_id", "received_at", "id"),
        # An RM's queue: their customers' open tickets, without reading the closed history.
        Index("ix_tickets_customer_open_due", "customer_id", "is_open", "due_at", "id"),
        Index("ix_tickets_open_warn", "is_open", "warn_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reference: Mapped[str] = mapped_column(String(24), unique=True)
    kind: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(20), default=Status.NEW.value)
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    customer_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="SET NULL")
    )
    account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("credit_accounts.id", ondelete="SET NULL")
    )
    product: Mapped[str | None] = mapped_column(String(120))
    channel_code: Mapped[str] = mapped_column(ForeignKey("taxonomy_nodes.code"))
    business_code: Mapped[str] = mapped_column(ForeignKey("taxonomy_nodes.code"))
    cause_code: Mapped[str] = mapped_column(ForeignKey("taxonomy_nodes.code"))
    severity: Mapped[str] = mapped_column(String(10), default=Severity.MEDIUM.value)
    subject: Mapped[str] = mapped_column(String(200))
    request: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    registered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution: Mapped[str | None] = mapped_column(Text)
    redress_kind: Mapped[str | None] = mapped_column(String(16))
    redress_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    root_cause: Mapped[str | None] = mapped_column(Text)
    remedies_told: Mapped[list[str] | None] = mapped_column(JSON)
    company_response: Mapped[str | None] = mapped_column(String(64))  # US categories
    # US: whether the first company response ("in progress" or the closing one) came by the
    # 15-day deadline, the CFPB's "Timely response?"; None until it is given, and for CN/UK.
    timely: Mapped[bool | None]
    merged_into_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tickets.id"))
    # A complainant who is not (yet) a known customer: the public form and inbound email.
    prospect_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("prospects.id", ondelete="SET NULL"), index=True
    )

    # The regulatory clock, stamped at receipt (docs/regulation.md) ...
    profile: Mapped[str] = mapped_column(String(4))
    received_at: Mapped[datetime]
    counting_from: Mapped[date | None] = mapped_column(Date)
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    paused_since: Mapped[datetime | None]
    paused_days: Mapped[int] = mapped_column(Integer, default=0)
    # The regulatory deadline (the SLA's for kinds without one); while a CN clock is paused it
    # stays at its value when the pause began, and the paused days are added on resume.
    due_at: Mapped[datetime]
    summary_due_at: Mapped[datetime | None]  # UK: end of the 3-business-day window
    # ... and the internal SLA in business hours, which pauses while waiting on the customer.
    sla_due_at: Mapped[datetime | None]
    sla_paused_since: Mapped[datetime | None]
    sla_paused_hours: Mapped[float] = mapped_column(Float, default=0.0)
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    warn_at: Mapped[datetime | None]  # 80 % of the time from receipt to due_at
    warned_at: Mapped[datetime | None]  # clock watch: 80 % warning sent for this due date
    escalated_at: Mapped[datetime | None]  # clock watch: breach escalated for this due date

    # Where the ticket came from: staff intake, or an import keeping the original fields.
    source: Mapped[str] = mapped_column(String(16), default="staff")
    external_id: Mapped[str | None] = mapped_column(String(64))
    original: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  (SQLAlchemy reads it once)


class TicketEvent(db.Model):
    """The ticket's history: every change, note, response and clock event, with who and why.
    Notes are internal; responses are what the customer was told."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(32))
    body: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ReferenceCounter(db.Model):
    """The last reference number given per prefix and year: CMP-2026-000123."""

    __tablename__ = "ticket_reference_counters"

    prefix: Mapped[str] = mapped_column(String(4), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class SavedView(TimestampMixin, db.Model):
    """A queue filter a handler named and keeps, stored as its query string."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("user_id", "name", name="user_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60))
    query: Mapped[str] = mapped_column(String(1000))


class Notification(db.Model):
    """A message to a staff member in the portal (the bell). The key makes a job that
    notifies idempotent: the same warning for the same due date is written once."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE")
    )
    message: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class Prospect(TimestampMixin, db.Model):
    """Someone who wrote in through the public form or by email and could not be matched to a
    customer. A handler links the prospect to a customer later; the tickets follow."""

    __tablename__ = "prospects"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    locale: Mapped[str] = mapped_column(String(16), default="en")
    customer_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="SET NULL")
    )


class NoticeKind(StrEnum):
    """What the firm tells the complainant, and when (docs/regulation.md)."""

    ACKNOWLEDGEMENT = "acknowledgement"
    EXTENSION = "extension"  # CN 30 / 60 days, with the reason and the new deadline
    PAUSE = "pause"  # CN appraisal pause
    RESUME = "resume"
    HOLDING = "holding"  # UK: not yet resolved within 8 weeks, or a holding response
    DECISION = "decision"  # CN decision, UK final response, US response: outcome and remedies
    SUMMARY = "summary_resolution"  # UK, resolved by the end of the third business day
    REPLY = "reply"  # a handler's own words


class SentVia(StrEnum):
    EMAIL = "email"
    POST = "post"
    PHONE = "phone"
    IN_PERSON = "in_person"
    OTHER = "other"


class TicketNotice(db.Model):
    """A notice given to the complainant: an email in the outbox, or one a handler records as
    given another way (a letter, a call). Closing a complaint checks these."""

    __tablename__ = "ticket_notices"
    __table_args__ = (
        CheckConstraint(_in("kind", NoticeKind), name="kind_known"),
        CheckConstraint(_in("sent_via", SentVia), name="sent_via_known"),
        Index("ix_ticket_notices_ticket", "ticket_id", "kind", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    sent_via: Mapped[str] = mapped_column(String(12))
    outbox_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime]
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)


class TicketMailId(db.Model):
    """A Message-ID of an email in a ticket's thread, sent or received: a reply's
    In-Reply-To or References finds its ticket here with one key lookup."""

    __tablename__ = "ticket_mail_ids"

    message_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    outbound: Mapped[bool] = mapped_column(Boolean)


class InboundStatus(StrEnum):
    OPENED = "opened"  # opened a new ticket
    THREADED = "threaded"  # added to an existing ticket
    AUTOMATIC = "automatic"  # an auto-reply, bounce or loop: kept, never answered
    UNSUBSCRIBE = "unsubscribe"  # the mailto: of a List-Unsubscribe header, carried out
    QUARANTINED = "quarantined"  # could not be handled: waits for an admin
    DISMISSED = "dismissed"  # an admin looked at it and set it aside


class InboundMail(db.Model):
    """Every email received, once: the key (its Message-ID, else a hash of its bytes) makes a
    second delivery of the same message — a job run twice, a pipe retried — change nothing.
    The raw bytes are kept as received, as evidence and so that nothing is ever lost."""

    __tablename__ = "inbound_mails"
    __table_args__ = (
        CheckConstraint(_in("status", InboundStatus), name="status_known"),
        Index("ix_inbound_mails_status", "status", "id"),
        Index("ix_inbound_mails_sender_received", "sender", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    received_at: Mapped[datetime]
    channel: Mapped[str] = mapped_column(String(8))  # pipe or imap
    message_id: Mapped[str | None] = mapped_column(String(250))
    sender: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(String(500))
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    size: Mapped[int] = mapped_column(Integer)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)


class HeldStatus(StrEnum):
    HELD = "held"  # waits for a handler: out of the queue, the counts and every clock
    RELEASED = "released"  # a handler released it: it became a ticket
    DISCARDED = "discarded"  # a handler judged it spam: kept, with the reason, never a ticket


class Trap(StrEnum):
    """What made the public form take a submission for a bot's."""

    TRAP_FIELD = "trap_field"  # the field hidden from people was filled in
    TIME_STAMP = "time_stamp"  # the signed time stamp was missing or altered
    TOO_FAST = "too_fast"  # sent back sooner after it was served than a person could


class HeldSubmission(db.Model):
    """A public-form submission the bot traps caught, kept as suspected spam instead of being
    dropped: no ticket, no reference, no prospect, no acknowledgement until a handler releases
    it (`channels.suspected_spam`), which registers the ticket as the form would have, received
    at `received_at`. A discarded one stays with its reason for the record. The values are the
    form's, already checked as the form checks them."""

    __tablename__ = "held_submissions"
    __table_args__ = (
        CheckConstraint(_in("status", HeldStatus), name="status_known"),
        CheckConstraint(_in("trap", Trap), name="trap_known"),
        Index("ix_held_submissions_status", "status", "id"),
        # The per-sender daily cap counts waiting submissions with the sender's tickets.
        Index("ix_held_submissions_email_received", "email", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12), default=HeldStatus.HELD.value)
    trap: Mapped[str] = mapped_column(String(12))
    seconds: Mapped[float | None] = mapped_column(Float)  # served to sent, when too fast
    kind: Mapped[str] = mapped_column(String(12))  # the ticket kind it becomes
    about: Mapped[str] = mapped_column(String(16))  # the form's product choice
    description: Mapped[str] = mapped_column(Text)
    request: Mapped[str] = mapped_column(Text, default="")
    account_hint: Mapped[str] = mapped_column(String(120), default="")
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))  # None once erased
    phone: Mapped[str | None] = mapped_column(String(40))
    customer_number: Mapped[str] = mapped_column(String(32), default="")
    locale: Mapped[str] = mapped_column(String(16), default="en")
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by: Mapped[str | None] = mapped_column(String(120))  # the actor's label
    reason: Mapped[str | None] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="SET NULL")
    )
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  (SQLAlchemy reads it once)


class ReplyTemplate(TimestampMixin, db.Model):
    """A canned response a handler inserts into a reply: for one cause (or any) and one
    language, with placeholders for the customer's name, the reference and the deadline."""

    __tablename__ = "reply_templates"
    __table_args__ = (
        UniqueConstraint("name", "locale", name="name_locale"),
        Index("ix_reply_templates_cause", "cause_code", "locale"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    locale: Mapped[str] = mapped_column(String(16))
    cause_code: Mapped[str | None] = mapped_column(ForeignKey("taxonomy_nodes.code"))
    body: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
