"""Run registered jobs: one at a time per job across every process, each run logged and recorded.

A run takes a lease row in the database before it starts. Taking it is a single INSERT, or an
UPDATE of an expired row, so two processes racing for it cannot both win on SQLite or
PostgreSQL. While the job runs, a keeper thread extends the lease; a crashed process simply
stops extending it, and the lease expires for the next taker.

A run can be asked to stop: the scheduler sets its stop event on SIGTERM or Ctrl-C, and a job
whose function takes a `stop` argument gets that event, checks it between its batches and
returns early with what it did so far, handing back anything it claimed. The run is then
recorded as "stopped" with that partial summary. A job without the argument runs to its end.
"""

import importlib
import inspect
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from portal.core.extensions import db
from portal.core.logs import emit
from portal.core.timeutil import utc_now
from portal.core.transaction import transaction
from portal.jobs.models import JobLease, JobRun
from portal.jobs.registry import JobDefinition, registered_jobs

log = logging.getLogger("portal.jobs")


class UnknownJob(LookupError):
    pass


def process_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def load_registry(app: Flask | None = None) -> dict[str, JobDefinition]:
    """The jobs the rooms registered, or the list that JOB_REGISTRY names instead (tests)."""
    app = app or current_app
    target = app.config.get("JOB_REGISTRY")
    if not target:
        return registered_jobs(app)
    module_name, _, attribute = target.partition(":")
    jobs = getattr(importlib.import_module(module_name), attribute)
    registry = {job.id: job for job in jobs}
    if len(registry) != len(jobs):
        raise ValueError(f"duplicate job ids in {target}")
    return registry


def _resolve(path: str) -> Any:
    module_name, _, name = path.partition(":")
    return getattr(importlib.import_module(module_name), name)


def _emit(event: str, **fields: Any) -> None:
    emit(log, event, **fields)


def takes_stop(func: Any) -> bool:
    """Whether a job function accepts the stop event (a `stop` parameter)."""
    try:
        return "stop" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def acquire_lease(job_id: str, holder: str, seconds: int) -> bool:
    """Take the job's lease: insert it, or take it over once it has expired."""
    now = utc_now()
    expires = now + timedelta(seconds=seconds)
    try:
        with transaction():
            db.session.execute(
                insert(JobLease).values(
                    job_id=job_id, holder=holder, acquired_at=now, expires_at=expires
                )
            )
        return True
    except IntegrityError:
        pass  # someone holds it, or held it and died: only an expired lease is taken over
    with transaction():
        taken = db.session.execute(
            update(JobLease)
            .where(JobLease.job_id == job_id, JobLease.expires_at < now)
            .values(holder=holder, acquired_at=now, expires_at=expires)
        ).rowcount
    return taken == 1


def release_lease(job_id: str, holder: str) -> None:
    with transaction():
        db.session.execute(
            delete(JobLease).where(JobLease.job_id == job_id, JobLease.holder == holder)
        )


def current_lease(job_id: str) -> JobLease | None:
    return db.session.get(JobLease, job_id)


class _LeaseKeeper(threading.Thread):
    """Extends the lease every third of its length while the job runs."""

    def __init__(self, job_id: str, holder: str, seconds: int) -> None:
        super().__init__(name=f"lease-{job_id}", daemon=True)
        self.job_id, self.holder, self.seconds = job_id, holder, seconds
        # A connection of its own: the session belongs to the job's thread and its app context.
        self.engine = db.engine
        self.stopped = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self.stopped.wait(max(self.seconds / 3, 0.5)):
            try:
                with self.engine.begin() as connection:
                    extended = connection.execute(
                        update(JobLease)
                        .where(JobLease.job_id == self.job_id, JobLease.holder == self.holder)
                        .values(expires_at=utc_now() + timedelta(seconds=self.seconds))
                    ).rowcount
            except Exception:
                log.exception("could not extend lease of %s", self.job_id)
                continue
            if extended == 0:
                # Another process took the job over: this run may now overlap with it.
                self.lost = True
                _emit("job.lease_lost", job=self.job_id, holder=self.holder)


@dataclass(frozen=True)
class RunOutcome:
    job_id: str
    outcome: str  # succeeded, failed, stopped, skipped
    run_id: int | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None
    held_by: str | None = None


