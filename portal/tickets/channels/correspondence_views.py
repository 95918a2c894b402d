"""Correspondence with the complainant on the ticket page — notices, replies, reply templates,
linking a prospect, the original emails — and the admin pages for the inbound quarantine and
the reply templates. Views are thin: notices, replies, intake, inbound and the quarantine's
reads check and change."""

from typing import Any

from flask import Blueprint, Response, flash, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.services import actor_for
from portal.core.access import Role, roles
from portal.core.errors import ServiceError
from portal.core.forms import checked, choices, form_version
from portal.core.htmx import render, see_other
from portal.core.requests import parse_id
from portal.tickets import taxonomy
from portal.tickets.channels import inbound, intake, notices, quarantine, replies
from portal.tickets.channels.forms import (
    LinkForm,
    NoticeForm,
    RecordNoticeForm,
    ReplyForm,
    ReplyTemplateForm,
)
from portal.tickets.labels import INBOUND_STATUS_LABELS, notice_label
from portal.tickets.models import InboundMail, InboundStatus
from portal.tickets.refusals import refused_beside

bp = Blueprint("correspondence", __name__)

HANDLING = (Role.ADMIN, Role.HANDLER, Role.LEAD)


def _actor() -> Any:
    return actor_for(current_user)


def _back(ticket_id: int) -> Response:
    # No "#correspondence": htmx's redirect to the same page with only a new fragment would
    # not reload it.
    return see_other(url_for("tickets.show", ticket_id=ticket_id))


# ---------------------------------------------------------------- on the ticket page


@bp.route("/tickets/<int:ticket_id>/notices", methods=["POST"])
@roles(*HANDLING)
@refused_beside("notice-{kind}")
def send_notice(ticket_id: int) -> Any:
    form = NoticeForm()
    checked(form)
    kind = form.kind.data or ""
    ticket = notices.send_notice(_actor(), ticket_id, form_version(form), kind, form.message.data)
    flash(_("The %(notice)s is on its way.", notice=notice_label(kind, ticket.profile)), "success")
    return _back(ticket_id)


@bp.route("/tickets/<int:ticket_id>/notices/record", methods=["POST"])
@roles(*HANDLING)
@refused_beside("record")
def record_notice(ticket_id: int) -> Any:
    form = RecordNoticeForm()
    form.kind.choices = choices({request.form.get("kind", ""): ""})
    checked(form)
    notices.record_notice(
        _actor(),
        ticket_id,
        form_version(form),
        form.kind.data or "",
        form.via.data or "",
        form.note.data or "",
    )
    flash(_("Notice recorded."), "success")
    return _back(ticket_id)


@bp.route("/tickets/<int:ticket_id>/reply", methods=["POST"])
@roles(*HANDLING)
@refused_beside("reply")
def reply(ticket_id: int) -> Any:
    """A reply never waits for the ticket's version: someone else's status change meanwhile
    does not touch what the reply says."""
    form = ReplyForm()
    checked(form)
    notices.reply(_actor(), ticket_id, form.body.data or "")
    flash(_("Reply queued to the complainant."), "success")
    return _back(ticket_id)


@bp.route("/tickets/<int:ticket_id>/reply-text")
@roles(*HANDLING)
def reply_text(ticket_id: int) -> Any:
    """The reply box with a reply template's text, filled for this ticket, added to what the
    handler already wrote (htmx swaps the box)."""
    text = replies.reply_text(
        _actor(),
        ticket_id,
        parse_id(request.args.get("template")),
        request.args.get("body") or "",
    )
    return render("tickets/_reply_box.html", text=text)


@bp.route("/tickets/<int:ticket_id>/link", methods=["POST"])
@roles(*HANDLING)
@refused_beside("link")
def link(ticket_id: int) -> Any:
    form = LinkForm()
    checked(form)
    number = (form.customer_number.data or "").strip()
    intake.link_prospect(_actor(), ticket_id, form_version(form), number)
    flash(_("Linked to customer %(number)s.", number=number), "success")
    return _back(ticket_id)


