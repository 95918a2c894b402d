"""The outbox's health on an admin's home (core's home page, `portal/core/home.py`).

How many messages are in each state (each count capped, read on the delivery index), the
oldest message due and still unsent (how far delivery lags), and the messages that failed in
the last day: a failed message keeps the time its last attempt was due, which stands for when
it failed.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, literal_column, select

from portal.core.access import Role
from portal.core.audit import Actor
from portal.core.extensions import db
from portal.core.home import Panel
from portal.messaging.models import DELIVERABLE, Message, MessageStatus

COUNT_CAP = 10_000
FAILURES_SHOWN = 5
FAILURE_WINDOW = timedelta(days=1)
ROLES = (Role.ADMIN,)


@dataclass(frozen=True)
class OutboxHealth:
    counts: dict[str, int]  # by status, each up to COUNT_CAP + 1
    oldest_due: datetime | None  # the earliest due time of a message waiting to be sent
    failed_last_day: int  # up to COUNT_CAP + 1
    failures: list[Message]  # the latest of them
    cap: int = COUNT_CAP


def _count(*conditions: object) -> int:
    capped = (
        select(literal_column("1")).select_from(Message).where(*conditions).limit(COUNT_CAP + 1)
    )
    return db.session.scalar(select(func.count()).select_from(capped.subquery())) or 0


def outbox_health(_actor: Actor, now: datetime) -> Panel:
    counts = {status.value: _count(Message.status == status.value) for status in MessageStatus}
    oldest_due = db.session.scalar(
        select(func.min(Message.next_attempt_at)).where(
            Message.status.in_([status.value for status in DELIVERABLE]),
            Message.next_attempt_at <= now,
        )
    )
    failed = (
        Message.status == MessageStatus.FAILED.value,
        Message.next_attempt_at >= now - FAILURE_WINDOW,
    )
    failures = list(
        db.session.scalars(
            select(Message)
            .where(*failed)
            .order_by(Message.next_attempt_at.desc(), Message.id.desc())
            .limit(FAILURES_SHOWN)
        )
    )
    return Panel(
        "messaging/_home_outbox.html",
        OutboxHealth(counts, oldest_due, _count(*failed), failures),
    )
