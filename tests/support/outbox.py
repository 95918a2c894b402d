"""An outbox filled and read straight through SQL, for the tests that run real processes."""

from datetime import UTC, datetime, timedelta
from email.utils import make_msgid
from typing import Any

import sqlalchemy as sa

from portal.messaging.models import Message


def fill_outbox(engine: sa.Engine, count: int) -> set[str]:
    """`count` ready-made greetings, due a minute ago; returns their Message-IDs."""
    now = datetime.now(UTC)
    rows = [
        {
            "dedupe_key": f"process-test:{number}",
            "purpose": "care",
            "kind": "birthday",
            "transactional": False,
            "to_address": f"customer{number}@mail.example.com",
            "locale": "en",
            "subject": f"Happy birthday, customer {number}",
            "body_text": "Many happy returns.",
            "body_html": "<p>Many happy returns.</p>",
            "headers": {},
            "message_id": make_msgid(domain="portal.test"),
            "status": "queued",
            "attempts": 0,
            "next_attempt_at": now - timedelta(minutes=1),
            "created_at": now - timedelta(minutes=2),
        }
        for number in range(count)
    ]
    with engine.begin() as connection:
        connection.execute(sa.insert(Message.__table__), rows)
    return {row["message_id"] for row in rows}


def outbox_rows(engine: sa.Engine) -> list[Any]:
    table = Message.__table__
    with engine.connect() as connection:
        return list(connection.execute(sa.select(table).order_by(table.c.id)))
