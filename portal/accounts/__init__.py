"""Staff accounts: users, roles, sign-in, password policy and admin user management."""

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.accounts.cli import users_cli
    from portal.accounts.routes import bp

    app.register_blueprint(bp)
    app.cli.add_command(users_cli)
