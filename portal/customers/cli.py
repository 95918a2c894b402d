"""`flask import customers FILE.csv`."""

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from tqdm import tqdm

from portal.core.audit import Actor
from portal.customers.imports import COLUMNS, errors_csv, import_customers
from portal.customers.models import CustomerImport

import_cli = AppGroup("import", help="Bulk imports from CSV files.")

CLI_ACTOR = Actor.system("cli")
ERRORS_SHOWN = 20


def _columns_help() -> str:
    return ", ".join(c.name + (" (required)" if c.required else "") for c in COLUMNS)


class _ProgressBar:
    """A tqdm bar on stderr, opened once the import knows how many rows the file has."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = tqdm(total=total, unit="rows", desc="customers", file=sys.stderr)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@import_cli.command(
    "customers",
    help="Import customers and their credit accounts from a CSV file, one row per "
    "customer-account pair. Valid rows are imported, invalid rows reported; importing the "
    f"same file again updates instead of duplicating.\n\nColumns: {_columns_help()}.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--errors-out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the refused rows (row, column, error) to this CSV file.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def import_customers_command(file: Path, errors_out: Path | None, quiet: bool) -> None:
    progress = _ProgressBar(enabled=not quiet)
    try:
        with file.open("rb") as stream:
            record = import_customers(
                stream,
                file.name,
                CLI_ACTOR,
                default_timezone=current_app.config["DEFAULT_TIMEZONE"],
                progress=progress,
            )
    finally:
        progress.close()
    if record.fatal_error:
        click.echo(f"Error: {record.fatal_error}", err=True)
        _write_errors(errors_out, record)
        sys.exit(1)
    refused = f"{record.rows_failed:,} row{'' if record.rows_failed == 1 else 's'} refused"
    click.echo(
        f"Imported {file.name} ({record.encoding}): {record.rows_total:,} rows; "
        f"customers {record.customers_created:,} created, {record.customers_updated:,} updated; "
        f"accounts {record.accounts_created:,} created, {record.accounts_updated:,} updated; "
        f"{refused}."
    )
    errors = record.errors or []
    for error in errors[:ERRORS_SHOWN]:
        where = f"row {error['row']}" if error["row"] is not None else "note"
        column = f", {error['column']}" if error["column"] else ""
        click.echo(f"  {where}{column}: {error['error']}")
    if len(errors) > ERRORS_SHOWN:
        hint = "" if errors_out else " (write them all with --errors-out PATH)"
        click.echo(f"  … and {len(errors) - ERRORS_SHOWN:,} more{hint}.")
    _write_errors(errors_out, record)


def _write_errors(path: Path | None, record: CustomerImport) -> None:
    if path is None:
        return
    try:
        path.write_text(errors_csv(record), encoding="utf-8", newline="")
    except OSError as error:
        click.echo(f"Error: could not write {path}: {error.strerror}", err=True)
        sys.exit(1)
