"""A use case owns its transaction: commit when the outermost returns, undo on any error."""

import pytest
from sqlalchemy import select, update

from portal.core.audit import Actor, AuditEvent, record_event
from portal.core.errors import Conflict, ValidationFailed
from portal.core.extensions import db as portal_db
from portal.core.transaction import in_transaction, transaction, use_case
from portal.customers.models import Customer
from tests.factories import make_customer

ACTOR = Actor.system("test")


def actions(db) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


@use_case
def note(action: str, fail: bool = False) -> None:
    record_event(ACTOR, action, "test", 1)
    if fail:
        raise ValidationFailed("refused")


@use_case
def note_then(first: str, inner_fails: bool) -> None:
    record_event(ACTOR, first, "test", 1)
    try:
        note("inner", fail=inner_fails)
    except ValidationFailed:
        record_event(ACTOR, "inner refused", "test", 1)


def test_the_outermost_use_case_commits_and_an_error_leaves_nothing(db) -> None:
    note("kept")
    with pytest.raises(ValidationFailed):
        note("dropped", fail=True)
    db.session.rollback()  # anything still pending would be lost here; nothing is
    assert actions(db) == ["kept"]


def test_a_nested_use_case_that_fails_is_undone_and_the_caller_goes_on(db) -> None:
    note_then("outer", inner_fails=True)
    note_then("second", inner_fails=False)
    db.session.rollback()
    assert actions(db) == ["outer", "inner refused", "second", "inner"]


def test_a_nested_use_case_joins_the_transaction_and_commits_nothing_itself(db) -> None:
    with pytest.raises(RuntimeError), transaction():
        assert in_transaction()
        note("joined")
        raise RuntimeError("the caller fails after the nested use case returned")
    assert not in_transaction()
    assert actions(db) == []


@use_case(stale=lambda customer_id, name: Conflict(f"customer {customer_id} changed"))
def rename(customer_id: int, name: str) -> None:
    portal_db.session.get(Customer, customer_id).name = name


@use_case
def rename_plainly(customer_id: int, name: str) -> None:
    portal_db.session.get(Customer, customer_id).name = name


def _changed_elsewhere(db, customer_id: int) -> None:
    """Load the row, then bump its version behind the session's back, as another user would."""
    db.session.get(Customer, customer_id)
    db.session.execute(
        update(Customer)
        .where(Customer.id == customer_id)
        .values(version=Customer.version + 1)
        .execution_options(synchronize_session=False)
    )


def test_a_stale_version_becomes_the_use_cases_conflict(db) -> None:
    customer = make_customer(name="Before")
    _changed_elsewhere(db, customer.id)
    with pytest.raises(Conflict, match=f"customer {customer.id} changed"):
        rename(customer.id, "After")
    assert not in_transaction()
    assert db.session.get(Customer, customer.id).name == "Before"


def test_a_stale_version_without_a_handler_is_a_plain_conflict(db) -> None:
    customer = make_customer(name="Before")
    _changed_elsewhere(db, customer.id)
    with pytest.raises(Conflict, match="Someone else changed this"):
        rename_plainly(customer.id, "After")
    rename_plainly(customer.id, "After")  # read afresh, it saves
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).name == "After"
