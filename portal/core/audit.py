"""The audit trail: one row per state change, written in the change's own transaction."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.extensions import db
from portal.core.timeutil import utc_now

BigId = BigInteger().with_variant(Integer, "sqlite")


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_subject", "subject_type", "subject_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    actor_label: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)

    def changes(self) -> list[tuple[str, Any, Any]]:
        """(field, before, after) for every field that differs, in a stable order."""
        before, after = self.before or {}, self.after or {}
        keys = sorted(set(before) | set(after))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


class Actor:
    """Who did something: a staff member, or a named system process (CLI, a job)."""

    def __init__(self, user_id: int | None, label: str, role: str | None = None) -> None:
        self.user_id = user_id
        self.label = label
        self.role = role  # None for system actors, which act with every permission

    @classmethod
    def system(cls, label: str) -> "Actor":
        return cls(None, label)

    @property
    def is_system(self) -> bool:
        return self.user_id is None

    def __repr__(self) -> str:
        return f"Actor({self.user_id!r}, {self.label!r}, {self.role!r})"


def record_event(
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: Any,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Add an event to the current transaction; the calling service commits it."""
    event = AuditEvent(
        occurred_at=at or utc_now(),
        actor_id=actor.user_id,
        actor_label=actor.label,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        before=before,
        after=after,
        reason=reason,
    )
    db.session.add(event)
    return event
