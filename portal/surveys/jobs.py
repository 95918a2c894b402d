"""Scheduled survey work: planning invitations, reminders and expiry."""

import threading
from datetime import datetime
from typing import Any

from portal.surveys.planner import plan as plan_invitations


def plan(as_of: datetime, stop: threading.Event | None = None) -> dict[str, Any]:
    """Invite for what each active programme owes as of `as_of`, remind once, expire.

    Idempotent (every invitation and message has a natural dedupe key), so the scheduler runs
    it often, and a restart or a replay (`flask surveys plan --at ...`) adds only what is
    missing — also after a run that `stop` ended early.
    """
    return plan_invitations(as_of, stop)
