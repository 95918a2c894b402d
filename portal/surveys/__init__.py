"""Surveys: CSAT, CES and NPS programmes by email, answered without login, closing the loop."""

from flask import Flask

from portal.jobs.registry import JobDefinition, register_jobs

JOBS = [
    JobDefinition(
        id="surveys.plan",
        func="portal.surveys.jobs:plan",
        trigger={"type": "interval", "minutes": 10},
        description="Invite for closed tickets, RM contacts and waves; remind once; expire.",
        lease_seconds=15 * 60,
    ),
]


def init_app(app: Flask) -> None:
    from portal.messaging.compose import register_render_values
    from portal.surveys import audit_subjects
    from portal.surveys.blueprint import bp
    from portal.surveys.cli import surveys_cli
    from portal.surveys.programme_views import TEMPLATE_GLOBALS
    from portal.surveys.tokens import survey_values

    app.register_blueprint(bp)
    register_render_values(app, "surveys", survey_values)
    app.jinja_env.globals.update(TEMPLATE_GLOBALS)
    app.cli.add_command(surveys_cli)
    register_jobs(app, JOBS)
    audit_subjects.register(app)
