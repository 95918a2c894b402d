"""Surveys: CSAT, CES and NPS programmes by email, answered without login, closing the loop."""

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.core.cli import import_group
    from portal.messaging.compose import register_render_values
    from portal.surveys.blueprint import bp
    from portal.surveys.import_cli import import_survey_responses_command
    from portal.surveys.tokens import survey_values

    app.register_blueprint(bp)
    register_render_values(app, "surveys", survey_values)
    import_group(app).add_command(import_survey_responses_command)
