"""`flask users create | set-password | list`."""

import sys

import click
from flask.cli import AppGroup

from portal.accounts import services
from portal.core.audit import Actor
from portal.core.errors import ServiceError

users_cli = AppGroup("users", help="Staff accounts.")

CLI_ACTOR = Actor.system("cli")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="Display name.")
@click.option("--role", required=True, help="admin, rm, handler or lead.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
def create(email: str, name: str, role: str, password_stdin: bool) -> None:
    """Create a staff account."""
    try:
        services.check_role(role)
        password = _read_password(password_stdin)
        user = services.create_user(CLI_ACTOR, email, name, role, password)
    except ServiceError as error:
        click.echo(f"Error: {error.message}", err=True)
        sys.exit(1)
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


@users_cli.command("set-password")
@click.argument("email")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
def set_password(email: str, password_stdin: bool) -> None:
    """Set a user's password (ends their sessions)."""
    user = services.find_by_email(email)
    if user is None:
        click.echo(f"Error: no user with email {email}", err=True)
        sys.exit(1)
    try:
        services.set_password(CLI_ACTOR, user.id, _read_password(password_stdin))
    except ServiceError as error:
        click.echo(f"Error: {error.message}", err=True)
        sys.exit(1)
    click.echo(f"Password of {user.email} set.")


@users_cli.command("list")
def list_users() -> None:
    """Every account with its role and status."""
    after = ""
    while True:
        page = services.list_users(CLI_ACTOR, after=after, limit=500)
        for user in page.rows:
            status = "active" if user.active else "deactivated"
            click.echo(f"{user.id}\t{user.email}\t{user.role}\t{status}\t{user.name}")
        if page.next_key is None:
            break
        after = str(page.next_key)
