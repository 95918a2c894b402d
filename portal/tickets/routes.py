"""The queue, intake, the ticket page and its actions, the history export, the bell, and the
taxonomy and team admin pages. Views are thin: they parse, call one use case or read model
(`read_models`, `queue`) and render; the use cases check and change."""

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Response, flash, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.services import actor_for
from portal.core.access import Role, roles, signed_in
from portal.core.errors import Conflict, NotFound, ServiceError, ValidationFailed
from portal.core.forms import checked, form_version
from portal.core.htmx import inline_error, is_htmx, render, see_other
from portal.core.i18n import viewer_zone
from portal.core.requests import parse_id
from portal.core.timeutil import as_utc, parse_instant, utc_now
from portal.customers import services as customer_services
from portal.customers.models import Customer
from portal.tickets import (
    access,
    assignment,
    clock_changes,
    deadlines,
    merging,
    notifications,
    queue,
    read_models,
    services,
    taxonomy,
)
from portal.tickets.channels import intake, suspected_spam
from portal.tickets.forms import (
    AssignForm,
    ClockForm,
    DetailsForm,
    MergeForm,
    NoteForm,
    StatusForm,
    TaxonomyForm,
    TicketForm,
    ViewForm,
)
from portal.tickets.labels import (
    ACTION_LABELS,
    FIELD_LABELS,
    KIND_LABELS,
    PROFILE_LABELS,
    REDRESS_LABELS,
    REMEDY_LABELS,
    SEVERITY_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
    SYSTEM_ACTOR_LABELS,
    transition_verb,
)
from portal.tickets.models import Team
from portal.tickets.refusals import refused_beside
from portal.tickets.ticket_views import render_ticket_page

bp = Blueprint("tickets", __name__)

PAGE = 50
HANDLING = (Role.ADMIN, Role.HANDLER, Role.LEAD)


# What every template may use, prefixed with the room's name (see init_app).
def template_globals() -> dict[str, Any]:
    return {
        "ticket_kind_labels": KIND_LABELS,
        "ticket_status_labels": STATUS_LABELS,
        "ticket_severity_labels": SEVERITY_LABELS,
        "ticket_redress_labels": REDRESS_LABELS,
        "ticket_remedy_labels": REMEDY_LABELS,
        "ticket_action_labels": ACTION_LABELS,
        "ticket_profile_labels": PROFILE_LABELS,
        "ticket_urgency": queue.urgency,
        "ticket_time_left": time_left,
        "ticket_due": deadlines.due_text,
        "ticket_clock_left": clock_left,
        "ticket_transition_verb": transition_verb,
        "ticket_field_labels": FIELD_LABELS,
        "ticket_instant": instant,
        "ticket_who": who,
        "ticket_source_labels": SOURCE_LABELS,
    }


def who(event: Any, people: dict[int, str]) -> str:
    """Who acted in a ticket event: a person by name (the event keeps their email), a process
    by its translated name."""
    if event.actor_id is not None and event.actor_id in people:
        return people[event.actor_id]
    return str(SYSTEM_ACTOR_LABELS.get(event.actor_label, event.actor_label))


def instant(value: Any) -> datetime | None:
    """An instant kept as ISO text in an event's data, as a datetime to format (never shown
    raw); None for nothing or for text that is not one."""
    if not value:
        return None
    try:
        return parse_instant(str(value))
    except ValueError:
        return None


