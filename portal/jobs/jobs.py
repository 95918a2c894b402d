"""The scheduler's own housekeeping job."""

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete

from portal.core.extensions import db
from portal.core.transaction import transaction
from portal.jobs.models import JobRun


def prune_runs(as_of: datetime) -> dict[str, Any]:
    """Remove run records older than the retention window; idempotent by nature.

    A run still marked running after the whole window belonged to a process that died.
    """
    days = int(current_app.config["JOB_HISTORY_DAYS"])
    cutoff = as_of - timedelta(days=days)
    with transaction():
        deleted = db.session.execute(delete(JobRun).where(JobRun.started_at < cutoff)).rowcount
    return {"deleted": deleted, "cutoff": cutoff.isoformat()}
