"""Tickets: intake, status, clocks, assignment, notes, merging, optimistic locking."""

from datetime import UTC, datetime

import pytest

from portal.accounts.services import actor_for
from portal.tickets import services
from tests.factories import make_user


def intake(actor, **overrides):
    values = {
        "kind": "complaint",
        "subject": "Late fee charged after payment",
        "channel_code": "A0303",
        "business_code": "B0302",
        "cause_code": "C07",
    }
    values.update(overrides)
    return services.create_ticket(actor, services.TicketInput(**values))


@pytest.fixture
def handler(db):
    return actor_for(make_user(role="handler", name="Hana Handler"))


def test_a_complaint_gets_a_reference_and_cn_deadlines(app, handler):
    received = datetime(2026, 9, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, 2026-09-20
    first = intake(handler, received_at=received)
    second = intake(handler, received_at=received)
    assert first.reference == "CMP-2026-000001"
    assert second.reference == "CMP-2026-000002"
    # 15 days from 09-21 end on 10-05, inside the National Day break: rolls to 10-08 (Thu).
    assert first.due_at == datetime(2026, 10, 8, 16, 0, tzinfo=UTC)
    assert first.profile == "CN" and first.status == "new" and first.is_open
    assert first.warn_at < first.due_at
    events = [e.action for e in services.events_of(first.id)]
    assert events == ["created"]