def time_left(moment: datetime | None) -> str:
    """ "3 d 4 h left" or "2 h overdue", for the clocks."""
    if moment is None:
        return "—"
    delta = as_utc(moment) - utc_now()
    seconds = abs(int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    span = (
        _("%(d)d d %(h)d h", d=days, h=hours)
        if days
        else _("%(h)d h %(m)d min", h=hours, m=rest // 60)
    )
    return (
        _("%(span)s left", span=span)
        if delta.total_seconds() >= 0
        else _("%(span)s overdue", span=span)
    )


def _span(seconds: int) -> str:
    """A duration as the queue shows it: "2 d 4 h", "5 h", "20 min"."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return _("%(d)d d %(h)d h", d=days, h=hours) if hours else _("%(d)d d", d=days)
    if hours:
        return _("%(h)d h", h=hours)
    return _("%(m)d min", m=rest // 60)


# The queue's clock: a symbol and words beside the colour, so that urgency is not colour alone.
CLOCK_SYMBOLS = {"breached": "‼", "critical": "⚠", "warning": "◔", "paused": "⏸"}


def clock_left(ticket: Any, now: datetime | None = None) -> dict[str, str]:
    """The queue's "time left" cell: its level (for the colour), a symbol, the words shown
    ("2 d 4 h", "overdue 3 d", "paused") and what the symbol means, for screen readers."""
    level = queue.urgency(ticket, now)
    now = now or utc_now()
    notes = {
        "breached": _("Deadline breached"),
        "critical": _("Due within a day"),
        "warning": _("Over 80 percent of the time used"),
        "paused": _("Clock paused"),
    }
    if level == "done":
        text = "—"
    elif level == "paused":
        text = _("paused")
    else:
        seconds = int((as_utc(ticket.due_at) - now).total_seconds())
        if seconds < 0:  # overdue: the coarse figure is what matters
            late = -seconds
            text = _("overdue %(span)s", span=_span(late - late % 86400 if late >= 86400 else late))
        else:
            text = _span(seconds)
    return {
        "level": level,
        "symbol": CLOCK_SYMBOLS.get(level, ""),
        "text": text,
        "note": str(notes.get(level, "")),
    }


def _actor() -> Any:
    return actor_for(current_user)


def _taxonomy_choices(axis: str) -> list[tuple[str, str]]:
    locale = str(get_locale() or "en")
    choices = []
    for node in taxonomy.nodes(axis, active_only=True):
        indent = "\u00a0\u00a0" if node.parent_code else ""
        choices.append((node.code, f"{indent}{node.code} {node.label(locale)}"))
    return choices


def _people_choices(field: Any, blank: str, people: list[Any]) -> None:
    field.choices = [("", blank)] + [(str(h.id), h.name) for h in people]


def _team_choices(field: Any, teams: list[Team]) -> None:
    field.choices = [("", _("No team"))] + [(str(t.id), t.name) for t in teams]


def _fill_taxonomy(form: Any) -> None:
    form.channel_code.choices = _taxonomy_choices("A")
    form.business_code.choices = _taxonomy_choices("B")
    form.cause_code.choices = _taxonomy_choices("C")


# ---------------------------------------------------------------- the queue


@bp.route("/tickets")
@signed_in
def index() -> Any:
    actor = _actor()
    filters = queue.QueueFilters.from_args(request.args)
    if filters.q and not filters.after:
        found = queue.find_reference(actor, filters.q)
        if found is not None:  # a whole reference: straight to the ticket
            return see_other(url_for("tickets.show", ticket_id=found.id))
    return _queue_page(actor, filters)


def _queue_page(
    actor: Any, filters: queue.QueueFilters, status: int = 200, assign_error: str | None = None
) -> Any:
    zone = viewer_zone()
    try:
        page = queue.queue_page(actor, filters, zone, PAGE)
        filter_error = None
    except ValidationFailed as error:
        page, filter_error = queue.QueuePage([], None), error.message
    handling = access.can_handle(actor)
    context = {
        "page": page,
        "names": queue.row_names(page.rows),
        "filters": filters,
        "filter_error": filter_error,
        "can_assign": handling,
        "customer_matches": queue.CUSTOMER_MATCHES,
        "now": utc_now(),
    }
    if is_htmx() and request.headers.get("HX-Target") == "queue-results":
        return render("tickets/_queue_results.html", status=status, **context)
    return render(
        "tickets/index.html",
        status=status,
        **context,
        assign_error=assign_error,
        more_open=bool(filters.more_set() or request.args.get("more")),
        handlers=assignment.handlers() if handling else [],
        teams=assignment.teams(),
        channels=_taxonomy_choices("A"),
        businesses=_taxonomy_choices("B"),
        causes=_taxonomy_choices("C"),
        views=queue.saved_views(current_user.id),
        view_form=ViewForm(query=filters.query()),
    )


@bp.route("/tickets/counts")
@signed_in
def counts() -> Any:
    """The sidebar's numbers and the current filter's total, loaded after the page, with the
    public-form submissions held as suspected spam for those who review them."""
    filters = queue.QueueFilters.from_args(request.args)
    actor = _actor()
    found = queue.sidebar_counts(actor, filters, viewer_zone())
    return render(
        "tickets/_counts.html",
        quick=found.quick,
        held=suspected_spam.waiting_count(actor),
        total=found.total,
        cap=queue.COUNT_CAP,
        views=found.views,
        view_counts=found.view_counts,
    )


@bp.route("/tickets/views", methods=["POST"])
@signed_in
def save_view() -> Any:
    form = ViewForm()
    if not form.validate():
        raise ValidationFailed(_("Give the view a name."), "name")
    view = queue.save_view(current_user.id, form.name.data or "", form.query.data or "")
    flash(_("View “%(name)s” saved.", name=view.name), "success")
    return see_other(url_for("tickets.index") + ("?" + view.query if view.query else ""))


@bp.route("/tickets/views/<int:view_id>/delete", methods=["POST"])
@signed_in
def delete_view(view_id: int) -> Any:
    queue.delete_view(current_user.id, view_id)
    flash(_("View deleted."), "success")
    return see_other(url_for("tickets.index"))


@bp.route("/tickets/assign", methods=["POST"])
@roles(*HANDLING)
def bulk_assign() -> Any:
    """Assign the selected rows; a refusal is shown beside the Assign button, the selection
    kept (htmx), or on the queue as it was (without JavaScript)."""
    back = queue.QueueFilters.from_args(dict(parse_qsl(request.form.get("back", ""))))
    form = AssignForm()
    try:
        ids = [parse_id(v) for v in request.form.getlist("ticket_ids")]
        if not ids or None in ids:
            raise ValidationFailed(_("Select at least one ticket."))
        if not form.validate():
            raise ValidationFailed(_("Choose an assignee or a team."))
        changed = assignment.assign(
            _actor(),
            [i for i in ids if i is not None],
            parse_id(form.assignee_id.data),
            parse_id(form.team_id.data),
        )
    except ServiceError as error:
        if is_htmx():
            return inline_error(error.message, "assign-error", error.status)
        return _queue_page(_actor(), back, status=error.status, assign_error=error.message)
    flash(_("%(n)d tickets assigned.", n=changed), "success")
    query = back.query()
    return see_other(url_for("tickets.index") + ("?" + query if query else ""))


# ---------------------------------------------------------------- intake


def _intake_form(actor: Any, customer: Customer | None) -> TicketForm:
    """The intake form; its dropdowns are filled only when it is shown (`_intake_choices`), so
    a valid submission costs no lookups of taxonomy, staff and teams. Only handlers assign at
    intake: the others' form has no assignee and team."""
    form = TicketForm()
    if not access.can_handle(actor):
        del form.assignee_id
        del form.team_id
    if not form.is_submitted():
        form.kind.data = "complaint"
        form.severity.data = "medium"
        form.channel_code.data = "A01"
        form.business_code.data = "B0201"
        form.cause_code.data = "C99"
        form.customer_id.data = str(customer.id) if customer else ""
        if "assignee_id" in form:
            form.assignee_id.data = str(current_user.id)
    return form


def _intake_choices(actor: Any, form: TicketForm, customer: Customer | None) -> TicketForm:
    _fill_taxonomy(form)
    offered = read_models.intake_choices(actor, customer.id if customer else None)
    if "assignee_id" in form:
        _people_choices(form.assignee_id, _("Nobody yet"), offered.handlers)
        _team_choices(form.team_id, offered.teams)
    form.account_id.choices = [("", _("No specific account"))] + [
        (str(a.id), a.number) for a in offered.accounts
    ]
    return form


@bp.route("/tickets/new", methods=["GET", "POST"])
@signed_in
def new() -> Any:
    actor = _actor()
    customer_id = parse_id(request.values.get("customer_id"))
    customer = customer_services.get_customer(actor, customer_id) if customer_id else None
    form = _intake_form(actor, customer)
    if request.method == "POST" and form.validate():
        received = form.received_at.data
        data = services.TicketInput(
            kind=form.kind.data,
            subject=form.subject.data or "",
            channel_code=form.channel_code.data,
            business_code=form.business_code.data,
            cause_code=form.cause_code.data,
            customer_id=customer.id if customer else None,
            account_id=parse_id(form.account_id.data),
            product=form.product.data,
            severity=form.severity.data,
            request=form.request.data or "",
            description=form.description.data or "",
            assignee_id=parse_id(form.data.get("assignee_id")),
            team_id=parse_id(form.data.get("team_id")),
            received_at=received.replace(tzinfo=viewer_zone()).astimezone(UTC)
            if received
            else None,
        )
        try:
            ticket = intake.register(actor, data)
        except ValidationFailed as error:
            return render(
                "tickets/new.html",
                status=400,
                form=_intake_choices(actor, form, customer),
                customer=customer,
                error=error.message,
            )
        flash(_("Ticket %(reference)s registered.", reference=ticket.reference), "success")
        return see_other(url_for("tickets.show", ticket_id=ticket.id))
    status = 400 if request.method == "POST" else 200
    return render(
        "tickets/new.html",
        status=status,
        form=_intake_choices(actor, form, customer),
        customer=customer,
    )


# ---------------------------------------------------------------- the ticket page


@bp.route("/tickets/<int:ticket_id>")
@signed_in
def show(ticket_id: int) -> Any:
    return render_ticket_page(ticket_id)


@bp.route("/tickets/<int:ticket_id>/status", methods=["POST"])
@roles(*HANDLING)
@refused_beside("status-{to}")
def change_status(ticket_id: int) -> Any:
    form = StatusForm()
    checked(form)
    ticket = services.change_status(
        _actor(),
        ticket_id,
        form_version(form),
        form.to.data or "",
        reason=form.reason.data or "",
        resolution=form.resolution.data,
        remedies=form.remedies.data or [],
        company_response=form.company_response.data or None,
    )
    flash(
        _(
            "%(reference)s is now %(status)s.",
            reference=ticket.reference,
            status=STATUS_LABELS[ticket.status],
        ),
        "success",
    )
    return see_other(url_for("tickets.show", ticket_id=ticket_id))


@bp.route("/tickets/<int:ticket_id>/clock", methods=["POST"])
@roles(*HANDLING)
@refused_beside("clock-{action}")
def clock(ticket_id: int) -> Any:
    form = ClockForm()
    checked(form)
    actor, version = _actor(), form_version(form)
    action = form.action.data
    reason, notice = form.reason.data or "", form.notice.data or ""
    told_via = form.told_via.data or None
    if action == "extend":
        clock_changes.extend_clock(actor, ticket_id, version, reason, notice, told_via)
        message = _("Clock extended.")
    elif action == "pause":
        clock_changes.pause_clock(actor, ticket_id, version, reason, notice, told_via)
        message = _("Clock paused.")
    elif action == "resume":
        clock_changes.resume_clock(actor, ticket_id, version, reason)
        message = _("Clock resumed.")
    elif action == "restart":
        clock_changes.restart_clock(actor, ticket_id, version, reason, form.new_facts_on.data)
        message = _("Clock restarted from the day the new facts arrived.")
    else:
        raise ValidationFailed(_("Unknown clock action."))
    flash(message, "success")
    return see_other(url_for("tickets.show", ticket_id=ticket_id))


@bp.route("/tickets/<int:ticket_id>/assign", methods=["POST"])
@roles(*HANDLING)
@refused_beside("assign")
def assign(ticket_id: int) -> Any:
    form = AssignForm()
    checked(form)
    assignment.reassign(
        _actor(),
        ticket_id,
        form_version(form),
        parse_id(form.assignee_id.data),
        parse_id(form.team_id.data),
    )
    flash(_("Assignment saved."), "success")
    return see_other(url_for("tickets.show", ticket_id=ticket_id))


@bp.route("/tickets/<int:ticket_id>/notes", methods=["POST"])
@signed_in
@refused_beside("note")
def add_note(ticket_id: int) -> Any:
    """A note or a response never waits for the ticket's version: it changes none of the
    fields someone else may have changed meanwhile."""
    form = NoteForm()
    checked(form)
    services.add_note(
        _actor(), ticket_id, form.body.data or "", customer_facing=bool(form.customer_facing.data)
    )
    flash(_("Response recorded.") if form.customer_facing.data else _("Note added."), "success")
    return see_other(url_for("tickets.show", ticket_id=ticket_id))


@bp.route("/tickets/<int:ticket_id>/merge", methods=["POST"])
@roles(*HANDLING)
@refused_beside("merge")
def merge(ticket_id: int) -> Any:
    form = MergeForm()
    checked(form)
    merging.merge(_actor(), ticket_id, form.duplicate.data or "", form.reason.data or "")
    flash(_("Repeat merged into this ticket."), "success")
    return see_other(url_for("tickets.show", ticket_id=ticket_id))


@bp.route("/tickets/<int:ticket_id>/edit", methods=["GET", "POST"])
@roles(*HANDLING)
def edit(ticket_id: int) -> Any:
    ticket = access.get_ticket(_actor(), ticket_id)
    form = DetailsForm(obj=ticket if request.method == "GET" else None)
    _fill_taxonomy(form)
    if request.method == "GET":
        form.version.data = str(ticket.version)
        form.redress_kind.data = ticket.redress_kind or ""
        form.redress_amount.data = str(ticket.redress_amount or "")
    elif form.validate():
        data = services.DetailsInput(
            subject=form.subject.data or "",
            channel_code=form.channel_code.data,
            business_code=form.business_code.data,
            cause_code=form.cause_code.data,
            severity=form.severity.data,
            product=form.product.data,
            request=form.request.data or "",
            description=form.description.data or "",
            root_cause=form.root_cause.data,
            redress_kind=form.redress_kind.data or None,
            redress_amount=form.redress_amount.data or None,
        )
        try:
            services.update_details(_actor(), ticket_id, parse_id(form.version.data) or -1, data)
        except (ValidationFailed, Conflict) as error:
            if isinstance(error, Conflict):  # kept as typed; saving again applies it
                ticket = access.get_ticket(_actor(), ticket_id)
                form.version.data = str(ticket.version)
            return render(
                "tickets/edit.html",
                status=error.status,
                form=form,
                ticket=ticket,
                error=error.message,
            )
        flash(_("Ticket saved."), "success")
        return see_other(url_for("tickets.show", ticket_id=ticket_id))
    status = 400 if request.method == "POST" else 200
    return render("tickets/edit.html", status=status, form=form, ticket=ticket)


# ---------------------------------------------------------------- evidence for a regulator

SPREADSHEET_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(SPREADSHEET_FORMULA) else text


@bp.route("/tickets/<int:ticket_id>/history.csv")
@roles(*HANDLING)
def history_csv(ticket_id: int) -> Response:
    found = read_models.evidence(_actor(), ticket_id)
    ticket = found.ticket
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["ticket", "event", "occurred_at_utc", "actor", "action", "body", "reason", "data"]
    )
    for event in found.events:
        writer.writerow(
            [
                ticket.reference,
                event.id,
                as_utc(event.occurred_at).isoformat(),
                _cell(event.actor_label),
                event.action,
                _cell(event.body),
                _cell(event.reason),
                _cell(_json(event.data)),
            ]
        )
    response = Response("\ufeff" + out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{ticket.reference}-history.csv"'
    )
    return response


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True) if data else ""