def run_job(
    job_id: str,
    as_of: datetime | None = None,
    holder: str | None = None,
    stop: threading.Event | None = None,
) -> RunOutcome:
    """Run one job now (as of `as_of`), unless another process holds it. Needs an app context.

    Setting `stop` asks the run to end early (see the module's docstring)."""
    registry = load_registry()
    if job_id not in registry:
        raise UnknownJob(job_id)
    job = registry[job_id]
    holder = holder or process_holder()
    as_of = as_of or utc_now()
    if not acquire_lease(job.id, holder, job.lease_seconds):
        lease = current_lease(job.id)
        held_by = lease.holder if lease else "unknown"
        _emit("job.skipped", job=job.id, holder=holder, held_by=held_by, reason="lease held")
        return RunOutcome(job.id, "skipped", held_by=held_by)

    try:
        return _run_under_lease(job, as_of, holder, stop or threading.Event())
    finally:
        # Whatever happened, the lease goes: a stuck lease would skip every later run. A
        # failure to release must not hide the job's own outcome; the lease then expires.
        try:
            release_lease(job.id, holder)
        except Exception:
            log.exception("could not release lease of %s", job.id)


def _run_under_lease(
    job: JobDefinition, as_of: datetime, holder: str, stop: threading.Event
) -> RunOutcome:
    with transaction():
        run = JobRun(
            job_id=job.id, holder=holder, as_of=as_of, started_at=utc_now(), outcome="running"
        )
        db.session.add(run)
        db.session.flush()
        run_id = run.id  # read before the commit: reading after it would reopen a transaction
    keeper = _LeaseKeeper(job.id, holder, job.lease_seconds)
    keeper.start()
    started = time.perf_counter()
    _emit("job.start", job=job.id, run=run_id, holder=holder, as_of=as_of.isoformat())
    try:
        func = _resolve(job.func)
        stoppable = takes_stop(func)
        summary = (func(as_of, stop=stop) if stoppable else func(as_of)) or {}
        # A job that heard the stop returned early: its summary is what it got done.
        outcome, error = ("stopped" if stoppable and stop.is_set() else "succeeded"), None
    except Exception:
        summary, outcome, error = {}, "failed", traceback.format_exc(limit=20)
    finally:
        # The job runs outside any transaction(): inside one, its use cases and batches would
        # be savepoints of a single transaction instead of the commits it keeps. What it left
        # open — a read after its last commit, or what a failed step wrote outside the helper —
        # is thrown away here, so that it neither outlives the job (on SQLite an open read
        # blocks the record below) nor gets committed with the record. transaction() cannot
        # say this: it commits what is pending when its block ends.
        db.session.rollback()
        keeper.stopped.set()
        keeper.join()
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    with transaction():
        db.session.execute(
            update(JobRun)
            .where(JobRun.id == run_id)
            .values(finished_at=utc_now(), outcome=outcome, summary=summary, error=error)
        )
    _emit(
        "job.end",
        job=job.id,
        run=run_id,
        holder=holder,
        outcome=outcome,
        duration_ms=duration_ms,
        summary=summary,
        error=error.splitlines()[-1] if error else None,
    )
    return RunOutcome(job.id, outcome, run_id, summary, error)


def last_runs(job_ids: list[str]) -> dict[str, JobRun]:
    latest: dict[str, JobRun] = {}
    for job_id in job_ids:
        run = db.session.scalar(
            select(JobRun)
            .where(JobRun.job_id == job_id)
            .order_by(JobRun.started_at.desc())
            .limit(1)
        )
        if run is not None:
            latest[job_id] = run
    return latest


def build_trigger(job: JobDefinition, timezone: str) -> Any:
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    spec = dict(job.trigger)
    kind = spec.pop("type")
    if kind == "cron":
        return CronTrigger(timezone=timezone, **spec)
    if kind == "interval":
        return IntervalTrigger(timezone=timezone, **spec)
    raise ValueError(f"job {job.id}: unknown trigger type {kind!r}")


def build_scheduler(app: Flask, stop: threading.Event | None = None) -> Any:
    """A blocking APScheduler with every registered job; each firing runs in an app context
    and gets `stop`, which the caller sets to end the running jobs early."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    timezone = app.config["SCHEDULER_TIMEZONE"]
    scheduler = BlockingScheduler(timezone=timezone)
    holder = process_holder()
    stop = stop or threading.Event()

    def fire(job_id: str) -> None:
        if stop.is_set():
            return  # fired as the scheduler was stopping: the next scheduler runs it
        with app.app_context():
            try:
                run_job(job_id, holder=holder, stop=stop)
            finally:
                db.session.remove()

    for job in load_registry(app).values():
        # A job marked run_at_start also fires as the scheduler starts, not one interval later.
        first = {"next_run_time": utc_now()} if job.options.get("run_at_start") else {}
        scheduler.add_job(
            fire,
            trigger=build_trigger(job, timezone),
            args=[job.id],
            id=job.id,
            name=job.description,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=job.options.get("misfire_grace_time", 300),
            replace_existing=True,
            **first,
        )
    return scheduler
