"""Every scheduled job, listed once with a stable id and its trigger.

Each room lists its jobs in its `init_app(app)` with `register_jobs`, naming the function by
string ("package.module:function", imported when the job runs), so listing a job imports
nothing. The function lives in `<room>/jobs.py` and takes the instant it runs "as of", so
`flask jobs once ID --at ...` can replay any moment. A job keeps its work with the use cases
it calls (or one transaction per batch) and returns a small JSON-able summary that is logged
and stored with the run. A job that works in batches also takes `stop` (a threading.Event set
when the scheduler is told to stop), checks it between batches and then returns what it did.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from portal.core.registry import contribute, contributions

JOBS = "jobs"


@dataclass(frozen=True)
class JobDefinition:
    id: str
    func: str  # "package.module:function", imported when the job runs
    trigger: dict[str, Any]  # {"type": "cron", ...CronTrigger args} or {"type": "interval", ...}
    description: str
    lease_seconds: int = 15 * 60
    options: dict[str, Any] = field(default_factory=dict)


def register_jobs(app: Flask, jobs: Iterable[JobDefinition]) -> None:
    """Add a room's jobs to the app's list; a job id may be listed once only."""
    listed = contributions(JOBS, app)
    for job in jobs:
        if job.id in listed:
            raise ValueError(f"job {job.id!r} is listed twice")
        contribute(app, JOBS, job.id, job)


def registered_jobs(app: Flask) -> dict[str, JobDefinition]:
    return dict(contributions(JOBS, app))


HOUSEKEEPING = [
    JobDefinition(
        id="jobs.prune_runs",
        func="portal.jobs.jobs:prune_runs",
        trigger={"type": "cron", "hour": 3, "minute": 17},
        description="Delete job-run records older than JOB_HISTORY_DAYS (default 90).",
        lease_seconds=10 * 60,
    ),
]
