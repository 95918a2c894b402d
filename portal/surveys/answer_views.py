"""The answer page `/s/<token>` customers open from the invitation email, and its preview.

The page speaks the invitation's language whatever the browser asks for, and shows the
customer's first name and what the survey is about, nothing more. GET only reads (mail
scanners follow links); the customer's POST records. The view checks the CSRF token itself
rather than through the app-wide check, so a form whose session cookie was lost comes back
with what was typed and a message in the customer's language, not a staff error page.
"""

import re
import secrets
from typing import Any

from flask import current_app, make_response, render_template, request
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import validate_csrf
from werkzeug.exceptions import TooManyRequests
from wtforms import ValidationError

from portal.core.access import Role, public, roles
from portal.core.config import LANGUAGES
from portal.core.errors import NotFound, ValidationFailed, error_response
from portal.core.extensions import csrf, limiter
from portal.surveys import answers
from portal.surveys.blueprint import bp
from portal.surveys.tokens import well_formed

DEVICE_COOKIE = "survey_device"
_DEVICE = re.compile(r"[A-Za-z0-9_-]{43}")
SAMPLE_NAMES = {"en": "Alex", "zh_Hans": "小明"}
SAMPLE_SUBJECT = "CMP-2026-000123"


def _page_limit() -> str:
    return current_app.config["SURVEY_PAGE_LIMIT"]


def _device() -> str | None:
    """This browser's answer-page cookie, when it has a well-formed one."""
    value = request.cookies.get(DEVICE_COOKIE, "")
    return value if _DEVICE.fullmatch(value) else None


def _render(template: str, locale: str, status: int = 200, **context: Any) -> Any:
    with force_locale(locale):
        body = render_template(
            template,
            firm=current_app.config["FIRM_NAME"],
            comment_max=answers.COMMENT_MAX,
            **context,
        )
    response = make_response(body, status)
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token must not leave in a Referer
    return response


def _browser_locale() -> str:
    chosen = str(get_locale() or "en")
    return chosen if chosen in LANGUAGES else "en"


def _missing() -> Any:
    """An unknown or tampered link: whose it is is unknown, so the browser's language."""
    return _render(
        "surveys/answer_notice.html",
        _browser_locale(),
        status=404,
        heading="missing",
    )


def _page(view: answers.PageView, token: str, status: int = 200, **context: Any) -> Any:
    if view.state == answers.State.EXPIRED:
        status = 410
    return _render("surveys/answer.html", view.locale, status, view=view, token=token, **context)


def _submitted() -> answers.AnswerInput:
    form = request.form
    return answers.AnswerInput(
        score=form.get("score"),
        comment=form.get("comment", ""),
        choices={
            name.removeprefix("choice-"): value
            for name, value in form.items()
            if name.startswith("choice-")
        },
        change=form.get("change") == "1",
    )


def _again(token: str, data: answers.AnswerInput, status: int, errors: dict[str, Any]) -> Any:
    """The form again with what was sent kept and the message by its field."""
    view = answers.answer_page(token, device=_device())
    if view is None:
        return _missing()
    if view.state != answers.State.EXPIRED and (
        view.state == answers.State.OPEN or view.may_change
    ):
        view.score = answers.parse_score(data.score, view)
        view.comment = data.comment
        view.chosen = answers.parse_choices(data.choices)
    return _page(view, token, status, errors=errors)


@bp.route("/s/<token>", methods=["GET", "POST"])
@csrf.exempt  # checked below, so a lost session gives the form back (module docstring)
@public
@limiter.limit(_page_limit, key_func=get_remote_address, scope="survey-page")
def answer(token: str) -> Any:
    if not well_formed(token):
        return _missing()
    if request.method != "POST":
        view = answers.answer_page(token, device=_device(), score=request.args.get("score"))
        return _missing() if view is None else _page(view, token)
    data = _submitted()
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        expired = _("This page had been open too long. Check your answer and send it again.")
        return _again(token, data, 400, {"form": expired})
    device = _device()
    fresh = secrets.token_urlsafe(32)  # this browser's cookie, if it has none yet
    try:
        recorded = answers.record_answer(answers.ACTOR, token, data, device=device or fresh)
    except answers.AlreadyAnswered:
        view = answers.answer_page(token, device=device)
        return _missing() if view is None else _page(view, token, 409)
    except answers.Expired:
        return _again(token, data, 410, {})
    except NotFound:
        return _missing()
    except ValidationFailed as error:
        return _again(token, data, 400, {error.field or "form": error.message})
    response = _render(
        "surveys/answer_thanks.html",
        recorded.locale,
        changed=recorded.changed,
        token=token,
    )
    if not recorded.changed:  # the hour to change this answer starts now
        response.set_cookie(
            DEVICE_COOKIE,
            device or fresh,
            max_age=int(answers.CHANGE_WINDOW.total_seconds()),
            path="/s/",
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
            httponly=True,
            samesite="Lax",
        )
    return response


@bp.errorhandler(TooManyRequests)
def too_many(error: TooManyRequests) -> Any:
    """The answer page's per-IP limit: a page in the customer's language saying to wait. Other
    survey pages keep the portal's own error page."""
    if request.endpoint != "surveys.answer":
        return error_response(429)
    token = (request.view_args or {}).get("token", "")
    locale = answers.invitation_locale(token) or _browser_locale()
    return _render("surveys/answer_notice.html", locale, status=429, heading="busy")


@bp.route("/surveys/programmes/<int:programme_id>/preview/page")
@roles(Role.LEAD, Role.ADMIN)
def preview_page(programme_id: int) -> Any:
    locale = request.args.get("lang", "en")
    if locale not in LANGUAGES:
        locale = "en"
    view = answers.preview_view(programme_id, locale, SAMPLE_NAMES[locale], SAMPLE_SUBJECT)
    if view is None:
        return error_response(404)
    return _render("surveys/answer.html", locale, view=view, token="", preview=True)
