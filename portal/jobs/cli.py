"""`flask jobs list | once | run`."""

import signal
import sys
from datetime import datetime
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from portal.core.timeutil import parse_instant, utc_now
from portal.jobs.runner import (
    UnknownJob,
    build_scheduler,
    build_trigger,
    last_runs,
    load_registry,
    run_job,
)

jobs_cli = AppGroup("jobs", help="Scheduled jobs: list them, run one now, or run the scheduler.")

EXIT_FAILED = 1
EXIT_SKIPPED = 75  # EX_TEMPFAIL: another process holds the job; try again later


def _instant(_ctx: Any, _param: Any, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as error:
        raise click.BadParameter(f"not an ISO-8601 instant: {value!r}") from error


@jobs_cli.command("list")
def list_jobs() -> None:
    """Every registered job, its trigger, next firing and last run."""
    registry = load_registry()
    if not registry:
        click.echo("No jobs are registered.")
        return
    timezone = current_app.config["SCHEDULER_TIMEZONE"]
    runs = last_runs(list(registry))
    now = utc_now()
    for job in registry.values():
        trigger = build_trigger(job, timezone)
        next_fire = trigger.get_next_fire_time(None, now)
        run = runs.get(job.id)
        last = f"{run.outcome} at {run.started_at:%Y-%m-%d %H:%M:%S}Z" if run else "never run"
        click.echo(
            f"{job.id}\n  {job.description}\n  trigger: {trigger}\n"
            f"  next: {next_fire.isoformat() if next_fire else '—'}\n  last: {last}"
        )


@jobs_cli.command("once")
@click.argument("job_id")
@click.option(
    "--at", "at", callback=_instant, help="Run as of this ISO-8601 instant (default: now)."
)
def once(job_id: str, at: datetime | None) -> None:
    """Run JOB_ID once now, taking its lease like the scheduler does."""
    try:
        outcome = run_job(job_id, as_of=at)
    except UnknownJob:
        known = ", ".join(sorted(load_registry())) or "none"
        click.echo(f"Error: unknown job {job_id!r} (registered: {known})", err=True)
        sys.exit(EXIT_FAILED)
    if outcome.outcome == "skipped":
        click.echo(f"Skipped: {job_id} is running in {outcome.held_by}", err=True)
        sys.exit(EXIT_SKIPPED)
    if outcome.outcome == "failed":
        last_line = (outcome.error or "").strip().splitlines()[-1:] or ["unknown error"]
        click.echo(f"Failed: {job_id} (run {outcome.run_id}): {last_line[0]}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"Succeeded: {job_id} (run {outcome.run_id}) {outcome.summary}")


@jobs_cli.command("run")
def run() -> None:
    """Run the scheduler in this process until stopped (Ctrl-C or SIGTERM)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    scheduler = build_scheduler(app)

    def stop(_signum: int, _frame: Any) -> None:
        # A second signal (Ctrl-C twice, a supervisor after ./scripts/run) may come while the
        # running job finishes at exit: the scheduler is already down, nothing more to do.
        if scheduler.running:
            scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    names = ", ".join(job.id for job in scheduler.get_jobs()) or "none"
    click.echo(f"Scheduler started with jobs: {names}")
    scheduler.start()
    click.echo("Scheduler stopped.")
