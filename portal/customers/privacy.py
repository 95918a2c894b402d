"""Data-subject requests: export everything held about a customer, or erase their personal data.

Rooms above `customers` register an export section and an erasure step at start-up, the same
way they register timeline providers, so a request covers every room without this module
importing them.
"""

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import Flask
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update

from portal.core.access import Role
from portal.core.audit import Actor, AuditEvent, record_event
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.core.extensions import db
from portal.core.registry import contribute, contributions
from portal.core.timeutil import utc_now
from portal.core.transaction import use_case
from portal.customers.models import (
    CreditAccount,
    Customer,
    CustomerSearchTerm,
    FollowUp,
    FollowUpStatus,
    Interaction,
)
from portal.customers.services import get_customer

ExportSection = Callable[[int], Any]
ErasureStep = Callable[[int], None]
EXPORT_SECTIONS = "customers.export_sections"
ERASURE_STEPS = "customers.erasure_steps"

ERASED_NAME = "—"
ERASED_TEXT = "[erased]"


def register_export_section(app: Flask, name: str, section: ExportSection) -> None:
    contribute(app, EXPORT_SECTIONS, name, section)


def register_erasure_step(app: Flask, name: str, step: ErasureStep) -> None:
    contribute(app, ERASURE_STEPS, name, step)


def _row(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in obj.__table__.columns:
        if column.key in skip:
            continue
        value = getattr(obj, column.key)
        if isinstance(value, datetime | date):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        out[column.key] = value
    return out


def _require_admin(actor: Actor) -> None:
    if not (actor.is_system or actor.role == Role.ADMIN):
        raise PermissionDenied(_l("Only admins handle data-subject requests."))


@use_case
def export_customer(actor: Actor, customer_id: int) -> dict[str, Any]:
    """Everything the portal holds about one customer, whole (this is the subject's own copy)."""
    _require_admin(actor)
    customer = get_customer(actor, customer_id)

    def all_of(model: Any, order: Any) -> list[dict[str, Any]]:
        rows = db.session.scalars(
            select(model).where(model.customer_id == customer.id).order_by(order)
        )
        return [_row(r) for r in rows]

    document: dict[str, Any] = {
        "exported_at": utc_now().isoformat(),
        "customer": _row(customer, skip=("phone_reversed", "version")),
        "credit_accounts": all_of(CreditAccount, CreditAccount.id),
        "contacts": all_of(Interaction, Interaction.occurred_at),
        "follow_ups": all_of(FollowUp, FollowUp.id),
        "history": [
            _row(event)
            for event in db.session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.subject_type == "customer", AuditEvent.subject_id == str(customer.id)
                )
                .order_by(AuditEvent.id)
            )
        ],
    }
    for name, section in contributions(EXPORT_SECTIONS).items():
        document[name] = section(customer.id)
    record_event(actor, "customer.exported", "customer", customer.id)
    return document


PERSONAL_KEYS = ("name", "email", "phone", "id_number", "birthday", "summary")


def _scrub_history(customer_id: int) -> None:
    """The audit trail keeps what happened and when, but not the personal values it recorded
    about this customer or the text of their contacts."""
    interaction_ids = [
        str(i)
        for i in db.session.scalars(
            select(Interaction.id).where(Interaction.customer_id == customer_id)
        )
    ]
    about_customer = (AuditEvent.subject_type == "customer") & (
        AuditEvent.subject_id == str(customer_id)
    )
    about_contacts = (AuditEvent.subject_type == "interaction") & (
        AuditEvent.subject_id.in_(interaction_ids)
    )
    for event in db.session.scalars(select(AuditEvent).where(about_customer | about_contacts)):
        for side in ("before", "after"):
            values = getattr(event, side)
            if values and any(key in values for key in PERSONAL_KEYS):
                setattr(
                    event,
                    side,
                    {
                        key: (ERASED_TEXT if key in PERSONAL_KEYS and value else value)
                        for key, value in values.items()
                    },
                )


@use_case
def erase_customer(actor: Actor, customer_id: int, reason: str, confirm_number: str) -> Customer:
    """Remove personal data and keep the records that only count (accounts, dates, categories)."""
    _require_admin(actor)
    customer = get_customer(actor, customer_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_l("Give the reason for the erasure."), field="reason")
    if (confirm_number or "").strip().upper() != customer.number:
        raise ValidationFailed(_l("The customer number typed does not match."), "confirm_number")
    if customer.erased_at is not None:
        return customer
    # The rooms erase what they hold first, while the customer's email address still finds
    # what came from it without their id (inbound email, held form submissions).
    for step in contributions(ERASURE_STEPS).values():
        step(customer.id)
    customer.name = ERASED_NAME
    customer.email = None
    customer.phone = None
    customer.phone_reversed = None
    customer.id_number = None
    customer.birthday = None
    customer.consent_care = customer.consent_survey = customer.consent_service = False
    customer.do_not_contact = True
    customer.erased_at = utc_now()
    db.session.execute(
        delete(CustomerSearchTerm).where(CustomerSearchTerm.customer_id == customer.id)
    )
    db.session.execute(
        update(Interaction)
        .where(Interaction.customer_id == customer.id)
        .values(summary=ERASED_TEXT)
    )
    db.session.execute(
        update(FollowUp)
        .where(FollowUp.customer_id == customer.id, FollowUp.status == FollowUpStatus.OPEN.value)
        .values(status=FollowUpStatus.CANCELLED.value)
    )
    db.session.execute(update(FollowUp).where(FollowUp.customer_id == customer.id).values(note=""))
    _scrub_history(customer.id)
    record_event(actor, "customer.erased", "customer", customer.id, reason=reason[:1000])
    return customer
