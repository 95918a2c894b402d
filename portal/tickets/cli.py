"""`flask import complaints FILE.csv --format portal|cfpb`, added to the `flask import` group."""

import sys
from functools import partial
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from portal.core.audit import Actor
from portal.core.cli import echo_errors, errors_out_option, refuse_file, run_import, write_errors
from portal.core.csvfiles import errors_csv
from portal.core.extensions import db
from portal.tickets.channels.inbound import ingest
from portal.tickets.imports import CFPB_REQUIRED, FORMATS, PORTAL_COLUMNS, import_complaints
from portal.tickets.models import Ticket

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
        partial(import_complaints, CLI_ACTOR, file_format=file_format, default_timezone=zone),
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


EX_TEMPFAIL = 75  # sysexits.h: the mail server keeps the message and tries again later


@click.group("tickets", help="Ticket intake from outside the portal.")
def tickets_cli() -> None:
    pass


@tickets_cli.command(
    "ingest-email",
    help="Read one email (RFC 5322) from standard input — for a mail server's pipe transport — "
    "and open a ticket, thread it onto its ticket, keep it as automatic mail, or quarantine "
    "it. Exits 0 once the message is stored, whatever became of it (a message seen before is "
    "not handled twice), and 75 (try again later) when it could not be stored.",
)
@with_appcontext
def ingest_email_command() -> None:
    raw = sys.stdin.buffer.read()
    try:
        outcome = ingest(raw, "pipe")
    except SQLAlchemyError as error:
        click.echo(f"Not stored, try again later: {type(error).__name__}", err=True)
        raise SystemExit(EX_TEMPFAIL) from error
    ticket = db.session.get(Ticket, outcome.ticket_id) if outcome.ticket_id else None
    click.echo(
        f"inbound {outcome.inbound_id}: {'seen before, ' if outcome.duplicate else ''}"
        f"{outcome.status}"
        + (f" {ticket.reference}" if ticket else "")
        + (f" ({outcome.reason})" if outcome.reason else "")
    )
