"""`flask surveys plan [--at ISO]`: run the survey planner now, or replay an instant."""

import sys
from datetime import datetime

import click
from flask.cli import AppGroup

from portal.jobs.cli import EXIT_FAILED, EXIT_SKIPPED, _instant, stop_on_signals
from portal.jobs.runner import run_job

surveys_cli = AppGroup("surveys", help="Satisfaction surveys.")

PLAN_JOB = "surveys.plan"


@surveys_cli.command("plan")
@click.option(
    "--at", "at", callback=_instant, help="Plan as of this ISO-8601 instant (default: now)."
)
def plan(at: datetime | None) -> None:
    """Invite, remind and expire as the scheduler's surveys.plan does, taking its lease, so it
    never runs beside the scheduler's. Running it again, or for the same instant, adds
    nothing."""
    with stop_on_signals() as stop:
        outcome = run_job(PLAN_JOB, as_of=at, stop=stop)
    if outcome.outcome == "skipped":
        click.echo(f"Skipped: {PLAN_JOB} is running in {outcome.held_by}", err=True)
        sys.exit(EXIT_SKIPPED)
    if outcome.outcome != "succeeded":
        click.echo(f"{outcome.outcome.capitalize()}: {PLAN_JOB} {outcome.error or ''}", err=True)
        sys.exit(EXIT_FAILED if outcome.outcome == "failed" else EXIT_SKIPPED)
    click.echo(f"Planned: {outcome.summary}")
