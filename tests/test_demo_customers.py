"""The demo seed's customers, accounts, contacts and follow-ups, seeded small on each backend."""

from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask, current_app
from sqlalchemy import func, select

from portal.accounts.models import User
from portal.core.extensions import db
from portal.core.timeutil import utc_now
from portal.customers import contacts, search
from portal.customers.models import (
    CreditAccount,
    Customer,
    CustomerSearchTerm,
    FollowUp,
    Interaction,
)
from portal.demo.customers import DEMO_RM_EMAIL, LONG_HISTORY_CUSTOMER, VOLUMES
from tests.factories import actor_for


@pytest.fixture(scope="module")
def app(demo_app: Flask) -> Flask:
    """The module reads one demo-seeded database (seeded once per run, copied per module)."""
    return demo_app


@pytest.fixture
def seeded(db: Any) -> None:
    """The seed is there; what a test adds to it is rolled back after the test."""


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_small_seed_has_the_planned_volumes(seeded) -> None:
    customers = count(Customer)
    assert customers == VOLUMES["small"].customers == 300
    assert 2_500 <= count(Interaction) <= 4_000
    per_customer = db.session.execute(
        select(CreditAccount.customer_id, func.count()).group_by(CreditAccount.customer_id)
    ).all()
    assert len(per_customer) == customers and all(1 <= n <= 3 for _, n in per_customer)
    locales = dict(
        db.session.execute(select(Customer.locale, func.count()).group_by(Customer.locale)).all()
    )
    assert set(locales) == {"zh_Hans", "en"} and locales["zh_Hans"] > locales["en"]
    numbers = db.session.scalars(select(Customer.number).order_by(Customer.number).limit(2))
    assert list(numbers) == ["C00000001", "C00000002"]


def test_every_customer_has_the_search_terms_of_their_name(seeded) -> None:
    with_terms = db.session.scalar(
        select(func.count(func.distinct(CustomerSearchTerm.customer_id)))
    )
    assert with_terms == count(Customer)
    for customer in db.session.scalars(select(Customer).order_by(Customer.id).limit(25)):
        stored = db.session.scalars(
            select(CustomerSearchTerm.term).where(CustomerSearchTerm.customer_id == customer.id)
        )
        assert set(stored) == search.search_terms(customer.name)


def test_the_demo_rm_has_a_book_and_a_busy_day(seeded) -> None:
    rm = db.session.scalar(select(User).where(User.email == DEMO_RM_EMAIL))
    assert count(Customer, Customer.owner_id == rm.id) >= 40
    today = utc_now().astimezone(ZoneInfo(current_app.config["DEFAULT_TIMEZONE"])).date()
    day = contacts.my_day(actor_for(rm), today, quiet_days=30)
    due = [follow_up.due_on for follow_up, _customer in day.due]
    assert sum(d < today for d in due) >= 3
    assert sum(d == today for d in due) >= 2


def test_last_contact_is_the_newest_contact(seeded) -> None:
    newest = dict(
        db.session.execute(
            select(Interaction.customer_id, func.max(Interaction.occurred_at))
            .group_by(Interaction.customer_id)
            .order_by(Interaction.customer_id)
            .limit(40)
        ).all()
    )
    customers = db.session.scalars(select(Customer).where(Customer.id.in_(newest)))
    assert {c.id: c.last_contact_at for c in customers} == newest
    never = db.session.scalars(
        select(Customer).where(~Customer.id.in_(select(Interaction.customer_id))).limit(5)
    ).all()
    assert never and all(c.last_contact_at is None for c in never)


def test_the_long_history_customer_belongs_to_the_demo_rm(seeded) -> None:
    customer = db.session.scalar(select(Customer).where(Customer.number == LONG_HISTORY_CUSTOMER))
    rm_id = db.session.scalar(select(User.id).where(User.email == DEMO_RM_EMAIL))
    assert customer.owner_id == rm_id
    assert count(Interaction, Interaction.customer_id == customer.id) == 200


def test_ids_keep_coming_after_the_seed(seeded) -> None:
    """Rows were given explicit ids: PostgreSQL's sequences must have moved past them."""
    customer = Customer(number="C-NEW", name="New Customer")
    db.session.add(customer)
    db.session.flush()
    follow_up = FollowUp(customer_id=customer.id, due_on=utc_now().date())
    db.session.add(follow_up)
    db.session.commit()
    assert customer.id > VOLUMES["small"].customers and follow_up.id is not None
