"""The one job registry and the scheduler runner; each room keeps its job functions in jobs.py."""

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.core.home import register_panel
    from portal.jobs import home
    from portal.jobs.cli import jobs_cli
    from portal.jobs.registry import HOUSEKEEPING, register_jobs

    app.cli.add_command(jobs_cli)
    register_jobs(app, HOUSEKEEPING)
    register_panel(app, "jobs.runs", home.ROLES, home.job_runs, position=30)
