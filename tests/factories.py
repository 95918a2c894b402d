"""Small factories with overridable defaults; each adds rows to the test's session."""

import itertools

from werkzeug.security import generate_password_hash

from portal.accounts.models import User
from portal.core.extensions import db

PASSWORD = "correct-horse-battery"
_PASSWORD_HASH = generate_password_hash(PASSWORD)
_numbers = itertools.count(1)


def make_user(**overrides: object) -> User:
    number = next(_numbers)
    values: dict[str, object] = {
        "email": f"user{number}@bank.example.com",
        "name": f"User {number}",
        "role": "rm",
        "password_hash": _PASSWORD_HASH,
        "active": True,
    }
    values.update(overrides)
    user = User(**values)
    db.session.add(user)
    db.session.commit()
    return user


def make_customer(**overrides: object):
    from portal.customers.models import Customer
    from portal.customers.services import write_search_terms

    number = next(_numbers)
    values: dict[str, object] = {
        "number": f"T{number:08d}",
        "name": f"Customer {number}",
        "email": f"customer{number}@mail.example.com",
        "phone": f"1380000{number:04d}",
        "id_number": f"11010119900101{number:04d}",
        "timezone": "Asia/Shanghai",
        "locale": "zh_Hans",
        "segment": "mass",
    }
    values.update(overrides)
    if values.get("phone"):
        values.setdefault("phone_reversed", str(values["phone"]).lstrip("+")[::-1])
    customer = Customer(**values)
    db.session.add(customer)
    db.session.flush()
    write_search_terms(customer.id, customer.name)
    db.session.commit()
    return customer


def make_interaction(customer, **overrides: object):
    from datetime import UTC, datetime

    from portal.customers.models import Interaction

    values: dict[str, object] = {
        "customer_id": customer.id,
        "author_id": customer.owner_id,
        "channel": "call",
        "direction": "outbound",
        "occurred_at": datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
        "summary": "Talked about the repayment plan.",
        "outcome": "reached",
    }
    values.update(overrides)
    interaction = Interaction(**values)
    db.session.add(interaction)
    db.session.commit()
    return interaction
