"""Surveys: CSAT, CES and NPS programmes by email, answered without login, closing the loop."""

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.core.cli import import_group
    from portal.customers.privacy import register_erasure_step, register_export_section
    from portal.customers.timeline import register_provider
    from portal.jobs.registry import register_jobs
    from portal.messaging.compose import register_render_values
    from portal.surveys import (  # noqa: F401  (the view modules' routes join `bp` first)
        answer_views,
        privacy,
        results_views,
        timeline,
    )
    from portal.surveys.blueprint import bp
    from portal.surveys.import_cli import import_survey_responses_command
    from portal.surveys.results import segment_label
    from portal.surveys.rollup_cli import rollup_command, surveys_group
    from portal.surveys.rollups import JOBS as ROLLUP_JOBS
    from portal.surveys.tokens import survey_values
    from portal.tickets.page_panels import register_page_panel

    app.register_blueprint(bp)
    app.jinja_env.globals.update(surveys_segment_label=segment_label)
    register_render_values(app, "surveys", survey_values)
    register_provider(app, "survey_answer", timeline.answer_entries)
    register_page_panel(app, "surveys.answers", timeline.ticket_panel)
    register_export_section(app, "survey_answers", privacy.export_answers)
    register_erasure_step(app, "survey_answers", privacy.erase_answers)
    timeline.register_audit_subject(app)
    import_group(app).add_command(import_survey_responses_command)
    register_jobs(app, ROLLUP_JOBS)
    surveys_group(app).add_command(rollup_command)
