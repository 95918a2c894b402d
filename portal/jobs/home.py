"""The scheduler's health on an admin's home (core's home page, `portal/core/home.py`): every
registered job with its last run, and the runs that failed in the last day."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from portal.core.access import Role
from portal.core.audit import Actor
from portal.core.extensions import db
from portal.core.home import Panel
from portal.jobs.models import JobRun
from portal.jobs.registry import JobDefinition
from portal.jobs.runner import last_runs, load_registry

FAILURE_WINDOW = timedelta(days=1)
ROLES = (Role.ADMIN,)


@dataclass(frozen=True)
class JobState:
    job: JobDefinition
    last: JobRun | None
    failed_last_day: int
    last_failure: JobRun | None  # the latest failed run in the last day


def job_runs(_actor: Actor, now: datetime) -> Panel:
    registry = load_registry(current_app)
    latest = last_runs(list(registry))
    since = now - FAILURE_WINDOW
    failed = dict(
        db.session.execute(
            select(JobRun.job_id, func.count())
            .where(JobRun.outcome == "failed", JobRun.started_at >= since)
            .group_by(JobRun.job_id)
        ).all()
    )
    states = []
    for job_id, job in registry.items():
        last_failure = None
        if failed.get(job_id):
            last_failure = db.session.scalar(
                select(JobRun)
                .where(JobRun.job_id == job_id, JobRun.outcome == "failed")
                .order_by(JobRun.started_at.desc())
                .limit(1)
            )
        states.append(JobState(job, latest.get(job_id), failed.get(job_id, 0), last_failure))
    return Panel("jobs/_home_runs.html", states)
