"""Scheduled care work: planning each local day's birthday, festival and reminder messages."""

import threading
from datetime import datetime
from typing import Any

from portal.care.planner import plan_day


def plan(as_of: datetime, stop: threading.Event | None = None) -> dict[str, Any]:
    """Queue the care messages of "today" in every customer's zone as of `as_of`.

    Idempotent (each message has a natural dedupe key), so the scheduler runs it often: a new
    local day is picked up within one interval wherever it begins, and a restart or a replay
    (`flask jobs once care.plan --at ...`) adds only what is missing — also after a run that
    `stop` ended early.
    """
    return plan_day(as_of, stop)
