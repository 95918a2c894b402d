"""The public feedback and complaint form: no sign-in, in the visitor's language.

Abuse is held off without a third-party CAPTCHA: a per-IP limit here, a per-address limit
in the use case, a field only bots fill in, and a signed time stamp that catches a form sent
back faster than a person could type it. A trapped submission is checked like any other and
kept as suspected spam for a handler to release or discard (`suspected_spam`), never dropped:
a person who types fast must not lose their complaint. It gets the same thank-you page, without
a reference, so a bot learns nothing from the answer.

The thank-you page reads the reference from the visitor's own session after a 303: references
are sequential, so a page that took one from its URL would show anyone's.
"""

import logging
import math
import time
from typing import Any

from flask import Blueprint, current_app, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest

from portal.core.access import public
from portal.core.errors import ServiceError, error_response
from portal.core.extensions import limiter
from portal.core.htmx import render, see_other
from portal.customers.pii import mask_email
from portal.tickets.channels import suspected_spam, webform
from portal.tickets.channels.forms import FeedbackForm
from portal.tickets.models import Trap

bp = Blueprint("public", __name__)
log = logging.getLogger("portal.tickets.public")  # the name operators filter on

FORM_SALT = "feedback-form"
MIN_SECONDS = 3  # nobody reads and fills in the form faster
THANKS = "feedback_thanks"  # the session key of the last reference given
TRAP_FIELDS = ("website", "started")


def started_token(at: float | None = None) -> str:
    """The signed time the form is served at, sent back with it."""
    return _serializer().dumps(time.time() if at is None else at)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=FORM_SALT)


def _trapped(form: FeedbackForm) -> suspected_spam.Caught | None:
    """What makes this submission look sent by a bot, or None."""
    if (form.website.data or "").strip():
        return suspected_spam.Caught(Trap.TRAP_FIELD)
    try:
        started = _serializer().loads(form.started.data or "")
    except BadSignature:
        return suspected_spam.Caught(Trap.TIME_STAMP)
    if isinstance(started, bool) or not isinstance(started, int | float):
        return suspected_spam.Caught(Trap.TIME_STAMP)
    elapsed = time.time() - started
    if elapsed < MIN_SECONDS:
        return suspected_spam.Caught(Trap.TOO_FAST, elapsed)
    return None


def _ip_limit() -> str:
    return current_app.config["PUBLIC_FORM_LIMIT"]


def _counts(response: Any) -> bool:
    """A form sent back to be corrected does not use up the visitor's allowance."""
    return response.status_code != 400


def _form() -> FeedbackForm:
    """The form with what was posted as text fields only: Flask-WTF would also read uploaded
    files and a JSON body into the fields, which a text field cannot hold."""
    return FeedbackForm(formdata=request.form if request.method == "POST" else None)


def _page(form: FeedbackForm, status: int = 200, error: Any = None) -> Any:
    if not form.started.data:
        form.started.data = started_token()
    return render("public/feedback.html", form=form, status=status, error=error)


def _refused(form: FeedbackForm, error: ServiceError) -> Any:
    """The use case's refusal next to its field when the form has it, else above the form."""
    message = str(error.message)  # str(): a lazy string would reach Jinja unescaped
    if error.field in form and error.field not in TRAP_FIELDS:
        form[error.field].errors = [*form[error.field].errors, message]
        return _page(form, status=error.status)
    return _page(form, status=error.status, error=message)


@bp.route("/feedback", methods=["GET", "POST"])
@public
@limiter.limit(
    _ip_limit,
    key_func=get_remote_address,
    methods=["POST"],
    deduct_when=_counts,
    scope="feedback-ip",
)
def feedback() -> Any:
    form = _form()
    if request.method == "GET":
        return _page(form)
    caught = _trapped(form)
    if not form.validate():
        return _page(form, status=400)
    submission = webform.WebSubmission(
        kind=form.kind.data,
        about=form.about.data,
        description=form.description.data,
        request=form.request.data or "",
        account_hint=form.account_hint.data or "",
        name=form.name.data,
        email=form.email.data,
        phone=form.phone.data or "",
        customer_number=form.customer_number.data or "",
        locale=str(get_locale() or ""),
    )
    try:
        if caught is None:
            ticket = webform.submit(submission)
            session[THANKS] = {"reference": ticket.reference, "email": mask_email(form.email.data)}
        else:
            held = suspected_spam.hold(submission, caught)
            log.info(
                "public form: held submission %s from %s as suspected spam (%s)",
                held,
                get_remote_address(),
                caught.trap.value,
            )
            session.pop(THANKS, None)  # the same page as any, without a reference
    except ServiceError as error:
        return _refused(form, error)
    return see_other(url_for("public.thanks"))


@bp.route("/feedback/thanks")
@public
def thanks() -> Any:
    return render("public/thanks.html", sent=session.get(THANKS))


@bp.errorhandler(429)
def too_many(error: Any) -> Any:
    """The per-IP limit: the form again, with what was typed, and when to try again."""
    current = limiter.current_limit
    minutes = 60
    if current is not None:
        minutes = max(1, math.ceil((current.reset_at - time.time()) / 60))
    message = _(
        "You have sent several messages from this connection in a short time. Please try "
        "again in %(minutes)d minutes.",
        minutes=minutes,
    )
    body, status = _page(_form(), status=429, error=message)
    return body, status, {"Retry-After": str(minutes * 60)}


@bp.errorhandler(BadRequest)
def control_characters(error: BadRequest) -> Any:
    """The app refuses NUL characters in any form before a view runs (`core.requests`); here
    the form comes back with the message by each field that had one, and the rest of the text
    kept."""
    if request.method != "POST" or not any(
        "\x00" in value for _name, value in request.form.items(multi=True)
    ):
        return error_response(400)
    cleaned = MultiDict(
        [(name, value.replace("\x00", "")) for name, value in request.form.items(multi=True)]
    )
    form = FeedbackForm(formdata=cleaned)
    message = _("Text cannot contain NUL characters.")
    for field in form:
        if field.name not in TRAP_FIELDS and any(
            "\x00" in value for value in request.form.getlist(field.name)
        ):
            field.errors = [message]
    return _page(form, status=400)


@bp.errorhandler(CSRFError)
def expired(error: CSRFError) -> Any:
    """A lost session cookie (a long pause, cookies cleared) must not lose what was typed."""
    log.info("public form: CSRF refused (%s)", error.description)
    message = _("Your form had expired. Check what you typed and send it again.")
    return _page(_form(), status=400, error=message)
