"""Every scheduled job, listed once with a stable id and its trigger.

Domains add their jobs here as they arrive; the function lives in `<domain>/jobs.py` and takes
the instant it runs "as of", so `flask jobs once ID --at ...` can replay any moment. A job
commits the work it keeps (anything left uncommitted when it returns is rolled back) and
returns a small JSON-able summary that is logged and stored with the run.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class JobDefinition:
    id: str
    func: str  # "package.module:function", imported when the job runs
    trigger: dict[str, Any]  # {"type": "cron", ...CronTrigger args} or {"type": "interval", ...}
    description: str
    lease_seconds: int = 15 * 60
    options: dict[str, Any] = field(default_factory=dict)


JOBS: list[JobDefinition] = [
    JobDefinition(
        id="jobs.prune_runs",
        func="portal.jobs.jobs:prune_runs",
        trigger={"type": "cron", "hour": 3, "minute": 17},
        description="Delete job-run records older than JOB_HISTORY_DAYS (default 90).",
        lease_seconds=10 * 60,
    ),
    JobDefinition(
        id="tickets.clock_watch",
        func="portal.tickets.jobs:clock_watch",
        trigger={"type": "interval", "minutes": 5},
        description="Warn assignees of tickets at 80 % of their time; escalate breaches to leads.",
        lease_seconds=5 * 60,
    ),
    JobDefinition(
        id="tickets.fetch_mail",
        func="portal.tickets.jobs:fetch_mail",
        trigger={"type": "interval", "minutes": 1},
        description="Fetch new email from the IMAP mailbox (IMAP_HOST) into tickets.",
        lease_seconds=10 * 60,
    ),
    JobDefinition(
        id="messaging.deliver",
        func="portal.messaging.jobs:deliver",
        trigger={"type": "interval", "seconds": 30},
        description="Send due outbox messages (SMTP or .eml files); retry, fail, suppress.",
        lease_seconds=10 * 60,
    ),
    JobDefinition(
        id="care.plan",
        func="portal.care.jobs:plan",
        trigger={"type": "interval", "minutes": 10},
        description="Queue today's birthday, festival and repayment-reminder messages per zone.",
        lease_seconds=15 * 60,
        options={"run_at_start": True},
    ),
]
