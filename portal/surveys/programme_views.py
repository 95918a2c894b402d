"""Lead and admin pages of survey programmes: the list, the form to create or edit one,
switching it on and off, the email preview in either language, and its invitations."""

from typing import Any

from flask import abort, flash, make_response, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.services import actor_for
from portal.core.access import Role, roles
from portal.core.audit import Actor
from portal.core.config import LANGUAGES
from portal.core.errors import ServiceError, ValidationFailed
from portal.core.htmx import render, see_other
from portal.core.requests import parse_id
from portal.core.security import CONTENT_SECURITY_POLICY
from portal.surveys import programmes as services
from portal.surveys.blueprint import bp
from portal.surveys.forms import ProgrammeForm, ToggleForm
from portal.surveys.invitation_list import invitations_page
from portal.surveys.labels import (
    INVITATION_STATUS_LABELS,
    MESSAGE_STATE_LABELS,
    METRIC_LABELS,
    ROUTE_LABELS,
    SEGMENT_LABELS,
    TRIGGER_HELP,
    TRIGGER_LABELS,
    WAVE_MONTH_LABELS,
)

LEADS = (Role.LEAD, Role.ADMIN)
# The email's HTML part is previewed in a sandboxed srcdoc frame, which inherits the page's
# policy: inline styles are allowed on this page so that the preview shows the email's own (its
# score buttons). Scripts stay blocked, by the frame's sandbox and by script-src.
PREVIEW_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)


# What every template may use, prefixed with the room's name (see init_app).
TEMPLATE_GLOBALS = {
    "surveys_metric_labels": METRIC_LABELS,
    "surveys_trigger_labels": TRIGGER_LABELS,
    "surveys_trigger_help": TRIGGER_HELP,
    "surveys_route_labels": ROUTE_LABELS,
    "surveys_segment_labels": SEGMENT_LABELS,
    "surveys_wave_month_labels": WAVE_MONTH_LABELS,
    "surveys_invitation_status_labels": INVITATION_STATUS_LABELS,
    "surveys_message_state_labels": MESSAGE_STATE_LABELS,
}


def _actor() -> Actor:
    return actor_for(current_user)


@bp.route("/surveys/programmes")
@roles(*LEADS)
def programmes() -> Any:
    return render("surveys/programmes.html", rows=services.programmes(_actor()))


def _refused(form: ProgrammeForm, error: ServiceError) -> str | None:
    """Put a use case's refusal beside the field it names; the message for the top of the
    form otherwise."""
    target = form.field_named(error.field) if isinstance(error, ValidationFailed) else None
    if target is None:
        return str(error.message)
    target.errors = [*target.errors, str(error.message)]
    return None


def _form_page(
    form: ProgrammeForm, programme: Any = None, error: Any = None, status: int = 200
) -> Any:
    locked = programme is not None and services.has_answers(programme.id)
    return render(
        "surveys/programme_form.html",
        status=status,
        form=form,
        programme=programme,
        error=error,
        metric_locked=locked,
        invitations_out=programme is not None and services.has_invitations_out(programme.id),
        languages=LANGUAGES,
    )


@bp.route("/surveys/programmes/new", methods=["GET", "POST"])
@roles(*LEADS)
def programme_new() -> Any:
    actor = _actor()
    services.require_lead(actor)
    form = ProgrammeForm(request.form if request.method == "POST" else None)
    if request.method == "GET":
        return _form_page(form)
    if not form.validate():
        return _form_page(form, status=400)
    try:
        created = services.create_programme(actor, form.as_input())
    except ServiceError as refused:
        return _form_page(form, error=_refused(form, refused), status=refused.status)
    flash(_("Programme saved, switched off. Preview it, then switch it on."), "success")
    return see_other(url_for("surveys.programme_edit", programme_id=created.id))


@bp.route("/surveys/programmes/<int:programme_id>/edit", methods=["GET", "POST"])
@roles(*LEADS)
def programme_edit(programme_id: int) -> Any:
    actor = _actor()
    programme = services.programme(actor, programme_id)
    if request.method == "GET":
        form = ProgrammeForm()
        form.fill_from(programme)
        return _form_page(form, programme)
    form = ProgrammeForm(request.form)
    if not form.validate():
        return _form_page(form, programme, status=400)
    try:
        services.update_programme(actor, programme_id, form.as_input(), parse_id(form.version.data))
    except ServiceError as refused:
        programme = services.programme(actor, programme_id)
        return _form_page(form, programme, error=_refused(form, refused), status=refused.status)
    flash(_("Programme saved."), "success")
    return see_other(url_for("surveys.programme_edit", programme_id=programme_id))


@bp.route("/surveys/programmes/<int:programme_id>/toggle", methods=["POST"])
@roles(*LEADS)
def programme_toggle(programme_id: int) -> Any:
    actor = _actor()
    form = ToggleForm(request.form)
    switch_on = request.form.get("active") == "1"
    changed = services.set_active(actor, programme_id, switch_on, parse_id(form.version.data))
    if changed.active:
        flash(
            _(
                "Programme switched on: it invites for what happens from now on, never for "
                "earlier tickets or contacts."
            ),
            "success",
        )
    else:
        flash(_("Programme switched off: it invites nobody more."), "success")
    return see_other(url_for("surveys.programme_edit", programme_id=programme_id))


@bp.route("/surveys/programmes/<int:programme_id>/preview/email")
@roles(*LEADS)
def preview_email(programme_id: int) -> Any:
    locale = request.args.get("lang", "en")
    if locale not in LANGUAGES:
        abort(404)
    preview = services.email_preview(_actor(), programme_id, locale)
    response = make_response(
        render(
            "surveys/programme_preview.html",
            programme=services.programme(_actor(), programme_id),
            preview=preview,
            languages=LANGUAGES,
        )
    )
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    return response


@bp.route("/surveys/programmes/<int:programme_id>/invitations")
@roles(*LEADS)
def invitations(programme_id: int) -> Any:
    page = invitations_page(
        _actor(),
        programme_id,
        status=request.args.get("status", ""),
        before=parse_id(request.args.get("before")),
    )
    return render("surveys/invitations.html", "surveys/_programme_invitations.html", page=page)
