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
    JobDefinition(
        id="surveys.rollup",
        func="portal.surveys.rollups:rollup_job",
        trigger={"type": "interval", "hours": 1},
        description="Roll up the survey answers and invitations of days that can no longer "
        "change, so the results and drivers pages read daily sums.",
        lease_seconds=30 * 60,
        options={"run_at_start": True},
    ),
]


def init_app(app: Flask) -> None:
    from portal.core.cli import import_group
    from portal.customers.privacy import register_erasure_step, register_export_section
    from portal.customers.timeline import register_provider
    from portal.messaging.compose import register_render_values
    from portal.surveys import (  # noqa: F401  (the view modules' routes join `bp` first)
        answer_views,
        audit_subjects,
        privacy,
        programme_views,
        results_views,
        timeline,
    )
    from portal.surveys.blueprint import bp
    from portal.surveys.cli import surveys_cli
    from portal.surveys.import_cli import import_survey_responses_command
    from portal.surveys.results import segment_label
    from portal.surveys.tokens import survey_values
    from portal.tickets.page_panels import register_page_panel

    app.register_blueprint(bp)
    app.jinja_env.globals.update(programme_views.TEMPLATE_GLOBALS)
    app.jinja_env.globals.update(surveys_segment_label=segment_label)
    register_render_values(app, "surveys", survey_values)
    register_provider(app, "survey_answer", timeline.answer_entries)
    register_page_panel(app, "surveys.answers", timeline.ticket_panel)
    register_export_section(app, "survey_answers", privacy.export_answers)
    register_erasure_step(app, "survey_answers", privacy.erase_answers)
    audit_subjects.register(app)
    app.cli.add_command(surveys_cli)
    import_group(app).add_command(import_survey_responses_command)
    register_jobs(app, JOBS)
