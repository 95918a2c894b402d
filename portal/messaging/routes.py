"""The admin outbox, the suppression list and the template editor; the public unsubscribe link.
Views are thin: the services check and change."""

from typing import Any

from flask import Blueprint, Response, current_app, flash, make_response, request, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user

from portal.accounts.services import actor_for
from portal.core.access import Role, public, roles
from portal.core.config import LANGUAGES
from portal.core.errors import ServiceError, ValidationFailed
from portal.core.extensions import csrf, limiter
from portal.core.htmx import is_htmx, render, see_other
from portal.core.i18n import html_lang
from portal.core.pagination import Page
from portal.core.requests import parse_id
from portal.core.security import CONTENT_SECURITY_POLICY
from portal.messaging import outbox, services, template_editing
from portal.messaging.forms import TemplateForm
from portal.messaging.labels import MESSAGE_STATUS_LABELS, PURPOSE_LABELS, UNSUBSCRIBE_LABELS
from portal.messaging.models import MessageStatus
from portal.messaging.templates import default_keys

bp = Blueprint("messaging", __name__)

PAGE = 50
EVENTS_SHOWN = 50
# Mailbox providers send one-click POSTs from shared addresses: the limit only stops floods.
UNSUBSCRIBE_LIMIT = "60 per minute"
# The HTML part of a stored message is the one place the portal serves markup it did not
# write. It gets a policy of its own: no script, no network, a sandbox even when opened
# directly, and framing by the portal's own pages only.
HTML_PART_POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
        "sandbox",
    ]
)
# The editor previews the HTML part in a sandboxed srcdoc frame, which inherits the page's
# policy: inline styles are allowed on this page so that the preview shows the email's own.
# Scripts stay blocked (by the frame's sandbox and by script-src), remote images too.
EDITOR_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)


# What every template may use, prefixed with the room's name (see init_app).
TEMPLATE_GLOBALS = {
    "message_status_labels": MESSAGE_STATUS_LABELS,
    "message_purpose_labels": PURPOSE_LABELS,
}


def _actor() -> Any:
    return actor_for(current_user)


# ---------------------------------------------------------------- the outbox


@bp.route("/admin/outbox", endpoint="outbox")
@roles(Role.ADMIN)
def outbox_list() -> Any:
    filters = outbox.OutboxFilters.from_args(request.args)
    try:
        page = outbox.outbox_page(_actor(), filters, PAGE)
        filter_error = None
    except ValidationFailed as error:
        page, filter_error = Page([], None), error.message
    context = {"page": page, "filters": filters, "filter_error": filter_error}
    if is_htmx() and request.headers.get("HX-Target") == "outbox-results":
        return render("messaging/_outbox_results.html", **context)
    return render(
        "messaging/outbox.html",
        **context,
        kinds=default_keys(),
    )


@bp.route("/admin/outbox/<int:message_id>")
@roles(Role.ADMIN)
def message(message_id: int) -> Any:
    page = outbox.message_page(_actor(), message_id, EVENTS_SHOWN)
    return render(
        "messaging/message.html",
        message=page.message,
        text=page.text,
        customer=page.customer,
        events=page.events,
    )


@bp.route("/admin/outbox/<int:message_id>/html")
@roles(Role.ADMIN)
def message_html(message_id: int) -> Response:
    """The HTML part as the customer's mail program shows it, for a sandboxed frame."""
    response = Response(outbox.message_html(_actor(), message_id), mimetype="text/html")
    response.headers["Content-Security-Policy"] = HTML_PART_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/admin/outbox/<int:message_id>/retry", methods=["POST"])
@roles(Role.ADMIN)
def retry(message_id: int) -> Any:
    target = url_for("messaging.message", message_id=message_id)
    try:
        retried = services.retry(_actor(), message_id)
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        flash(str(error.message), "error")
        return see_other(target)
    flash(
        _("Message queued again.")
        if retried.status == MessageStatus.QUEUED
        else _("Message queued again; it waits for the end of the customer's quiet hours."),
        "success",
    )
    return see_other(target)


# ---------------------------------------------------------------- the suppression list


@bp.route("/admin/suppressions")
@roles(Role.ADMIN)
def suppressions() -> Any:
    page = outbox.suppressions_page(_actor(), request.args.get("after", ""), PAGE)
    return render("messaging/suppressions.html", page=page)


@bp.route("/admin/suppressions/remove", methods=["POST"])
@roles(Role.ADMIN)
def remove_suppression() -> Any:
    removed = outbox.remove_suppression(_actor(), request.form.get("address", ""))
    flash(_("%(address)s can be mailed again.", address=removed.address), "success")
    return see_other(url_for("messaging.suppressions"))


# ---------------------------------------------------------------- templates


@bp.route("/admin/templates")
@roles(Role.ADMIN)
def templates() -> Any:
    return render(
        "messaging/templates.html",
        states=template_editing.template_overview(_actor()),
        languages=LANGUAGES,
    )


def _typed(form: TemplateForm) -> template_editing.TemplateSource:
    return template_editing.TemplateSource.typed(
        form.subject.data or "",
        form.body_text.data or "",
        form.body_html.data or "",
        bool(form.ad_prefix.data),
    )


