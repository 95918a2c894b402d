"""`flask import complaints FILE.csv --format portal|cfpb`, added to the `flask import` group."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.core.audit import Actor
from portal.core.cli import echo_errors, errors_out_option, refuse_file, run_import, write_errors
from portal.core.csvfiles import errors_csv
from portal.tickets.imports import CFPB_REQUIRED, FORMATS, PORTAL_COLUMNS, import_complaints

CLI_ACTOR = Actor.system("cli:import complaints")


@click.command(
    "complaints",
    help="Import complaints from a CSV file: the portal's own layout (--format portal) or the "
    "CFPB Consumer Complaint Database export (--format cfpb). Valid rows are imported, invalid "
    "rows reported; rows imported before (same source and id) are skipped, so importing the "
    "same file again creates no duplicates.\n\nportal columns: "
    + ", ".join(c.name + (" (required)" if c.required else "") for c in PORTAL_COLUMNS)
    + ".\n\ncfpb required columns: "
    + ", ".join(CFPB_REQUIRED)
    + ".",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(FORMATS),
    required=True,
    help="The layout of the file.",
)
@errors_out_option()
@click.option("--quiet", is_flag=True, help="No progress bar.")
@with_appcontext
def import_complaints_command(
    file: Path, file_format: str, errors_out: Path | None, quiet: bool
) -> None:
    zone = current_app.config["DEFAULT_TIMEZONE"]
    report = run_import(
        file,
        "complaints",
        quiet,
        lambda stream, progress: import_complaints(
            stream,
            file.name,
            CLI_ACTOR,
            file_format=file_format,
            default_timezone=zone,
            progress=progress,
        ),
    )
    report_csv = errors_csv(report.fatal_error, report.errors)
    if report.fatal_error:
        refuse_file(report.fatal_error, errors_out, report_csv)
    rows = f"{report.rows_total:,} row{'' if report.rows_total == 1 else 's'}"
    click.echo(
        f"Imported {file.name} ({file_format}, {report.encoding}): {rows}; "
        f"{report.created:,} created, {report.duplicates:,} skipped as duplicates, "
        f"{report.failed:,} refused."
    )
    echo_errors(report.errors, errors_out)
    write_errors(errors_out, report_csv)
