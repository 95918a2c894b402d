"""`flask surveys plan [--at ISO]`: run the survey planner now, or replay an instant;
`flask surveys rollup [--rebuild] [--programme ID]`: the results' daily rollups by hand."""

import sys
from datetime import datetime

import click
from flask.cli import AppGroup

from portal.jobs.cli import EXIT_FAILED, EXIT_SKIPPED, instant_option, stop_on_signals
from portal.jobs.runner import run_job
from portal.surveys.rollups import rebuild as forget_rollups
from portal.surveys.rollups import roll_up

surveys_cli = AppGroup("surveys", help="Satisfaction surveys.")

PLAN_JOB = "surveys.plan"


@surveys_cli.command("plan")
@click.option(
    "--at", "at", callback=instant_option, help="Plan as of this ISO-8601 instant (default: now)."
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


@surveys_cli.command(
    "rollup",
    help="Roll up the survey answers and invitations of the days that can no longer change "
    "(what the hourly job surveys.rollup does), so the results and drivers pages read daily "
    "sums. --rebuild forgets the rollups first and makes them again from every answer.",
)
@click.option("--rebuild", is_flag=True, help="Forget the rollups and make them again.")
@click.option("--programme", "programme_id", type=int, help="Only this programme (its id).")
def rollup_command(rebuild: bool, programme_id: int | None) -> None:
    if rebuild:
        cleared = forget_rollups(programme_id)
        click.echo(f"Forgot the rollups of {cleared} programme(s).")
    done = roll_up(programme_id)
    click.echo(
        f"Rolled up {done['programmes']} programme(s): {done['answer_days']} day(s) of "
        f"answers, {done['invitation_days']} day(s) of invitations."
    )
