"""What the rooms' `flask import …` commands share: the progress bar and the error report."""

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from flask import Flask
from flask.cli import AppGroup
from tqdm import tqdm

ERRORS_SHOWN = 20
Outcome = TypeVar("Outcome")


def import_group(app: Flask) -> AppGroup:
    """The app's `flask import` group, to which each room adds its import command."""
    group = app.cli.commands.get("import")
    if group is None:
        group = AppGroup("import", help="Bulk imports from CSV files.")
        app.cli.add_command(group)
    assert isinstance(group, AppGroup)
    return group


class ProgressBar:
    """A tqdm bar on stderr, opened once the import knows how many rows the file has."""

    def __init__(self, description: str, enabled: bool) -> None:
        self.description = description
        self.enabled = enabled
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = tqdm(total=total, unit="rows", desc=self.description, file=sys.stderr)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_import(
    file: Path, description: str, quiet: bool, importer: Callable[..., Outcome]
) -> Outcome:
    """Open `file` and run `importer(stream, filename, progress=…)` — an import use case with
    its actor and options bound — under a progress bar (none if quiet)."""
    progress = ProgressBar(description, enabled=not quiet)
    try:
        with file.open("rb") as stream:
            return importer(stream, file.name, progress=progress)
    finally:
        progress.close()


def refuse_file(message: str, errors_out: Path | None, errors_csv: str) -> NoReturn:
    """The file was not imported: say why in one line, write the error file if asked, exit 1."""
    click.echo(f"Error: {message}", err=True)
    write_errors(errors_out, errors_csv)
    sys.exit(1)


def echo_errors(errors: Sequence[Mapping[str, Any]], errors_out: Path | None) -> None:
    """The first refused rows, one a line, and how many more there are."""
    for error in errors[:ERRORS_SHOWN]:
        where = f"row {error['row']}" if error["row"] is not None else "note"
        column = f", {error['column']}" if error["column"] else ""
        click.echo(f"  {where}{column}: {error['error']}")
    if len(errors) > ERRORS_SHOWN:
        hint = "" if errors_out else " (write them all with --errors-out PATH)"
        click.echo(f"  … and {len(errors) - ERRORS_SHOWN:,} more{hint}.")


def write_errors(path: Path | None, errors_csv: str) -> None:
    """Write the error report where `--errors-out` asked; a path that cannot be written exits 1."""
    if path is None:
        return
    try:
        path.write_text(errors_csv, encoding="utf-8", newline="")
    except OSError as error:
        click.echo(f"Error: could not write {path}: {error.strerror}", err=True)
        sys.exit(1)


def errors_out_option() -> Any:
    return click.option(
        "--errors-out",
        type=click.Path(dir_okay=False, writable=True, path_type=Path),
        help="Write the refused rows (row, column, error) to this CSV file.",
    )
