"""`flask jobs list | once | run`."""

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from portal.core.logs import emit, log_json_lines
from portal.core.timeutil import parse_instant, utc_now
from portal.jobs.runner import (
    UnknownJob,
    build_scheduler,
    build_trigger,
    last_runs,
    load_registry,
    log,
    run_job,
)

jobs_cli = AppGroup("jobs", help="Scheduled jobs: list them, run one now, or run the scheduler.")

EXIT_FAILED = 1
EXIT_SKIPPED = 75  # EX_TEMPFAIL: another process holds the job, or it was stopped; try again
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_on_signals(
    on_signal: Callable[[signal.Signals], None] | None = None,
    *,
    restore: bool = True,
    stop: threading.Event | None = None,
) -> Iterator[threading.Event]:
    """An event (`stop`, or a new one) set by SIGTERM or Ctrl-C, for the running job to hear.
    Any further signal is harmless: the stop is under way. `restore` puts the previous
    handlers back after."""
    stop = stop or threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        stop.set()
        if on_signal is not None:
            on_signal(signal.Signals(signum))

    if threading.current_thread() is not threading.main_thread():
        yield stop  # only the main thread receives signals (e.g. a test calling in a thread)
        return
    previous = {sig: signal.signal(sig, request_stop) for sig in STOP_SIGNALS}
    try:
        yield stop
    finally:
        if restore:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def instant_option(_ctx: Any, _param: Any, value: str | None) -> datetime | None:
    """The click callback of an `--at ISO-8601` option: an aware instant, or a usage error."""
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
    "--at", "at", callback=instant_option, help="Run as of this ISO-8601 instant (default: now)."
)
def once(job_id: str, at: datetime | None) -> None:
    """Run JOB_ID once now, taking its lease like the scheduler does.

    SIGTERM or Ctrl-C asks the job to stop: it hands back what it claimed and the command
    exits 75 (try again later)."""
    log_json_lines()
    try:
        with stop_on_signals() as stop:
            outcome = run_job(job_id, as_of=at, stop=stop)
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
    if outcome.outcome == "stopped":
        click.echo(f"Stopped: {job_id} (run {outcome.run_id}) {outcome.summary}", err=True)
        sys.exit(EXIT_SKIPPED)
    click.echo(f"Succeeded: {job_id} (run {outcome.run_id}) {outcome.summary}")


@jobs_cli.command("run")
def run() -> None:
    """Run the scheduler in this process until stopped (Ctrl-C or SIGTERM).

    On the signal the scheduler fires nothing more and every running job is asked to stop: it
    returns within seconds, handing back what it claimed, and its run is recorded as stopped.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    log_json_lines()
    received: list[str] = []

    def shut_down(signum: signal.Signals) -> None:
        received.append(signum.name)
        # A second signal (Ctrl-C twice, a supervisor after ./scripts/run) may come while the
        # running jobs finish at exit: the scheduler is already down, nothing more to do.
        if scheduler.running:
            scheduler.shutdown(wait=False)

    # The handlers stay until the process exits: the running jobs end after this returns,
    # when the interpreter joins their threads, and a signal then must stay harmless.
    stop = threading.Event()
    scheduler = build_scheduler(app, stop)
    with stop_on_signals(shut_down, restore=False, stop=stop):
        jobs = [job.id for job in scheduler.get_jobs()]
        click.echo(f"Scheduler started with jobs: {', '.join(jobs) or 'none'}")
        emit(log, "scheduler.start", jobs=jobs)
        if not stop.is_set():
            scheduler.start()
    emit(log, "scheduler.stop", signal=received[0] if received else None)
    click.echo("Scheduler stopped.")
