"""`flask import survey-responses FILE.csv --programme NAME`, added to the `flask import` group."""

import sys
from functools import partial
from pathlib import Path

import click
from flask.cli import with_appcontext

from portal.core.audit import Actor
from portal.core.cli import echo_errors, errors_out_option, refuse_file, run_import, write_errors
from portal.core.csvfiles import errors_csv
from portal.core.errors import ValidationFailed
from portal.surveys.importer import ROLES, Mapping, import_survey_responses
from portal.surveys.models import Metric
from portal.surveys.rollups import roll_up
from portal.surveys.scores import Score

CLI_ACTOR = Actor.system("cli:import survey-responses")
DAY_FIRST = "dd/mm/yyyy"
MONTH_FIRST = "mm/dd/yyyy"


def _usual_headers() -> str:
    return "; ".join(f"{role}: {', '.join((role, *aliases))}" for role, aliases in ROLES.items())


def _score_line(result: Score) -> str:
    if result.value is None:
        return "no answers yet"
    unit = "" if result.metric == Metric.NPS.value else " %"
    small = " (small sample)" if result.small_sample else ""
    return (
        f"{result.metric.upper()} {result.value:.1f}{unit} ± {result.margin:.1f} "
        f"over {result.n:,} answers{small}"
    )


@click.command(
    "survey-responses",
    help="Import past survey answers (one a row) from another tool's CSV export into a "
    "programme. Columns are found by their usual headers, ignoring case, or by the names "
    "given with --date-column, --score-column, --comment-column, --customer-column and "
    "--language-column. Dates are yyyy-mm-dd or, year last, dd/mm/yyyy (see --date-format), "
    "with an optional time in the firm's zone. A new programme name creates an inactive "
    "programme with trigger 'imported'. Bad rows are reported and skipped; importing the same "
    f"file again adds nothing.\n\nUsual headers — {_usual_headers()}.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--programme", "programme", required=True, help="The programme's name.")
@click.option(
    "--metric",
    type=click.Choice([m.value for m in Metric]),
    help="The scale of the scores: nps (0-10), csat (1-5) or ces (1-7). Default: an existing "
    "programme's own, else nps.",
)
@click.option("--date-column", help="The header of the date column.")
@click.option("--score-column", help="The header of the score column.")
@click.option("--comment-column", help="The header of the comment column.")
@click.option("--customer-column", help="The header of the customer number column.")
@click.option("--language-column", help="The header of the language column (en, zh_Hans).")
@click.option(
    "--date-format",
    type=click.Choice([DAY_FIRST, MONTH_FIRST]),
    default=DAY_FIRST,
    show_default=True,
    help="How a date with the year last is read: 03/04/2018 is 3 April by default. Dates "
    "with the year first (yyyy-mm-dd, yyyy/mm/dd) are always read so.",
)
@errors_out_option()
@click.option("--quiet", is_flag=True, help="No progress bar.")
@with_appcontext
def import_survey_responses_command(
    file: Path,
    programme: str,
    metric: str | None,
    date_column: str | None,
    score_column: str | None,
    comment_column: str | None,
    customer_column: str | None,
    language_column: str | None,
    date_format: str,
    errors_out: Path | None,
    quiet: bool,
) -> None:
    mapping = Mapping(date_column, score_column, comment_column, customer_column, language_column)
    use_case = partial(
        import_survey_responses,
        CLI_ACTOR,
        programme=programme,
        metric=metric,
        mapping=mapping,
        day_first=date_format == DAY_FIRST,
    )
    try:
        report = run_import(file, "survey answers", quiet, use_case)
    except ValidationFailed as error:
        click.echo(f"Error: {error.message}", err=True)
        sys.exit(1)
    report_csv = errors_csv(report.fatal_error, report.errors)
    if report.fatal_error:
        refuse_file(report.fatal_error, errors_out, report_csv)
    created = " (created, inactive, trigger 'imported')" if report.created else ""
    click.echo(
        f"Imported {file.name} ({report.encoding}) into {report.programme}{created}: "
        f"{report.rows_total:,} rows; {report.imported:,} answers imported, "
        f"{report.present:,} already present, {report.skipped:,} skipped"
        + (f", {report.warnings:,} imported with a warning" if report.warnings else "")
        + "."
    )
    echo_errors(report.errors, errors_out)
    write_errors(errors_out, report_csv)
    if report.imported and report.programme_id is not None:
        roll_up(report.programme_id)  # the past days' results read fast at once
    if report.result is not None:
        click.echo(f"{report.programme}: {_score_line(report.result)}.")
