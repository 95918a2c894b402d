"""Demo data for trying the portal and sizing the benchmarks; every room adds a seeder here."""

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.demo.cli import demo_cli

    app.cli.add_command(demo_cli)