def _editor(
    state: template_editing.TemplateState, form: TemplateForm, status: int = 200, **extra: Any
) -> Any:
    response = make_response(
        render(
            "messaging/template_edit.html",
            "messaging/_preview.html",
            status=status,
            state=state,
            form=form,
            names=template_editing.available_names(state.key),
            language=LANGUAGES[state.locale],
            **extra,
        )
    )
    response.headers["Content-Security-Policy"] = EDITOR_POLICY
    return response


def _refused(form: TemplateForm, error: ServiceError) -> dict[str, Any]:
    """A refusal shown next to the field it is about, else above the form."""
    if error.field in template_editing.TEMPLATE_PARTS:
        form[error.field].errors = [str(error.message)]
        return {"problem": f"{form[error.field].label.text}: {error.message}"}
    return {"error": error.message}


@bp.route("/admin/templates/<key>/<locale>", methods=["GET", "POST"])
@roles(Role.ADMIN)
def template_edit(key: str, locale: str) -> Any:
    actor = _actor()
    state = template_editing.template_state(actor, key, locale)
    form = TemplateForm()
    if request.method == "GET":
        form.subject.data = state.source.subject
        form.body_text.data = state.source.body_text
        form.body_html.data = state.source.body_html
        form.ad_prefix.data = state.source.ad_prefix
        form.version.data = str(state.version)
        try:
            preview = template_editing.preview_template(actor, key, locale, state.source)
        except ValidationFailed as error:  # stored before a shipped template changed
            return _editor(state, form, **_refused(form, error))
        return _editor(state, form, preview=preview)
    try:
        template_editing.save_template(
            actor, key, locale, _typed(form), parse_id(form.version.data)
        )
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        return _editor(state, form, status=error.status, **_refused(form, error))
    flash(_("Template saved; messages queued from now on use it."), "success")
    return see_other(url_for("messaging.template_edit", key=key, locale=locale))


@bp.route("/admin/templates/<key>/<locale>/preview", methods=["POST"])
@roles(Role.ADMIN)
def template_preview(key: str, locale: str) -> Any:
    actor = _actor()
    state = template_editing.template_state(actor, key, locale)
    form = TemplateForm()
    try:
        preview = template_editing.preview_template(actor, key, locale, _typed(form))
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        return _editor(state, form, status=error.status, **_refused(form, error))
    return _editor(state, form, preview=preview)


@bp.route("/admin/templates/<key>/<locale>/reset", methods=["POST"])
@roles(Role.ADMIN)
def template_reset(key: str, locale: str) -> Any:
    target = url_for("messaging.template_edit", key=key, locale=locale)
    try:
        reset = template_editing.reset_template(
            _actor(), key, locale, parse_id(request.form.get("version"))
        )
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        flash(str(error.message), "error")
        return see_other(target)
    if reset:
        flash(_("The shipped template is in use again."), "success")
    else:
        flash(_("This template was not edited; nothing to reset."), "info")
    return see_other(target)


# ---------------------------------------------------------------- unsubscribing (public)


def _customer_page(template: str, locales: list[str], status: int = 200, **context: Any) -> Any:
    """A page for a customer, in each of `locales`. Rendered without the staff layout's context
    processors, which would put a CSRF token in a session cookie: a customer following an
    unsubscribe link is given no cookie."""
    environment = current_app.jinja_env
    firm = current_app.config.get("FIRM_NAME", "")
    sections, titles = [], []
    for locale in locales:
        with force_locale(locale):
            page = environment.get_template(template).make_module({"firm": firm, **context})
            sections.append((html_lang(locale), page))  # a module renders as its own markup
            titles.append(str(page.title))
    html = environment.get_template("messaging/customer_page.html").render(
        title=" · ".join(dict.fromkeys(titles)), sections=sections
    )
    return Response(html, status=status, mimetype="text/html")


def _language(locale: str | None) -> str:
    return locale if locale in LANGUAGES else str(get_locale() or "en")


def _broken_link() -> Any:
    """A tampered or expired link: said in every language (whose link it was is unknown)."""
    first = _language(None)
    return _customer_page(
        "messaging/_unsubscribe_broken.html",
        [first, *(code for code in LANGUAGES if code != first)],
        status=400,
    )


# RFC 8058: a mail program's one-click POST carries no cookie, so no CSRF token either. The
# signed token in the URL authorises it, and all it can do is opt its own recipient out.
@bp.route("/u/<token>", methods=["GET", "POST"])
@csrf.exempt
@public
@limiter.limit(UNSUBSCRIBE_LIMIT, key_func=get_remote_address, scope="unsubscribe")
def unsubscribe(token: str) -> Any:
    if request.method == "GET":
        link = services.unsubscribe_link(token)
        if link is None:
            return _broken_link()
        purpose, locale = link
        return _customer_page(
            "messaging/_unsubscribe_confirm.html",
            [_language(locale)],
            what=UNSUBSCRIBE_LABELS[purpose],
            action=url_for("messaging.unsubscribe", token=token),
        )
    if request.form.get("List-Unsubscribe") == "One-Click":
        how = "one-click (RFC 8058)"
    elif request.form.get("confirm") == "page":
        how = "confirmed on the unsubscribe page"
    else:
        how = "POST to the unsubscribe link"
    done = services.unsubscribe(services.UNSUBSCRIBE_LINK, token, how)
    if done is None:
        return _broken_link()
    return _customer_page(
        "messaging/_unsubscribe_done.html",
        [_language(done.locale)],
        what=UNSUBSCRIBE_LABELS[done.purpose],
    )
