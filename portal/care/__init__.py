"""Care: birthday, festival and repayment-reminder messages, and one-off campaigns."""

from flask import Flask

from portal.jobs.registry import JobDefinition, register_jobs

JOBS = [
    JobDefinition(
        id="care.plan",
        func="portal.care.jobs:plan",
        trigger={"type": "interval", "minutes": 10},
        description="Queue today's birthday, festival and repayment-reminder messages per zone.",
        lease_seconds=15 * 60,
        options={"run_at_start": True},
    ),
]


def init_app(app: Flask) -> None:
    from portal.care import audit_subjects
    from portal.care.routes import TEMPLATE_GLOBALS, bp

    app.register_blueprint(bp)
    app.jinja_env.globals.update(TEMPLATE_GLOBALS)
    register_jobs(app, JOBS)
    audit_subjects.register(app)
