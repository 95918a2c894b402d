"""Timestamps are stored and read back as aware UTC on every database."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from portal.core.audit import Actor, AuditEvent, record_event
from portal.core.timeutil import parse_instant


def test_aware_datetimes_round_trip_as_utc(db) -> None:
    shanghai = timezone(timedelta(hours=8))
    event = record_event(
        Actor.system("t"), "t.x", "t", 1, at=datetime(2026, 3, 1, 8, 30, tzinfo=shanghai)
    )
    db.session.commit()
    db.session.expire_all()
    stored = db.session.scalar(select(AuditEvent.occurred_at).where(AuditEvent.id == event.id))
    assert stored == datetime(2026, 3, 1, 0, 30, tzinfo=UTC)
    assert stored.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(db) -> None:
    record_event(Actor.system("t"), "t.x", "t", 1, at=datetime(2026, 3, 1))  # noqa: DTZ001
    with pytest.raises(StatementError, match="naive datetime"):
        db.session.commit()
    db.session.rollback()


def test_instants_without_offset_are_read_as_utc() -> None:
    assert parse_instant("2026-01-01T00:00") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_instant("2026-01-01T08:00+08:00") == datetime(2026, 1, 1, tzinfo=UTC)
