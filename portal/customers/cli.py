"""`flask import customers FILE.csv`."""

from functools import partial
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.core.audit import Actor
from portal.core.cli import echo_errors, errors_out_option, refuse_file, run_import, write_errors
from portal.customers.imports import COLUMNS, errors_csv, import_customers

CLI_ACTOR = Actor.system("cli")


def _columns_help() -> str:
    return ", ".join(c.name + (" (required)" if c.required else "") for c in COLUMNS)


@click.command(
    "customers",
    help="Import customers and their credit accounts from a CSV file, one row per "
    "customer-account pair. Valid rows are imported, invalid rows reported; importing the "
    f"same file again updates instead of duplicating.\n\nColumns: {_columns_help()}.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@errors_out_option()
@click.option("--quiet", is_flag=True, help="No progress bar.")
@with_appcontext
def import_customers_command(file: Path, errors_out: Path | None, quiet: bool) -> None:
    zone = current_app.config["DEFAULT_TIMEZONE"]
    record = run_import(
        file, "customers", quiet, partial(import_customers, CLI_ACTOR, default_timezone=zone)
    )
    if record.fatal_error:
        refuse_file(record.fatal_error, errors_out, errors_csv(record))
    refused = f"{record.rows_failed:,} row{'' if record.rows_failed == 1 else 's'} refused"
    click.echo(
        f"Imported {file.name} ({record.encoding}): {record.rows_total:,} rows; "
        f"customers {record.customers_created:,} created, {record.customers_updated:,} updated; "
        f"accounts {record.accounts_created:,} created, {record.accounts_updated:,} updated; "
        f"{refused}."
    )
    echo_errors(record.errors or [], errors_out)
    write_errors(errors_out, errors_csv(record))
