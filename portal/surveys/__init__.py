"""Surveys: CSAT, CES and NPS programmes by email, answered without login, closing the loop."""

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.messaging.compose import register_render_values
    from portal.surveys import results_views  # noqa: F401  (its routes join the blueprint)
    from portal.surveys.blueprint import bp
    from portal.surveys.results import segment_label
    from portal.surveys.tokens import survey_values

    app.register_blueprint(bp)
    register_render_values(app, "surveys", survey_values)
    app.jinja_env.globals.update(surveys_segment_label=segment_label)
