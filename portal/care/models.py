"""Care rules (birthday, festival and repayment-reminder messages) and one-off campaigns."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.extensions import db
from portal.core.models import TimestampMixin


class RuleKey(StrEnum):
    BIRTHDAY = "birthday"
    FESTIVAL = "festival"
    REMINDER = "reminder"


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    QUEUED = "queued"  # sent to the outbox, once


class CareRule(TimestampMixin, db.Model):
    """A scheduled care message: birthday, festival or repayment-reminder greetings.

    A rule only sends for days on or after `enabled_on`, so switching it on (or back on) never
    floods messages for days already past.
    """

    __tablename__ = "care_rules"

    key: Mapped[str] = mapped_column(String(24), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled_on: Mapped[date | None] = mapped_column(Date)
    template_key: Mapped[str] = mapped_column(String(40))
    send_hour: Mapped[int] = mapped_column(Integer, default=9)  # in the customer's local time
    days_before: Mapped[str] = mapped_column(String(40), default="")  # reminders: "7,1"
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  (SQLAlchemy reads it once)

    def lead_days(self) -> list[int]:
        """The reminder's "7,1" as [7, 1]; anything unreadable is left out (saving checks it)."""
        return sorted(
            {int(part) for part in self.days_before.split(",") if part.strip().isdigit()},
            reverse=True,
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "enabled_on": self.enabled_on.isoformat() if self.enabled_on else None,
            "template_key": self.template_key,
            "send_hour": self.send_hour,
            "days_before": self.days_before,
        }


class Campaign(TimestampMixin, db.Model):
    """A one-off message to an audience (a service notice, a financial-education note)."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    purpose: Mapped[str] = mapped_column(String(12))
    template_key: Mapped[str] = mapped_column(String(40))
    audience: Mapped[dict[str, Any]] = mapped_column(JSON)  # e.g. {"segment": "affluent"}
    status: Mapped[str] = mapped_column(String(12), default=CampaignStatus.DRAFT.value)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    queued_at: Mapped[datetime | None]
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # counts by status and reason
