"""Customer list and search, the 360 page, contacts, follow-ups ("My day") and reassignment."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, flash, jsonify, request, url_for
from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.services import active_relationship_managers, actor_for
from portal.core.access import Role, roles, signed_in
from portal.core.errors import ServiceError, ValidationFailed
from portal.core.home import HomePage
from portal.core.htmx import is_htmx, render, see_other
from portal.core.i18n import viewer_zone
from portal.core.requests import parse_id, writes_on_read
from portal.core.timeutil import utc_now
from portal.customers import access, contacts, imports, privacy, search, services
from portal.customers.forms import (
    ACCOUNT_STATUS_LABELS,
    CHANNEL_LABELS,
    CONSENT_LABELS,
    DIRECTION_LABELS,
    FLAG_LABELS,
    OUTCOME_LABELS,
    PRODUCT_LABELS,
    SEGMENT_LABELS,
    ContactForm,
    CustomerForm,
    EraseForm,
    ImportForm,
    ReassignForm,
    RescheduleForm,
)
from portal.customers.models import FLAGS, FollowUp
from portal.customers.my_day import contributed_sections
from portal.customers.pii import mask_id_number, mask_phone

bp = Blueprint("customers", __name__)

PAGE = 50
TIMELINE_PAGE = 20
ERRORS_SHOWN = 100


# What every template of the room may use, prefixed with the room's name (see init_app).
TEMPLATE_GLOBALS = {
    "customer_channel_labels": CHANNEL_LABELS,
    "customer_direction_labels": DIRECTION_LABELS,
    "customer_outcome_labels": OUTCOME_LABELS,
    "customer_segment_labels": SEGMENT_LABELS,
    "customer_flag_labels": FLAG_LABELS,
    "customer_consent_labels": CONSENT_LABELS,
    "customer_product_labels": PRODUCT_LABELS,
    "customer_account_status_labels": ACCOUNT_STATUS_LABELS,
    "mask_phone": mask_phone,
    "mask_id_number": mask_id_number,
}


def _actor() -> Any:
    return actor_for(current_user)


def _today() -> date:
    return utc_now().astimezone(viewer_zone()).date()


@bp.route("/customers")
@signed_in
def index() -> Any:
    owner = request.args.get("owner", "")
    filters = search.CustomerFilters(
        query=(request.args.get("q") or "")[:100],
        segment=request.args.get("segment", ""),
        owner_id=parse_id(owner),
        flag=request.args.get("flag", ""),
        after=(request.args.get("after") or "")[:200],
    )
    page = search.search_customers(_actor(), filters, PAGE)
    # the live-search partial shows no dropdowns, nor does an RM's list: spare them the query
    with_managers = not is_htmx() and current_user.role != Role.RM
    return render(
        "customers/index.html",
        "customers/_rows.html",
        page=page,
        filters=filters,
        flags=FLAGS,
        managers=active_relationship_managers() if with_managers else [],
        can_reassign=access.can_reassign(_actor()),
    )


def _contact_form() -> ContactForm:
    form = ContactForm()
    if not form.is_submitted():
        form.channel.data = "call"
        form.direction.data = "outbound"
        form.outcome.data = "reached"
        form.occurred_at.data = (
            utc_now().astimezone(viewer_zone()).replace(tzinfo=None, second=0, microsecond=0)
        )
    return form


def _show(
    customer_id: int, contact_form: ContactForm | None = None, status: int = 200, **extra: Any
) -> Any:
    actor = _actor()
    page = services.customer_page(actor, customer_id, TIMELINE_PAGE)
    customer = page.customer
    return render(
        "customers/show.html",
        status=status,
        customer=customer,
        accounts=page.accounts,
        owner=page.owner,
        timeline=page.timeline,
        contact_form=contact_form or _contact_form(),
        can_log=access.can_log_contact(actor, customer),
        can_edit=access.can_edit(actor, customer),
        can_reveal=access.can_reveal_pii(actor, customer),
        can_edit_contact=lambda author_id: access.can_edit_contact(actor, author_id),
        **extra,
    )


@bp.route("/customers/<int:customer_id>")
@signed_in
def show(customer_id: int) -> Any:
    return _show(customer_id)


@bp.route("/customers/<int:customer_id>/timeline")
@signed_in
def timeline(customer_id: int) -> Any:
    page = services.customer_timeline(
        _actor(), customer_id, request.args.get("before"), TIMELINE_PAGE
    )
    actor = _actor()
    return render(
        "customers/timeline.html",
        "customers/_timeline.html",
        timeline=page,
        customer_id=customer_id,
        can_edit_contact=lambda author_id: access.can_edit_contact(actor, author_id),
    )


def _contact_input(form: ContactForm) -> contacts.ContactInput:
    # The use case refuses these too; checked first because year 1 cannot move to UTC.
    if form.occurred_at.data.year < contacts.EARLIEST_YEAR:
        raise ValidationFailed(_("Enter a date after 1900."), "occurred_at")
    local = form.occurred_at.data.replace(tzinfo=viewer_zone())
    return contacts.ContactInput(
        channel=form.channel.data,
        direction=form.direction.data,
        occurred_at=local.astimezone(UTC),
        summary=form.summary.data or "",
        outcome=form.outcome.data,
        follow_up_on=form.follow_up_on.data,
        follow_up_note=form.follow_up_note.data or "",
    )


@bp.route("/customers/<int:customer_id>/contacts", methods=["POST"])
@roles(Role.ADMIN, Role.RM, Role.HANDLER)
def log_contact(customer_id: int) -> Any:
    form = _contact_form()
    if not form.validate():
        return _show(customer_id, form, status=400)
    try:
        contacts.log_contact(_actor(), customer_id, _contact_input(form))
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        return _show(customer_id, form, status=400, contact_error=error.message)
    flash(_("Contact logged."), "success")
    return see_other(url_for("customers.show", customer_id=customer_id))


@bp.route("/contacts/<int:interaction_id>/edit", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.RM, Role.HANDLER)
def edit_contact(interaction_id: int) -> Any:
    interaction, customer = contacts.get_contact(_actor(), interaction_id)
    form = ContactForm(obj=None if request.method == "POST" else interaction)
    if request.method == "GET":
        form.occurred_at.data = interaction.occurred_at.astimezone(viewer_zone()).replace(
            tzinfo=None
        )
    elif form.validate():
        try:
            contacts.edit_contact(_actor(), interaction_id, _contact_input(form))
        except ServiceError as error:
            if error.status in (403, 404):
                raise
            return render(
                "customers/edit_contact.html",
                status=400,
                form=form,
                customer=customer,
                interaction=interaction,
                error=error.message,
            )
        flash(_("Contact corrected; the original is kept in the history."), "success")
        return see_other(url_for("customers.show", customer_id=customer.id))
    status = 400 if request.method == "POST" else 200
    return render(
        "customers/edit_contact.html",
        status=status,
        form=form,
        customer=customer,
        interaction=interaction,
    )


@bp.route("/customers/<int:customer_id>/reveal", methods=["POST"])
@roles(Role.ADMIN, Role.RM)
def reveal(customer_id: int) -> Any:
    values = services.reveal_pii(_actor(), customer_id)
    if is_htmx():
        return render("customers/_pii.html", pii=values, revealed=True)
    return _show(customer_id, pii=values)


def _customer_form(customer: Any = None) -> CustomerForm:
    form = (
        CustomerForm(obj=customer)
        if customer is not None and request.method == "GET"
        else CustomerForm()
    )
    managers = active_relationship_managers()
    form.owner_id.choices = [("", _("Unassigned"))] + [(str(u.id), u.name) for u in managers]
    if customer is not None and request.method == "GET":
        form.owner_id.data = str(customer.owner_id or "")
        form.phone.data = ""
        form.id_number.data = ""
        form.phone.render_kw = {"placeholder": mask_phone(customer.phone)}
        form.id_number.render_kw = {"placeholder": mask_id_number(customer.id_number)}
        form.birthday.data = customer.birthday.isoformat() if customer.birthday else ""
        form.version.data = str(customer.version)
    return form


def _customer_input(form: CustomerForm) -> services.CustomerInput:
    owner = (form.owner_id.data or "").strip()
    if owner and parse_id(owner) is None:
        raise ValidationFailed(_("Choose an active relationship manager."), "owner_id")
    return services.CustomerInput(
        number=form.number.data or "",
        name=form.name.data or "",
        email=form.email.data,
        phone=form.phone.data,
        id_number=form.id_number.data,
        birthday=form.birthday.data,
        locale=form.locale.data,
        timezone=form.timezone.data,
        segment=form.segment.data,
        owner_id=parse_id(owner),
        consents={p: getattr(form, f"consent_{p}").data for p in ("care", "survey", "service")},
        flags={f: getattr(form, f).data for f in FLAGS},
    )


@bp.route("/customers/new", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.RM)
def new() -> Any:
    form = _customer_form()
    if request.method == "GET":
        form.timezone.data = current_app.config["DEFAULT_TIMEZONE"]
        form.consent_service.data = True
        form.consent_survey.data = True
    elif form.validate():
        try:
            customer = services.create_customer(
                _actor(), _customer_input(form), current_app.config["DEFAULT_TIMEZONE"]
            )
        except ServiceError as error:
            return render(
                "customers/form.html",
                status=400,
                form=form,
                customer=None,
                error=error.message,
                error_field=error.field,
            )
        flash(_("Customer %(number)s added.", number=customer.number), "success")
        return see_other(url_for("customers.show", customer_id=customer.id))
    status = 400 if request.method == "POST" else 200
    return render("customers/form.html", status=status, form=form, customer=None)


@bp.route("/customers/<int:customer_id>/edit", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.RM)
def edit(customer_id: int) -> Any:
    customer = services.get_editable_customer(_actor(), customer_id)
    form = _customer_form(customer)
    if request.method == "POST" and form.validate():
        version = parse_id(form.version.data) or -1
        try:
            services.update_customer(
                _actor(),
                customer_id,
                _customer_input(form),
                version,
                current_app.config["DEFAULT_TIMEZONE"],
            )
        except ServiceError as error:
            if error.status in (403, 404):
                raise
            return render(
                "customers/form.html",
                status=error.status,
                form=form,
                customer=customer,
                error=error.message,
                error_field=error.field,
            )
        flash(_("Customer saved."), "success")
        return see_other(url_for("customers.show", customer_id=customer_id))
    status = 400 if request.method == "POST" else 200
    return render("customers/form.html", status=status, form=form, customer=customer)


def _my_day_context(actor: Any, quiet_days: int | None) -> dict[str, Any]:
    today = _today()
    day = contacts.my_day(actor, today, quiet_days)
    return {
        "day": day,
        "sections": contributed_sections(actor, utc_now()),
        "quiet_days": day.quiet_days,
        "today": today,
        "reschedule_form": RescheduleForm(formdata=None, due_on=today + timedelta(days=1)),
    }


@bp.route("/my-day")
@roles(Role.ADMIN, Role.RM, Role.HANDLER)
def my_day() -> Any:
    return render(
        "customers/my_day.html", **_my_day_context(_actor(), parse_id(request.args.get("quiet")))
    )


def my_day_home(actor: Any, _now: datetime) -> HomePage:
    """An RM's home is My day (registered with core's home in init_app)."""
    return HomePage("customers/my_day.html", _my_day_context(actor, None))


def _follow_up_row(follow_up: FollowUp, status: int = 200, error: Any = None) -> Any:
    customer = services.get_customer(_actor(), follow_up.customer_id)
    today = _today()
    return render(
        "customers/_follow_up_row.html",
        status=status,
        follow_up=follow_up,
        customer=customer,
        today=today,
        reschedule_form=RescheduleForm(formdata=None, due_on=today + timedelta(days=1)),
        error=error,
    )


@bp.route("/follow-ups/<int:follow_up_id>/done", methods=["POST"])
@roles(Role.ADMIN, Role.RM, Role.HANDLER)
def follow_up_done(follow_up_id: int) -> Any:
    follow_up = contacts.complete_follow_up(_actor(), follow_up_id)
    if is_htmx():
        return _follow_up_row(follow_up)
    flash(_("Follow-up done."), "success")
    return see_other(url_for("customers.my_day"))


@bp.route("/follow-ups/<int:follow_up_id>/reschedule", methods=["POST"])
@roles(Role.ADMIN, Role.RM, Role.HANDLER)
def follow_up_reschedule(follow_up_id: int) -> Any:
    current = contacts.get_follow_up(_actor(), follow_up_id)  # 404 or 403 before anything else
    form = RescheduleForm()
    try:
        if not form.validate():
            raise ValidationFailed(_("Choose a valid date."), "due_on")
        follow_up = contacts.reschedule_follow_up(
            _actor(), follow_up_id, form.due_on.data, _today()
        )
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        if is_htmx():
            return _follow_up_row(current, 400, error.message)
        flash(str(error.message), "error")
        return see_other(url_for("customers.my_day"))
    if is_htmx():
        return _follow_up_row(follow_up)
    flash(_("Follow-up moved to %(day)s.", day=format_date(follow_up.due_on, "medium")), "success")
    return see_other(url_for("customers.my_day"))


@bp.route("/customers/reassign", methods=["POST"])
@roles(Role.ADMIN, Role.LEAD)
def reassign() -> Any:
    form = ReassignForm()
    back = url_for("customers.index")
    ids = [i for i in map(parse_id, request.form.getlist("customer_ids")) if i is not None]
    if not form.validate():
        flash(_("Choose the relationship manager to move the customers to."), "error")
        return see_other(back)
    try:
        moved = services.reassign(_actor(), ids, form.owner_id.data, form.reason.data or "")
    except ServiceError as error:
        flash(str(error.message), "error")
        return see_other(back)
    flash(
        ngettext("%(num)d customer reassigned.", "%(num)d customers reassigned.", moved),
        "success",
    )
    return see_other(back)


@bp.route("/customers/<int:customer_id>/export.json")
@writes_on_read  # the export is recorded
@roles(Role.ADMIN)
def export(customer_id: int) -> Any:
    document = privacy.export_customer(_actor(), customer_id)
    response = jsonify(document)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="customer-{document["customer"]["number"]}.json"'
    )
    return response


@bp.route("/customers/<int:customer_id>/erase", methods=["GET", "POST"])
@roles(Role.ADMIN)
def erase(customer_id: int) -> Any:
    customer = services.get_customer(_actor(), customer_id)
    form = EraseForm()
    if request.method == "POST" and form.validate():
        try:
            privacy.erase_customer(
                _actor(), customer_id, form.reason.data, form.confirm_number.data
            )
        except ServiceError as error:
            if error.status in (403, 404):
                raise
            return render(
                "customers/erase.html",
                status=400,
                form=form,
                customer=customer,
                error=error.message,
            )
        flash(_("Personal data of %(number)s erased.", number=customer.number), "success")
        return see_other(url_for("customers.show", customer_id=customer_id))
    status = 400 if request.method == "POST" else 200
    return render("customers/erase.html", status=status, form=form, customer=customer)


@bp.route("/admin/imports/customers", methods=["GET", "POST"])
@roles(Role.ADMIN)
def import_page() -> Any:
    form = ImportForm()
    if request.method == "POST":
        if not form.validate():
            return render(
                "customers/import.html",
                status=400,
                form=form,
                columns=imports.COLUMNS,
                recent=imports.recent_imports(),
            )
        upload = form.file.data
        record = imports.import_customers(
            _actor(),
            upload.stream,
            upload.filename or "upload.csv",
            default_timezone=current_app.config["DEFAULT_TIMEZONE"],
        )
        return see_other(url_for("customers.import_result", import_id=record.id))
    return render(
        "customers/import.html", form=form, columns=imports.COLUMNS, recent=imports.recent_imports()
    )


@bp.route("/admin/imports/<int:import_id>")
@roles(Role.ADMIN)
def import_result(import_id: int) -> Any:
    return render(
        "customers/import_result.html", record=imports.get_import(import_id), shown=ERRORS_SHOWN
    )


@bp.route("/admin/imports/<int:import_id>/errors.csv")
@roles(Role.ADMIN)
def import_errors(import_id: int) -> Any:
    record = imports.get_import(import_id)
    return Response(
        imports.errors_csv(record),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="import-{record.id}-errors.csv"'},
    )