def _eml(row: InboundMail) -> Response:
    return Response(
        row.raw or b"",
        mimetype="message/rfc822",
        headers={"Content-Disposition": f'attachment; filename="inbound-{row.id}.eml"'},
    )


@bp.route("/tickets/<int:ticket_id>/emails/<int:inbound_id>.eml")
@roles(*HANDLING)
def original_email(ticket_id: int, inbound_id: int) -> Any:
    return _eml(quarantine.original_email(_actor(), ticket_id, inbound_id))


# ---------------------------------------------------------------- the inbound quarantine


@bp.route("/admin/inbound")
@roles(Role.ADMIN)
def inbound_list() -> Any:
    page = quarantine.quarantine_page(
        _actor(),
        request.args.get("status", InboundStatus.QUARANTINED.value),
        parse_id(request.args.get("before")),
    )
    return render("tickets/inbound.html", **vars(page), status_labels_inbound=INBOUND_STATUS_LABELS)


@bp.route("/admin/inbound/<int:inbound_id>")
@roles(Role.ADMIN)
def inbound_show(inbound_id: int) -> Any:
    message = quarantine.received_message(_actor(), inbound_id)
    return render(
        "tickets/inbound_show.html", **vars(message), status_labels_inbound=INBOUND_STATUS_LABELS
    )


@bp.route("/admin/inbound/<int:inbound_id>.eml")
@roles(Role.ADMIN)
def inbound_raw(inbound_id: int) -> Any:
    return _eml(quarantine.received(_actor(), inbound_id))


@bp.route("/admin/inbound/<int:inbound_id>/process", methods=["POST"])
@roles(Role.ADMIN)
def inbound_process(inbound_id: int) -> Any:
    outcome = inbound.process_again(_actor(), inbound_id)
    flash(
        _("Processed again: %(status)s.", status=INBOUND_STATUS_LABELS[outcome.status]),
        "success" if outcome.status != InboundStatus.QUARANTINED else "error",
    )
    return see_other(url_for("correspondence.inbound_show", inbound_id=inbound_id))


@bp.route("/admin/inbound/<int:inbound_id>/dismiss", methods=["POST"])
@roles(Role.ADMIN)
def inbound_dismiss(inbound_id: int) -> Any:
    inbound.dismiss(_actor(), inbound_id)
    flash(_("Message dismissed."), "success")
    return see_other(url_for("correspondence.inbound_list"))


# ---------------------------------------------------------------- reply templates


def _cause_choices(form: ReplyTemplateForm) -> None:
    locale = str(get_locale() or "en")
    form.cause_code.choices = choices(
        {
            "": _("Any cause"),
            **{
                n.code: f"{n.code} {n.label(locale)}" for n in taxonomy.nodes("C", active_only=True)
            },
        }
    )


@bp.route("/admin/reply-templates", methods=["GET", "POST"])
@bp.route("/admin/reply-templates/<int:template_id>", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.LEAD)
def reply_templates(template_id: int | None = None) -> Any:
    editing = replies.get_template(template_id) if template_id is not None else None
    form = ReplyTemplateForm(obj=editing if request.method == "GET" else None)
    _cause_choices(form)
    if request.method == "GET" and editing is not None:
        form.cause_code.data = editing.cause_code or ""
    error = None
    if request.method == "POST" and form.validate():
        try:
            replies.save(
                _actor(),
                template_id,
                replies.ReplyTemplateInput(
                    name=form.name.data or "",
                    locale=form.locale.data or "",
                    cause_code=form.cause_code.data or None,
                    body=form.body.data or "",
                    active=bool(form.active.data),
                ),
            )
        except ServiceError as problem:
            error = problem
        else:
            flash(_("Reply template saved."), "success")
            return see_other(url_for("correspondence.reply_templates"))
    status = 400 if request.method == "POST" else 200
    return render(
        "tickets/reply_templates.html",
        status=status,
        form=form,
        error=error,
        editing=editing,
        templates=replies.all_templates(),
        placeholders=replies.PLACEHOLDERS,
    )
