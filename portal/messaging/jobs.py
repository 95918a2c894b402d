"""Scheduled messaging work: delivering the outbox."""

import threading
from datetime import datetime
from typing import Any

from portal.messaging.delivery import deliver_due


def deliver(as_of: datetime, stop: threading.Event | None = None) -> dict[str, Any]:
    """Send everything due as of `as_of` until nothing more is due, or until `stop` is set
    (then the rest of the batch in hand is handed back); returns the counts.

    The job's lease keeps two schedulers from running it at once; extra workers started with
    `flask messaging deliver` claim other rows beside it, never the same ones.
    """
    return deliver_due(as_of, stop=stop).as_dict()
