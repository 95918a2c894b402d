"""The lowest room: extensions, configuration, model base, time helpers, access rules, errors."""

from flask import Flask


def init_app(app: Flask) -> None:
    """The room's pages (home, health) and the `flask import` group the rooms add to."""
    from portal.core.cli import import_group
    from portal.core.routes import bp

    app.register_blueprint(bp)
    import_group(app)
