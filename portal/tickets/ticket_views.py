"""The ticket page as the views render it: the page with every action's form and, after a
refused action (`refusals`), the same page with the message beside that action and what was
typed kept. For htmx the page's content is swapped in place of the old.
"""

from typing import Any

from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.services import actor_for
from portal.core.forms import choices
from portal.core.htmx import is_htmx, render
from portal.tickets import read_models
from portal.tickets.channels.forms import LinkForm, NoticeForm, RecordNoticeForm, ReplyForm
from portal.tickets.forms import AssignForm, ClockForm, MergeForm, NoteForm, StatusForm
from portal.tickets.labels import SENT_VIA_LABELS, notice_label
from portal.tickets.models import NoticeKind, Ticket
from portal.tickets.notice_rules import given
from portal.tickets.page_panels import page_panels
from portal.tickets.refusals import Refusal


def panel_context(
    ticket: Ticket, kinds: tuple[NoticeKind, ...], missing: tuple[NoticeKind, ...]
) -> dict[str, Any]:
    """The forms and labels of the ticket page's correspondence panel, beside what the ticket
    page's read model gives it (complainant, notice rows, reply templates)."""
    record_form = RecordNoticeForm(version=str(ticket.version))
    record_form.kind.choices = choices({k.value: notice_label(k, ticket.profile) for k in kinds})
    return {
        "missing_notice_labels": [notice_label(k, ticket.profile) for k in missing],
        "notice_label": notice_label,
        "sent_via_labels": SENT_VIA_LABELS,
        "given": given,
        "notice_form": NoticeForm(version=str(ticket.version)),
        "record_form": record_form,
        "reply_form": ReplyForm(),
        "link_form": LinkForm(version=str(ticket.version)),
    }


def render_ticket_page(ticket_id: int, refusal: Refusal | None = None, status: int = 200) -> Any:
    """The ticket page for the signed-in user; with `refusal`, the page after a refused
    action (for htmx: swapped over the page's content, focus on the message)."""
    actor = actor_for(current_user)
    page = read_models.ticket_page(actor, ticket_id)
    ticket = page.ticket
    assign_form = AssignForm(version=str(ticket.version))
    assign_form.assignee_id.choices = [("", _("Nobody"))] + [
        (str(h.id), h.name) for h in page.handlers
    ]
    assign_form.team_id.choices = [("", _("No team"))] + [(str(t.id), t.name) for t in page.teams]
    chosen = refusal.typed if refusal and refusal.action == "assign" else {}
    assign_form.assignee_id.data = chosen.get("assignee_id", str(ticket.assignee_id or ""))
    assign_form.team_id.data = chosen.get("team_id", str(ticket.team_id or ""))
    told_via = "email" if page.complainant.email else "post"
    clock_form = ClockForm(version=str(ticket.version), told_via=told_via)
    if refusal and refusal.action.startswith("clock-") and refusal.value("told_via"):
        clock_form.told_via.data = refusal.value("told_via")
    correspondence = panel_context(ticket, page.notice_kinds, page.missing_at_close)
    if refusal and refusal.action == "record":
        correspondence["record_form"].kind.data = refusal.value("kind")
        correspondence["record_form"].via.data = refusal.value("via")
    context = {
        **vars(page),
        "refusal": refusal,
        "status_form": StatusForm(version=str(ticket.version)),
        "clock_form": clock_form,
        "note_form": NoteForm(),
        "assign_form": assign_form,
        "merge_form": MergeForm(),
        "page_panels": page_panels(actor, ticket),
        **correspondence,
    }
    body, code = render("tickets/show.html", status=status, **context)
    if refusal is not None and f'id="{refusal.anchor}"' not in body:
        # The page as it now stands no longer offers that action (someone closed the ticket
        # meanwhile, or the move was never on offer): the message goes above the page.
        refusal.beside = False
        body, code = render("tickets/show.html", status=status, **context)
    if refusal is None or not is_htmx():
        return body, code
    swap = {"HX-Retarget": "#ticket-page", "HX-Reswap": "outerHTML", "HX-Reselect": "#ticket-page"}
    return body, code, swap
