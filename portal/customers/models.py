"""Customers and what the portal records about them."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.audit import BigId
from portal.core.extensions import db
from portal.core.models import TimestampMixin


class Segment(StrEnum):
    MASS = "mass"
    AFFLUENT = "affluent"
    PRIVATE = "private"
    SMALL_BUSINESS = "small_business"


class Product(StrEnum):
    PERSONAL_LOAN = "personal_loan"
    CREDIT_CARD = "credit_card"
    MORTGAGE = "mortgage"
    AUTO_LOAN = "auto_loan"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    IN_ARREARS = "in_arrears"
    CLOSED = "closed"
    CHARGED_OFF = "charged_off"


class Channel(StrEnum):
    CALL = "call"
    VISIT = "visit"
    EMAIL = "email"
    CHAT = "chat"
    SMS = "sms"


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class Outcome(StrEnum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    LEFT_MESSAGE = "left_message"
    RESOLVED = "resolved"
    FOLLOW_UP = "follow_up"
    DECLINED = "declined"


class FollowUpStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


CONSENT_PURPOSES = ("care", "survey", "service")
FLAGS = ("in_arrears", "hardship", "vulnerable", "deceased", "do_not_contact")


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Customer(TimestampMixin, db.Model):
    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint(_in("segment", Segment), name="segment_known"),
        Index("ix_customers_owner_name", "owner_id", "name", "id"),
        Index("ix_customers_name_id", "name", "id"),
        Index("ix_customers_owner_last_contact", "owner_id", "last_contact_at"),
        Index(
            "ix_customers_number_prefix", "number", postgresql_ops={"number": "text_pattern_ops"}
        ),
        Index("ix_customers_email_prefix", "email", postgresql_ops={"email": "text_pattern_ops"}),
        Index("ix_customers_phone_prefix", "phone", postgresql_ops={"phone": "text_pattern_ops"}),
        Index(
            "ix_customers_phone_reversed_prefix",
            "phone_reversed",
            postgresql_ops={"phone_reversed": "text_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    phone_reversed: Mapped[str | None] = mapped_column(String(32))
    id_number: Mapped[str | None] = mapped_column(String(32))
    birthday: Mapped[date | None] = mapped_column(Date)
    locale: Mapped[str] = mapped_column(String(16), default="zh_Hans")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    segment: Mapped[str] = mapped_column(String(32), default=Segment.MASS.value)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    consent_care: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_survey: Mapped[bool] = mapped_column(Boolean, default=True)
    consent_service: Mapped[bool] = mapped_column(Boolean, default=True)
    in_arrears: Mapped[bool] = mapped_column(Boolean, default=False)
    hardship: Mapped[bool] = mapped_column(Boolean, default=False)
    vulnerable: Mapped[bool] = mapped_column(Boolean, default=False)
    deceased: Mapped[bool] = mapped_column(Boolean, default=False)
    do_not_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    last_contact_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  (SQLAlchemy reads it once)

    def flags(self) -> list[str]:
        return [flag for flag in FLAGS if getattr(self, flag)]

    def consents(self) -> dict[str, bool]:
        return {purpose: getattr(self, f"consent_{purpose}") for purpose in CONSENT_PURPOSES}


class CustomerSearchTerm(db.Model):
    """Pieces of a customer's name that a partial search may type, for index-only lookups.

    Chinese names keep every substring (a name has at most a handful of characters); words in
    other scripts keep every prefix of every word. A search then is one index range scan on
    (term, customer_id) instead of a LIKE '%…%' over the whole customers table.
    """

    __tablename__ = "customer_search_terms"
    # Rewriting or erasing one customer's terms must not scan every customer's.
    __table_args__ = (Index("ix_customer_search_terms_customer", "customer_id"),)

    term: Mapped[str] = mapped_column(String(24), primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )


class CreditAccount(TimestampMixin, db.Model):
    __tablename__ = "credit_accounts"
    __table_args__ = (
        CheckConstraint(_in("product", Product), name="product_known"),
        CheckConstraint(_in("status", AccountStatus), name="status_known"),
        Index("ix_credit_accounts_next_due", "next_due_on", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(40), unique=True)
    product: Mapped[str] = mapped_column(String(24))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    principal: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    balance: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    next_due_on: Mapped[date | None] = mapped_column(Date)
    next_due_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    status: Mapped[str] = mapped_column(String(16), default=AccountStatus.ACTIVE.value)
    opened_on: Mapped[date | None] = mapped_column(Date)


class Interaction(TimestampMixin, db.Model):
    """One contact with a customer: a call, visit, email, chat or SMS."""

    __tablename__ = "interactions"
    __table_args__ = (
        CheckConstraint(_in("channel", Channel), name="channel_known"),
        CheckConstraint(_in("direction", Direction), name="direction_known"),
        CheckConstraint(_in("outcome", Outcome), name="outcome_known"),
        Index("ix_interactions_customer_time", "customer_id", "occurred_at", "id"),
        Index("ix_interactions_author_time", "author_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(8))
    direction: Mapped[str] = mapped_column(String(8), default=Direction.OUTBOUND.value)
    occurred_at: Mapped[datetime]
    summary: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    edited_at: Mapped[datetime | None]


class FollowUp(TimestampMixin, db.Model):
    __tablename__ = "follow_ups"
    __table_args__ = (
        CheckConstraint(_in("status", FollowUpStatus), name="status_known"),
        Index("ix_follow_ups_owner_open_due", "owner_id", "status", "due_on"),
        Index("ix_follow_ups_customer_created", "customer_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id", ondelete="CASCADE"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    interaction_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("interactions.id", ondelete="SET NULL")
    )
    due_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default=FollowUpStatus.OPEN.value)
    done_at: Mapped[datetime | None]
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class CustomerImport(db.Model):
    """One run of a customer import, with the rows it refused, for the report and error CSV."""

    __tablename__ = "customer_imports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(120))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    encoding: Mapped[str | None] = mapped_column(String(16))
    rows_total: Mapped[int] = mapped_column(default=0)
    customers_created: Mapped[int] = mapped_column(default=0)
    customers_updated: Mapped[int] = mapped_column(default=0)
    accounts_created: Mapped[int] = mapped_column(default=0)
    accounts_updated: Mapped[int] = mapped_column(default=0)
    rows_failed: Mapped[int] = mapped_column(default=0)
    fatal_error: Mapped[str | None] = mapped_column(Text)
    errors: Mapped[list[dict[str, object]] | None] = mapped_column(JSON)
