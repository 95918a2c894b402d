"""Use cases for customers (create, update, reassign, reveal) and the reads of their pages.

Searching is in `search`, contacts and follow-ups in `contacts`, and the cleaning of typed or
imported values in `cleaning`. Each use case owns its transaction.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import User
from portal.core.access import Role
from portal.core.audit import Actor, record_event
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal.core.extensions import db
from portal.core.pagination import Page
from portal.core.transaction import use_case
from portal.customers import access, cleaning
from portal.customers.models import (
    CONSENT_PURPOSES,
    FLAGS,
    CreditAccount,
    Customer,
    CustomerSearchTerm,
    FollowUp,
    FollowUpStatus,
    Segment,
)
from portal.customers.pii import mask_id_number, mask_phone
from portal.customers.search import reversed_digits, search_terms
from portal.customers.timeline import Cursor, TimelineEntry, timeline_page

# ---------------------------------------------------------------- reading customers


def get_customer(actor: Actor, customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None or (customer.erased_at is not None and actor.role != Role.ADMIN):
        raise NotFound(_l("No such customer."))
    access.require(access.can_view(actor, customer))
    return customer


def accounts_of(customer_id: int) -> list[CreditAccount]:
    return list(
        db.session.scalars(
            select(CreditAccount)
            .where(CreditAccount.customer_id == customer_id)
            .order_by(CreditAccount.status, CreditAccount.number)
        )
    )


@dataclass(frozen=True)
class CustomerPage:
    """What the 360 page shows of one customer besides its forms."""

    customer: Customer
    accounts: list[CreditAccount]
    owner: User | None
    timeline: Page[TimelineEntry]


def customer_page(actor: Actor, customer_id: int, timeline_limit: int = 20) -> CustomerPage:
    customer = get_customer(actor, customer_id)
    return CustomerPage(
        customer=customer,
        accounts=accounts_of(customer.id),
        owner=db.session.get(User, customer.owner_id) if customer.owner_id else None,
        timeline=timeline_page(customer.id, None, timeline_limit),
    )


def get_editable_customer(actor: Actor, customer_id: int) -> Customer:
    """The customer, for someone who may change them: the owning RM, an admin or the system."""
    customer = get_customer(actor, customer_id)
    access.require(access.can_edit(actor, customer))
    return customer


def customer_timeline(
    actor: Actor, customer_id: int, before: str | None, limit: int = 20
) -> Page[TimelineEntry]:
    get_customer(actor, customer_id)
    return timeline_page(customer_id, Cursor.decode(before), limit)


@use_case
def reveal_pii(actor: Actor, customer_id: int) -> dict[str, str | None]:
    """The whole phone and ID number, for the owning RM or an admin; recorded every time."""
    customer = get_customer(actor, customer_id)
    access.require(access.can_reveal_pii(actor, customer))
    record_event(
        actor,
        "customer.pii_revealed",
        "customer",
        customer.id,
        after={"fields": ["phone", "id_number"]},
    )
    return {"phone": customer.phone, "id_number": customer.id_number}


# ---------------------------------------------------------------- shared with contacts


def refuse_erased(customer: Customer) -> None:
    """Nothing is added to or changed about a customer whose personal data was erased."""
    if customer.erased_at is not None:
        raise ValidationFailed(
            _l("This customer's personal data was erased; nothing can be added.")
        )


def audit_value(value: Any) -> Any:
    """A value as the audit trail stores it (JSON): dates and times in ISO 8601."""
    return value.isoformat() if isinstance(value, datetime | date) else value


# ---------------------------------------------------------------- reassignment


@use_case
def reassign(actor: Actor, customer_ids: list[int], new_owner_id: int, reason: str = "") -> int:
    """Move customers to another RM in one transaction, with one audit event per customer."""

    if not access.can_reassign(actor):
        raise PermissionDenied(_l("Only admins and leads can reassign customers."))
    _check_owner(new_owner_id)
    ids = sorted({int(i) for i in customer_ids})[:1000]
    if not ids:
        raise ValidationFailed(_l("Select at least one customer."), field="customer_ids")
    moved_ids: list[int] = []
    chosen = select(Customer).where(Customer.id.in_(ids), Customer.erased_at.is_(None))
    for customer in db.session.scalars(chosen):
        if customer.owner_id == new_owner_id:
            continue
        record_event(
            actor,
            "customer.reassigned",
            "customer",
            customer.id,
            before={"owner_id": customer.owner_id},
            after={"owner_id": new_owner_id},
            reason=reason.strip()[:500] or None,
        )
        customer.owner_id = new_owner_id
        moved_ids.append(customer.id)
    if moved_ids:
        move_open_follow_ups(moved_ids, new_owner_id)
    return len(moved_ids)


def move_open_follow_ups(customer_ids: list[int], new_owner_id: int | None) -> None:
    """Open follow-ups go with their customer to the new RM, whichever way the owner changes."""
    db.session.execute(
        update(FollowUp)
        .where(FollowUp.customer_id.in_(customer_ids), FollowUp.status == FollowUpStatus.OPEN.value)
        .values(owner_id=new_owner_id)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- creating and editing


CUSTOMER_CHANGED = _l("Someone else changed this customer in the meantime. Reload and try again.")


@dataclass
class CustomerInput:
    number: str
    name: str
    email: str | None = None
    phone: str | None = None
    id_number: str | None = None
    birthday: date | str | None = None
    locale: str | None = None
    timezone: str | None = None
    segment: str | None = None
    owner_id: int | None = None
    consents: dict[str, bool] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)


AUDITED_FIELDS = (
    "number",
    "name",
    "email",
    "phone",
    "id_number",
    "birthday",
    "locale",
    "timezone",
    "segment",
    "owner_id",
    *(f"consent_{p}" for p in CONSENT_PURPOSES),
    *FLAGS,
)


def _audit_snapshot(customer: Customer) -> dict[str, Any]:
    """The audited fields, with phone and ID number masked: the trail is exported as evidence."""
    snapshot = {name: audit_value(getattr(customer, name)) for name in AUDITED_FIELDS}
    snapshot["phone"] = mask_phone(customer.phone)
    snapshot["id_number"] = mask_id_number(customer.id_number)
    return snapshot


def write_search_terms(customer_id: int, name: str) -> None:
    """Store the terms a partial name search looks up (see search.search_terms)."""
    db.session.execute(
        delete(CustomerSearchTerm).where(CustomerSearchTerm.customer_id == customer_id)
    )
    terms = search_terms(name)
    if terms:
        db.session.execute(
            insert(CustomerSearchTerm), [{"term": t, "customer_id": customer_id} for t in terms]
        )


def _check_owner(owner_id: int | None) -> int | None:
    if owner_id is None:
        return None
    owner = db.session.get(User, owner_id)
    if owner is None or owner.role != Role.RM or not owner.active:
        raise ValidationFailed(_l("Choose an active relationship manager."), field="owner_id")
    return owner_id


def _apply(customer: Customer, data: CustomerInput, default_timezone: str) -> None:
    customer.name = cleaning.clean_name(data.name)
    customer.email = cleaning.clean_email(data.email)
    customer.phone = cleaning.clean_phone(data.phone)
    customer.phone_reversed = reversed_digits(customer.phone)
    customer.id_number = cleaning.clean_id_number(data.id_number)
    customer.birthday = cleaning.clean_birthday(data.birthday)
    customer.locale = cleaning.clean_locale(data.locale)
    customer.timezone = cleaning.clean_timezone(data.timezone, default_timezone)
    customer.segment = cleaning.clean_choice(data.segment, Segment, "segment", Segment.MASS.value)
    for purpose, given in data.consents.items():
        if purpose in CONSENT_PURPOSES:
            setattr(customer, f"consent_{purpose}", bool(given))
    for flag, given in data.flags.items():
        if flag in FLAGS:
            setattr(customer, flag, bool(given))


@use_case
def create_customer(actor: Actor, data: CustomerInput, default_timezone: str) -> Customer:
    if actor.role not in (Role.ADMIN, Role.RM) and not actor.is_system:
        raise ValidationFailed(_l("Only admins and relationship managers add customers."))
    number = cleaning.clean_number(data.number)
    if db.session.scalar(select(Customer.id).where(Customer.number == number)) is not None:
        raise ValidationFailed(
            _l("Customer number %(number)s is already in use.", number=number), field="number"
        )
    customer = Customer(number=number)
    _apply(customer, data, default_timezone)
    customer.owner_id = actor.user_id if actor.role == Role.RM else _check_owner(data.owner_id)
    db.session.add(customer)
    try:
        db.session.flush()
    except IntegrityError as error:  # created by someone else a moment ago
        raise ValidationFailed(
            _l("Customer number %(number)s is already in use.", number=number), field="number"
        ) from error
    write_search_terms(customer.id, customer.name)
    record_event(
        actor, "customer.created", "customer", customer.id, after=_audit_snapshot(customer)
    )
    return customer


@use_case(stale=lambda *_args, **_kwargs: Conflict(CUSTOMER_CHANGED))
def update_customer(
    actor: Actor, customer_id: int, data: CustomerInput, version: int, default_timezone: str
) -> Customer:
    """Save an edit made on `version` of the customer; a later save by someone else wins a 409."""
    customer = get_editable_customer(actor, customer_id)
    if customer.version != version:
        raise Conflict(CUSTOMER_CHANGED)
    refuse_erased(customer)
    before = _audit_snapshot(customer)
    old_name = customer.name
    # The edit form never shows phone and ID number whole (that takes a recorded reveal),
    # so a blank field there means "keep", not "erase".
    data.phone = data.phone or customer.phone
    data.id_number = data.id_number or customer.id_number
    _apply(customer, data, default_timezone)
    if (actor.role == Role.ADMIN or actor.is_system) and data.owner_id != customer.owner_id:
        customer.owner_id = _check_owner(data.owner_id)
        move_open_follow_ups([customer.id], customer.owner_id)
    if customer.name != old_name:
        write_search_terms(customer.id, customer.name)
    after = _audit_snapshot(customer)
    if after != before:
        record_event(actor, "customer.updated", "customer", customer.id, before=before, after=after)
    return customer
