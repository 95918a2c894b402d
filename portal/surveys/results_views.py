"""A programme's results pages: results, drivers, phrases, comments and the answers' CSV.

Leads and admins see them all. Handlers see the results, the comments and the phrases (what
customers say about the work they do) but not the drivers table, which ranks handlers against
each other, nor the bulk export. Relationship managers see none of them.
"""

from typing import Any

from flask import Response, current_app, request, stream_with_context
from flask_babel import get_locale

from portal.core.access import Role, roles
from portal.core.errors import ValidationFailed
from portal.core.htmx import render
from portal.core.i18n import firm_zone, format_day
from portal.surveys import drivers as drivers_model
from portal.surveys import phrases as phrases_model
from portal.surveys import results as model
from portal.surveys.blueprint import bp
from portal.surveys.scores import SMALL_SAMPLE

READERS = (Role.ADMIN, Role.LEAD, Role.HANDLER)
MANAGERS = (Role.ADMIN, Role.LEAD)


def _locale() -> str:
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


def _context(found: Any, tab: str, period: model.Period | None, error: Any) -> dict[str, Any]:
    zone = firm_zone()
    return {
        "programme": found,
        "tab": tab,
        "period": period,
        "period_error": error,
        "periods": model.PERIOD_LABELS,
        "raw_period": (request.args.get("period") or model.default_period(found))[:20],
        "raw_from": (request.args.get("from") or "")[:20],
        "raw_to": (request.args.get("to") or "")[:20],
        "zone_name": str(zone),
        "metric_label": model.METRIC_LABELS[found.metric],
        "group_labels": model.GROUP_LABELS[found.metric],
        "format_score": model.format_score,
        "format_margin": model.format_margin,
        "format_day": format_day,
        "small_sample": SMALL_SAMPLE,
    }


def _period(found: Any) -> tuple[model.Period | None, Any]:
    try:
        return model.parse_period(request.args, firm_zone(), model.default_period(found)), None
    except ValidationFailed as refused:
        return None, refused.message


@bp.route("/surveys/programmes/<int:programme_id>/results")
@roles(*READERS)
def results(programme_id: int) -> Any:
    found = model.programme(programme_id)
    period, error = _period(found)
    context = _context(found, "results", period, error)
    made = model.results(found, period) if period else None
    return render("surveys/results.html", status=400 if error else 200, results=made, **context)


@bp.route("/surveys/programmes/<int:programme_id>/drivers")
@roles(*MANAGERS)
def drivers(programme_id: int) -> Any:
    found = model.programme(programme_id)
    period, error = _period(found)
    context = _context(found, "drivers", period, error)
    made = drivers_model.drivers(found, period, _locale()) if period else None
    return render(
        "surveys/drivers.html",
        status=400 if error else 200,
        drivers=made,
        alpha=drivers_model.ALPHA,
        **context,
    )


@bp.route("/surveys/programmes/<int:programme_id>/phrases")
@roles(*READERS)
def phrases(programme_id: int) -> Any:
    found = model.programme(programme_id)
    period, error = _period(found)
    context = _context(found, "phrases", period, error)
    made = phrases_model.phrases(found, period) if period else None
    return render(
        "surveys/phrases.html",
        status=400 if error else 200,
        phrases=made,
        cap=phrases_model.CAP,
        **context,
    )


def _comment_filters() -> tuple[model.CommentFilters | None, Any]:
    try:
        return model.CommentFilters.from_args(request.args), None
    except ValidationFailed as refused:
        return None, refused.message


@bp.route("/surveys/programmes/<int:programme_id>/comments")
@roles(*READERS)
def comments(programme_id: int) -> Any:
    found = model.programme(programme_id)
    period, error = _period(found)
    filters, filter_error = _comment_filters()
    context = _context(found, "comments", period, error or filter_error)
    page = model.comments(found, period, filters, _locale()) if period and filters else None
    return render(
        "surveys/comments.html",
        "surveys/_comment_rows.html",
        status=400 if context["period_error"] else 200,
        page=page,
        filters=filters or model.CommentFilters(),
        choices=model.filter_choices(found, _locale()),
        languages=model.LANGUAGE_LABELS,
        **context,
    )


@bp.route("/surveys/programmes/<int:programme_id>/answers.csv")
@roles(*MANAGERS)
def export(programme_id: int) -> Any:
    found = model.programme(programme_id)
    period, error = _period(found)
    filters, filter_error = _comment_filters()
    if period is None or filters is None:
        raise ValidationFailed(error or filter_error)
    response = Response(
        stream_with_context(model.export_lines(found, period, filters)),
        mimetype="text/csv",
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{model.export_filename(found, period)}"'
    )
    return response