@bp.route("/tickets/<int:ticket_id>/print")
@roles(*HANDLING)
def print_view(ticket_id: int) -> Any:
    found = read_models.evidence(_actor(), ticket_id)
    return render(
        "tickets/print.html",
        ticket=found.ticket,
        customer=found.customer,
        events=found.events,
        nodes=found.nodes,
        people=found.people,
        generated_at=utc_now(),
        generated_by=current_user.name,
    )


# ---------------------------------------------------------------- the bell


@bp.route("/notifications")
@signed_in
def notifications_page() -> Any:
    return render(
        "tickets/notifications.html",
        items=notifications.recent(current_user.id, 100),
    )


@bp.route("/notifications/bell")
@signed_in
def bell() -> Any:
    return render("tickets/_bell.html", unread=notifications.unread_count(current_user.id))


@bp.route("/notifications/read", methods=["POST"])
@signed_in
def mark_read() -> Any:
    raw = request.form.get("notification_id")
    notification_id = parse_id(raw) if raw else None
    if raw and notification_id is None:
        raise NotFound(_("No such notification."))
    notifications.mark_read(current_user.id, notification_id)
    return see_other(url_for("tickets.notifications_page"))


# ---------------------------------------------------------------- admin: taxonomy and teams


@bp.route("/admin/taxonomy", methods=["GET", "POST"])
@roles(Role.ADMIN)
def taxonomy_page() -> Any:
    form = TaxonomyForm()
    error = None
    if request.method == "POST":
        if form.validate():
            try:
                node = taxonomy.save_node(
                    _actor(),
                    form.code.data or "",
                    form.label_zh.data or "",
                    form.label_en.data or "",
                    form.parent_code.data or None,
                    bool(form.active.data),
                )
            except ValidationFailed as refused:
                error = refused.message
            else:
                flash(_("Code %(code)s saved.", code=node.code), "success")
                return see_other(url_for("tickets.taxonomy_page"))
        else:
            error = _("Give a code and both labels.")
    return render(
        "tickets/taxonomy.html",
        status=400 if error else 200,
        form=form,
        error=error,
        nodes=taxonomy.nodes(),
    )


@bp.route("/admin/teams", methods=["GET", "POST"])
@roles(Role.ADMIN)
def teams_page() -> Any:
    error = None
    if request.method == "POST":
        try:
            assignment.create_team(
                _actor(),
                request.form.get("name", ""),
                parse_id(request.form.get("lead_id")),
                [i for i in map(parse_id, request.form.getlist("member_ids")) if i is not None],
            )
        except ValidationFailed as refused:
            error = refused.message
        else:
            flash(_("Team created."), "success")
            return see_other(url_for("tickets.teams_page"))
    return render(
        "tickets/teams.html",
        status=400 if error else 200,
        error=error,
        teams=assignment.team_overview(),
        people=assignment.handlers(),
    )
