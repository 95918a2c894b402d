"""The review page of public-form submissions held as suspected spam, for handlers, leads and
admins: each with when it came, what the trap saw and what was sent; "Release as a ticket" or
"Discard as spam", each with a reason. Views are thin: `suspected_spam` checks and changes."""

from typing import Any

from flask import Blueprint, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.services import actor_for
from portal.core.access import Role, roles
from portal.core.errors import ServiceError
from portal.core.forms import form_version
from portal.core.htmx import render, see_other
from portal.core.requests import parse_id
from portal.tickets.channels import suspected_spam
from portal.tickets.channels.forms import ABOUT_LABELS, HeldDecisionForm
from portal.tickets.labels import HELD_STATUS_LABELS, TRAP_LABELS
from portal.tickets.models import HeldStatus, HeldSubmission

bp = Blueprint("suspected_spam", __name__)

HANDLING = (Role.ADMIN, Role.HANDLER, Role.LEAD)


def trap_seen(row: HeldSubmission) -> str:
    """What the trap saw, in words: "Sent too fast: 1.2 s after the form was served"."""
    if row.seconds is not None:
        return _(
            "Sent too fast: %(seconds)s s after the form was served",
            seconds=format(row.seconds, ".1f"),
        )
    return str(TRAP_LABELS.get(row.trap, row.trap))


def _page(status: int = 200, problem: dict[str, Any] | None = None) -> Any:
    page = suspected_spam.review_page(
        actor_for(current_user),
        request.args.get("state", HeldStatus.HELD.value),
        parse_id(request.args.get("before")),
    )
    return render(
        "tickets/suspected_spam.html",
        status=status,
        **vars(page),
        problem=problem or {},
        held_status_labels=HELD_STATUS_LABELS,
        about_labels=ABOUT_LABELS,
        trap_seen=trap_seen,
    )


@bp.route("/tickets/suspected-spam")
@roles(*HANDLING)
def index() -> Any:
    return _page()


def _decide(held_id: int, decide: Any) -> Any:
    """Run a decision; a refusal shows the page again with the message by the submission's
    reason field, and what was typed kept."""
    form = HeldDecisionForm()
    try:
        if not form.validate():
            message = " ".join(str(e) for errors in form.errors.values() for e in errors)
            raise ServiceError(message or _("Check the form."), field="reason")
        return decide(form_version(form), form.reason.data or "")
    except ServiceError as error:
        problem = {"id": held_id, "message": str(error.message), "reason": form.reason.data}
        return _page(status=error.status, problem=problem)


@bp.route("/tickets/suspected-spam/<int:held_id>/release", methods=["POST"])
@roles(*HANDLING)
def release(held_id: int) -> Any:
    def released(version: int, reason: str) -> Any:
        ticket = suspected_spam.release(actor_for(current_user), held_id, version, reason)
        flash(
            _(
                "Released as %(reference)s: the ticket is in the queue, received when it was "
                "sent, and the acknowledgement is on its way.",
                reference=ticket.reference,
            ),
            "success",
        )
        return see_other(url_for("suspected_spam.index"))

    return _decide(held_id, released)


@bp.route("/tickets/suspected-spam/<int:held_id>/discard", methods=["POST"])
@roles(*HANDLING)
def discard(held_id: int) -> Any:
    def discarded(version: int, reason: str) -> Any:
        suspected_spam.discard(actor_for(current_user), held_id, version, reason)
        flash(_("Discarded as spam; it is kept with your reason."), "success")
        return see_other(url_for("suspected_spam.index"))

    return _decide(held_id, discarded)
