"""Contacts with customers and the follow-ups they leave: logging and correcting contacts,
completing and moving follow-ups, My day's lists, and the contacts' part of the 360 timeline."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from sqlalchemy import func, select, update

from portal.accounts.models import User
from portal.core.access import Role
from portal.core.audit import Actor, record_event
from portal.core.errors import NotFound, ValidationFailed
from portal.core.extensions import db
from portal.core.timeutil import utc_now
from portal.core.transaction import use_case
from portal.customers import access
from portal.customers.cleaning import clean_choice
from portal.customers.models import (
    Channel,
    Customer,
    Direction,
    FollowUp,
    FollowUpStatus,
    Interaction,
    Outcome,
)
from portal.customers.services import audit_value, get_customer, refuse_erased
from portal.customers.timeline import Cursor, Source, TimelineEntry

SUMMARY_MAX = 4000
# What the audit trail records of a contact when it is logged and when it is corrected.
CONTACT_FIELDS = ("channel", "direction", "occurred_at", "summary", "outcome")
EARLIEST_YEAR = 1900
# My day lists customers not contacted for this many days unless asked for another number,
# which must be between 1 and about ten years.
QUIET_DAYS_DEFAULT = 30
QUIET_DAYS_MAX = 3650


@dataclass
class ContactInput:
    channel: str
    direction: str
    occurred_at: datetime
    summary: str
    outcome: str
    follow_up_on: date | None = None
    follow_up_note: str = ""


def _check_contact(data: ContactInput, now: datetime) -> None:
    """Refuse what cannot be stored, and normalise the choices in place."""
    data.channel = clean_choice(data.channel, Channel, "channel")
    data.direction = clean_choice(data.direction, Direction, "direction")
    data.outcome = clean_choice(data.outcome, Outcome, "outcome")
    summary = (data.summary or "").strip()
    if not summary or len(summary) > SUMMARY_MAX:
        raise ValidationFailed(
            lazy_ngettext(
                "Write a summary of 1 to %(num)d character.",
                "Write a summary of 1 to %(num)d characters.",
                SUMMARY_MAX,
            ),
            field="summary",
        )
    if data.occurred_at.tzinfo is None:
        raise ValidationFailed(_l("The time of the contact needs a time zone."), "occurred_at")
    if data.occurred_at.year < EARLIEST_YEAR:
        raise ValidationFailed(_l("Enter a date after 1900."), "occurred_at")
    if data.occurred_at > now + timedelta(minutes=5):
        raise ValidationFailed(_l("A contact cannot be logged in the future."), "occurred_at")
    if data.follow_up_on and data.follow_up_on < data.occurred_at.date() - timedelta(days=1):
        raise ValidationFailed(_l("The follow-up date lies before the contact."), "follow_up_on")


@use_case
def log_contact(actor: Actor, customer_id: int, data: ContactInput) -> Interaction:
    customer = get_customer(actor, customer_id)
    access.require(access.can_log_contact(actor, customer))
    refuse_erased(customer)
    now = utc_now()
    _check_contact(data, now)
    interaction = Interaction(
        customer_id=customer.id,
        author_id=actor.user_id,
        channel=data.channel,
        direction=data.direction,
        occurred_at=data.occurred_at,
        summary=data.summary.strip(),
        outcome=data.outcome,
    )
    db.session.add(interaction)
    db.session.flush()
    _refresh_last_contact(customer.id)
    if data.follow_up_on:
        db.session.add(
            FollowUp(
                customer_id=customer.id,
                owner_id=customer.owner_id or actor.user_id,
                interaction_id=interaction.id,
                due_on=data.follow_up_on,
                note=(data.follow_up_note or "").strip()[:SUMMARY_MAX],
            )
        )
    after = {f: audit_value(getattr(interaction, f)) for f in CONTACT_FIELDS}
    after["customer_id"] = customer.id
    after["follow_up_on"] = audit_value(data.follow_up_on)
    record_event(actor, "interaction.logged", "interaction", interaction.id, after=after)
    return interaction


def _refresh_last_contact(customer_id: int) -> None:
    """last_contact_at from the contacts themselves, in one statement: right after an edit
    moves a contact back in time, and when two contacts are logged at once."""
    newest = (
        select(func.max(Interaction.occurred_at))
        .where(Interaction.customer_id == customer_id)
        .scalar_subquery()
    )
    db.session.execute(
        update(Customer)
        .where(Customer.id == customer_id)
        .values(last_contact_at=newest)
        .execution_options(synchronize_session=False)
    )


def get_contact(actor: Actor, interaction_id: int) -> tuple[Interaction, Customer]:
    interaction = db.session.get(Interaction, interaction_id)
    if interaction is None:
        raise NotFound(_l("No such contact."))
    customer = get_customer(actor, interaction.customer_id)
    access.require(access.can_edit_contact(actor, interaction.author_id))
    return interaction, customer


@use_case
def edit_contact(actor: Actor, interaction_id: int, data: ContactInput) -> Interaction:
    """Correct a logged contact; the original stays in the audit trail."""
    interaction, customer = get_contact(actor, interaction_id)
    refuse_erased(customer)
    _check_contact(data, utc_now())
    before = {f: audit_value(getattr(interaction, f)) for f in CONTACT_FIELDS}
    for name in CONTACT_FIELDS:
        setattr(
            interaction,
            name,
            getattr(data, name).strip() if name == "summary" else getattr(data, name),
        )
    interaction.edited_at = utc_now()
    db.session.flush()
    _refresh_last_contact(customer.id)
    after = {f: audit_value(getattr(interaction, f)) for f in CONTACT_FIELDS}
    record_event(
        actor, "interaction.edited", "interaction", interaction.id, before=before, after=after
    )
    return interaction


def get_follow_up(actor: Actor, follow_up_id: int) -> FollowUp:
    follow_up = db.session.get(FollowUp, follow_up_id)
    if follow_up is None:
        raise NotFound(_l("No such follow-up."))
    customer = get_customer(actor, follow_up.customer_id)
    access.require(access.can_log_contact(actor, customer))
    return follow_up


@use_case
def complete_follow_up(actor: Actor, follow_up_id: int) -> FollowUp:
    follow_up = get_follow_up(actor, follow_up_id)
    if follow_up.status == FollowUpStatus.OPEN:
        follow_up.status = FollowUpStatus.DONE.value
        follow_up.done_at = utc_now()
        follow_up.done_by_id = actor.user_id
        record_event(
            actor,
            "follow_up.done",
            "follow_up",
            follow_up.id,
            before={"status": "open"},
            after={"status": "done"},
        )
    return follow_up


@use_case
def reschedule_follow_up(actor: Actor, follow_up_id: int, due_on: date, today: date) -> FollowUp:
    follow_up = get_follow_up(actor, follow_up_id)
    if follow_up.status != FollowUpStatus.OPEN:
        raise ValidationFailed(_l("Only an open follow-up can be rescheduled."), "due_on")
    if due_on < today:
        raise ValidationFailed(_l("Choose today or a later day."), "due_on")
    before = {"due_on": follow_up.due_on.isoformat()}
    follow_up.due_on = due_on
    record_event(
        actor,
        "follow_up.rescheduled",
        "follow_up",
        follow_up.id,
        before=before,
        after={"due_on": due_on.isoformat()},
    )
    return follow_up


@dataclass
class MyDay:
    due: list[tuple[FollowUp, Customer]] = field(default_factory=list)
    quiet: list[Customer] = field(default_factory=list)
    quiet_days: int = QUIET_DAYS_DEFAULT


def my_day(actor: Actor, today: date, quiet_days: int | None = None, limit: int = 50) -> MyDay:
    """Follow-ups due today or overdue, and customers not contacted for `quiet_days` days
    (the default when none is asked for or the number is out of range)."""
    if quiet_days is None or not 0 < quiet_days <= QUIET_DAYS_MAX:
        quiet_days = QUIET_DAYS_DEFAULT
    due_stmt = (
        select(FollowUp, Customer)
        .join(Customer, Customer.id == FollowUp.customer_id)
        .where(
            FollowUp.owner_id == actor.user_id,
            FollowUp.status == FollowUpStatus.OPEN.value,
            FollowUp.due_on <= today,
            Customer.erased_at.is_(None),
        )
    )
    if actor.role == Role.RM:  # a customer moved to another RM is no longer this RM's work
        due_stmt = due_stmt.where(Customer.owner_id == actor.user_id)
    due = db.session.execute(due_stmt.order_by(FollowUp.due_on, FollowUp.id).limit(limit)).all()
    cutoff = datetime.combine(today - timedelta(days=quiet_days), time(), UTC)
    quiet = db.session.scalars(
        select(Customer)
        .where(
            Customer.owner_id == actor.user_id,
            Customer.erased_at.is_(None),
            Customer.do_not_contact.is_(False),
            Customer.deceased.is_(False),
            (Customer.last_contact_at < cutoff) | Customer.last_contact_at.is_(None),
        )
        .order_by(Customer.last_contact_at.asc().nulls_first(), Customer.id)
        .limit(limit)
    ).all()
    return MyDay(due=[(f, c) for f, c in due], quiet=list(quiet), quiet_days=quiet_days)


# ---------------------------------------------------------------- the 360 timeline


def _contacts_with_author() -> Any:
    return select(Interaction, User.name).outerjoin(User, User.id == Interaction.author_id)


CONTACTS = Source(
    "contact",
    _contacts_with_author,
    Interaction.customer_id,
    Interaction.occurred_at,
    Interaction.id,
)
FOLLOW_UPS = Source(
    "follow_up", lambda: select(FollowUp), FollowUp.customer_id, FollowUp.created_at, FollowUp.id
)


def contact_entries(customer_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            i.occurred_at,
            "contact",
            i.id,
            "customers/_entry_contact.html",
            {"interaction": i, "author": author},
        )
        for i, author in CONTACTS.newest_first(customer_id, before, limit)
    ]


def follow_up_entries(customer_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            f.created_at, "follow_up", f.id, "customers/_entry_follow_up.html", {"follow_up": f}
        )
        for f in FOLLOW_UPS.newest_first(customer_id, before, limit).scalars()
    ]
