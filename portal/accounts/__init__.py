"""Staff accounts: users, roles, sign-in, password policy and admin user management."""

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.accounts import audit_subjects, home
    from portal.accounts.cli import users_cli
    from portal.accounts.routes import bp
    from portal.core.home import register_panel

    app.register_blueprint(bp)
    app.cli.add_command(users_cli)
    register_panel(app, "accounts.users", home.ROLES, home.users_panel, position=10)
    audit_subjects.register(app)
