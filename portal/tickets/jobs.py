"""The clock watch job and the staff notifications it writes (the bell).

`tickets.clock_watch` warns the assignee of each open, running ticket that has used 80 % of
its time, and escalates each breached one to its team's lead (the marks themselves:
`watch`). A ticket is warned and escalated once per deadline: a new deadline (an extension, a
restart) re-arms both — but a US "in progress" given after the 15-day deadline re-arms only the
escalation, for the 60-day deadline, as the ticket is already late (`clock_changes`). Paused
and closed tickets are skipped. Each notification has a unique key, so running the job twice
— or two processes at once — adds nothing the second time.
"""

import logging
import threading
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from portal.core.extensions import db
from portal.core.logs import emit
from portal.core.timeutil import as_utc, utc_now
from portal.core.transaction import transaction
from portal.tickets import watch
from portal.tickets.channels.inbound import ingest
from portal.tickets.channels.mailbox import ImapSettings, poll
from portal.tickets.models import Ticket

log = logging.getLogger("portal.tickets.jobs")
BATCH = 500


def clock_watch(
    as_of: datetime | None = None, stop: threading.Event | None = None
) -> dict[str, Any]:
    """Warn at 80 %, escalate on breach; returns how many of each were written. Setting `stop`
    ends it between two batches (`"stopped": true`); the next run marks the rest."""
    now = as_of or utc_now()
    stop = stop or threading.Event()
    warned = _sweep(now, Ticket.warn_at, Ticket.warned_at, watch.WARNING, stop)
    escalated = _sweep(now, Ticket.due_at, Ticket.escalated_at, watch.BREACHED, stop)
    summary: dict[str, Any] = {"warned": warned, "escalated": escalated}
    if stop.is_set():
        summary["stopped"] = True
    emit(log, "clock_watch", **summary)
    return summary


def _sweep(now: datetime, when: Any, done: Any, action: str, stop: threading.Event) -> int:
    """Mark every due ticket, a batch per transaction, so a long sweep keeps what it did."""
    total = 0
    while not stop.is_set():
        with transaction():
            marked = _sweep_batch(now, when, done, action)
        db.session.expire_all()
        if not marked:
            return total
        total += marked
    return total


def _sweep_batch(now: datetime, when: Any, done: Any, action: str) -> int:
    tickets = list(
        db.session.scalars(
            select(Ticket)
            .where(
                Ticket.is_open.is_(True),
                when <= now,
                done.is_(None),
                Ticket.paused_since.is_(None),
            )
            .order_by(when, Ticket.id)
            .limit(BATCH)
        )
    )
    for ticket in tickets:
        watch.mark(ticket, action, as_utc(ticket.due_at), now)
        # Guarded by the deadline read: if a handler extended the clock meanwhile, this
        # marks nothing and the new deadline is watched afresh.
        db.session.execute(
            update(Ticket)
            .where(Ticket.id == ticket.id, Ticket.due_at == ticket.due_at)
            .values({done.key: now})
            .execution_options(synchronize_session=False)
        )
    return len(tickets)


def fetch_mail(
    as_of: datetime | None = None, stop: threading.Event | None = None
) -> dict[str, Any]:
    """Poll the IMAP mailbox once: each new message goes through inbound intake and is then
    moved to the processed folder. Intake keys messages by Message-ID, so a message fetched
    again after a crash between the two steps is not handled twice. Setting `stop` ends the
    poll after the message in hand."""
    settings = ImapSettings.from_config(current_app.config)
    if settings is None:
        return {"skipped": "IMAP_HOST is not set"}
    result = poll(settings, lambda raw: ingest(raw, "imap", as_of), stop=stop)
    return {"fetched": result.fetched, "done": result.done, "failed": result.failed}
