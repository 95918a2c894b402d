"""`flask demo seed | accounts`."""

import sys
import time

import click
from flask.cli import AppGroup

from portal.accounts.services import find_by_email
from portal.demo.seed import (
    DEMO_ACCOUNTS,
    SCALES,
    SEEDERS,
    STAFF_PASSWORD,
    database_is_empty,
    room_is_empty,
    seed,
)

demo_cli = AppGroup("demo", help="Demo data.")


def _print_accounts() -> None:
    click.echo("Demo accounts (email / password):")
    for account in DEMO_ACCOUNTS:
        if find_by_email(account.email) is not None:
            click.echo(f"  {account.role.value:<8} {account.email:<28} {account.password}")
    click.echo(f"  other staff: <role>NNNN@staff.example.com / {STAFF_PASSWORD}")


@demo_cli.command("seed")
@click.option("--scale", type=click.Choice(SCALES), default="small", show_default=True)
@click.option("--if-empty", is_flag=True, help="Do nothing (and succeed) when data exists.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--only",
    multiple=True,
    type=click.Choice([name for name, _seeder in SEEDERS]),
    help="Seed only these rooms (repeatable); later rooms need the earlier ones.",
)
def seed_command(scale: str, if_empty: bool, quiet: bool, only: tuple[str, ...]) -> None:
    """Fill an empty database with demo data, or add an empty room (`--only tickets`) to a
    seeded one."""
    adding = bool(only) and "users" not in only
    if adding and database_is_empty():
        click.echo("Error: seed the users (and customers) first.", err=True)
        sys.exit(1)
    full = [name for name in only if not room_is_empty(name)] if adding else []
    if full or (not adding and not database_is_empty()):
        if if_empty:
            click.echo("The database already holds data; not seeding.")
            _print_accounts()
            return
        what = ", ".join(full) if full else "the database"
        click.echo(f"Error: {what} already holds data; seed an empty one.", err=True)
        sys.exit(1)
    started = time.perf_counter()
    counts = seed(scale, show_progress=not quiet, only=only)
    summary = ", ".join(f"{n:,} {name}" for name, n in counts.items())
    click.echo(f"Seeded ({scale}) in {time.perf_counter() - started:.1f}s: {summary}")
    _print_accounts()


@demo_cli.command("accounts")
def accounts() -> None:
    """Print the demo accounts that exist in this database."""
    _print_accounts()
