"""Small factories with overridable defaults; each adds rows to the test's session.

Users, customers, contacts, outbox messages, tickets and the Actors that services take: tests
build their rows here rather than with local copies, so that a change to a model or a service
is made once.
"""

import dataclasses
import itertools
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any

from werkzeug.security import generate_password_hash

from portal.accounts.models import User
from portal.accounts.services import actor_for
from portal.core.audit import Actor
from portal.core.extensions import db
from portal.core.timeutil import utc_now

PASSWORD = "correct-horse-battery"
# A real hash with a low work factor: checking it takes under a millisecond where the default
# scrypt takes 0.1-0.2 s on a busy 2-core machine, and the sign-in tests check hundreds.
PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
_numbers = itertools.count(1)


def make_user(**overrides: object) -> User:
    number = next(_numbers)
    values: dict[str, object] = {
        "email": f"user{number}@bank.example.com",
        "name": f"User {number}",
        "role": "rm",
        "password_hash": PASSWORD_HASH,
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


def make_actor(role: str = "handler", **overrides: object) -> Actor:
    """A new user of `role` (see make_user) as the Actor the services take. For a user a
    test already has, `actor_for(user)`."""
    return actor_for(make_user(role=role, **overrides))


def make_message(customer=None, *, at: datetime | None = None, **overrides: object):
    """A care greeting in the outbox, queued and due a minute before `at` (default: now), to
    `customer` when given. Messages are created in the order made, a millisecond apart."""
    from portal.messaging.models import Message

    number = next(_numbers)
    at = at or utc_now()
    values: dict[str, object] = {
        "dedupe_key": f"test:{number}",
        "purpose": "care",
        "kind": "birthday",
        "transactional": False,
        "customer_id": customer.id if customer else None,
        "to_address": customer.email if customer else f"person{number}@mail.example.com",
        "locale": "en",
        "subject": f"Happy birthday, Mei ({number})",
        "body_text": "Dear Mei,\n\nHappy birthday.",
        "body_html": "<p>Dear Mei,</p><p>Happy birthday.</p>",
        "headers": {},
        "message_id": make_msgid(domain="portal.test"),
        "status": "queued",
        "attempts": 0,
        "next_attempt_at": at - timedelta(minutes=1),
        "created_at": at - timedelta(minutes=10) + timedelta(milliseconds=number),
    }
    values.update(overrides)
    message = Message(**values)
    db.session.add(message)
    db.session.commit()
    return message


def make_ticket(actor: Actor | None = None, customer=None, **overrides: Any):
    """A ticket registered through the services (reference, clocks, history), by `actor` or
    a new handler: a CN complaint about a late fee, about `customer` when given. Overrides
    that are TicketInput fields change the input; the rest (prospect_id, profile, source, ...)
    go to create_ticket, but `acknowledge=True`, which emails the acknowledgement at once as
    staff intake does."""
    from portal.core.transaction import transaction
    from portal.tickets import services
    from portal.tickets.channels import notices

    fields = {field.name for field in dataclasses.fields(services.TicketInput)}
    values: dict[str, Any] = {
        "kind": "complaint",
        "subject": "Late fee charged after payment",
        "channel_code": "A0303",
        "business_code": "B0302",
        "cause_code": "C07",
        "customer_id": customer.id if customer else None,
    }
    values.update({key: value for key, value in overrides.items() if key in fields})
    options = {key: value for key, value in overrides.items() if key not in fields}
    acknowledge = options.pop("acknowledge", False)
    actor = actor or make_actor("handler")
    with transaction():
        ticket = services.create_ticket(actor, services.TicketInput(**values), **options)
        if acknowledge:
            notices.acknowledge(actor, ticket)
    return ticket


def make_programme(**overrides: Any):
    """A survey programme, active, sending at once; NPS after a closed ticket by default."""
    from portal.surveys.models import SurveyProgramme

    number = next(_numbers)
    values: dict[str, Any] = {
        "name": f"Programme {number}",
        "metric": "nps",
        "trigger": "ticket_closed",
        "active": True,
        "active_since": utc_now() - timedelta(days=30),
        "question_en": "How likely are you to recommend us to a friend?",
        "question_zh": "您有多大可能向朋友推荐我们？",
        "comment_prompt_en": "What is the main reason for your score?",
        "comment_prompt_zh": "您给出这个分数的主要原因是什么？",
        "choices": [],
        "send_delay_hours": 0,
        "expiry_days": 14,
        "sample_rate": 1.0,
        "route": "queue",
    }
    values.update(overrides)
    programme = SurveyProgramme(**values)
    db.session.add(programme)
    db.session.commit()
    return programme


def make_invitation(programme, customer=None, *, at: datetime | None = None, **about: Any):
    """An invitation of `customer` to `programme`, sent at `at`; returns (invitation, token)."""
    from portal.surveys.invitations import new_invitation
    from portal.surveys.models import SurveyInvitation

    number = next(_numbers)
    made = new_invitation(
        programme,
        dedupe_key=f"p{programme.id}:test:{number}",
        customer_id=customer.id if customer is not None else None,
        send_at=at or utc_now(),
        locale=customer.locale if customer is not None else "en",
        **about,
    )
    invitation = SurveyInvitation(**made.values)
    db.session.add(invitation)
    db.session.commit()
    return invitation, made.token
