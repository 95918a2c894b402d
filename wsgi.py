"""Entry point for gunicorn and `flask`: the only module that builds an app on import."""

from portal import create_app

app = create_app()
