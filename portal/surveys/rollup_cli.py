"""`flask surveys rollup [--rebuild] [--programme ID]`: the survey rollups by hand."""

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from portal.surveys.rollups import rebuild as forget_rollups
from portal.surveys.rollups import roll_up


def surveys_group(app: Flask) -> AppGroup:
    """The app's `flask surveys` group, made here when no other surveys command made it."""
    group = app.cli.commands.get("surveys")
    if group is None:
        group = AppGroup("surveys", help="Survey programmes: plans, rollups.")
        app.cli.add_command(group)
    assert isinstance(group, AppGroup)
    return group


@click.command(
    "rollup",
    help="Roll up the survey answers and invitations of the days that can no longer change "
    "(what the hourly job surveys.rollup does), so the results and drivers pages read daily "
    "sums. --rebuild forgets the rollups first and makes them again from every answer.",
)
@click.option("--rebuild", is_flag=True, help="Forget the rollups and make them again.")
@click.option("--programme", "programme_id", type=int, help="Only this programme (its id).")
@with_appcontext
def rollup_command(rebuild: bool, programme_id: int | None) -> None:
    if rebuild:
        cleared = forget_rollups(programme_id)
        click.echo(f"Forgot the rollups of {cleared} programme(s).")
    done = roll_up(programme_id)
    click.echo(
        f"Rolled up {done['programmes']} programme(s): {done['answer_days']} day(s) of "
        f"answers, {done['invitation_days']} day(s) of invitations."
    )
