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
