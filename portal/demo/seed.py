"""Seeders, run in order, each inserting its room's demo rows in bulk.

`small` gives a portal a person can click through; `large` gives the volumes the benchmarks
are specified against. Rows go in with multi-row INSERTs in batches inside one transaction
per batch, so even the large seed takes minutes, not hours, on two cores.
"""

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from portal.accounts.models import User, new_session_token
from portal.care.models import CareRule
from portal.core.access import Role
from portal.core.audit import Actor
from portal.core.extensions import db
from portal.core.timeutil import utc_now
from portal.customers.models import Customer
from portal.demo.base import (
    ENGLISH_FIRST,
    ENGLISH_LAST,
    GIVEN,
    SURNAMES,
    SeedContext,
    bulk_insert,
)
from portal.demo.care import seed_care
from portal.demo.channels import seed_channels
from portal.demo.customers import seed_customers
from portal.demo.surveys import seed_surveys
from portal.demo.tickets import seed_tickets
from portal.surveys.models import SurveyProgramme
from portal.tickets.models import ReplyTemplate, Team, Ticket

SCALES = ("small", "large")


@dataclass(frozen=True)
class DemoAccount:
    role: Role
    email: str
    name: str
    password: str


DEMO_ACCOUNTS = [
    DemoAccount(Role.ADMIN, "admin@demo.example.com", "Alex Admin", "demo-admin-password"),
    DemoAccount(Role.RM, "rm@demo.example.com", "李娜", "demo-rm-password"),
    DemoAccount(Role.HANDLER, "handler@demo.example.com", "Sam Handler", "demo-handler-password"),
    DemoAccount(Role.LEAD, "lead@demo.example.com", "陈洁", "demo-lead-password"),
]

# Staff beyond the four demo accounts, per scale: sized so that the large seed gives each RM
# a book of about 400 of the 100,000 customers the customers room seeds.
STAFF = {
    "small": {Role.RM: 4, Role.HANDLER: 3, Role.LEAD: 1, Role.ADMIN: 0},
    "large": {Role.RM: 250, Role.HANDLER: 120, Role.LEAD: 20, Role.ADMIN: 5},
}
STAFF_PASSWORD = "demo-staff-password"  # noqa: S105  (demo data, printed in the README)


Seeder = Callable[[SeedContext], None]


def person_name(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
    return f"{rng.choice(ENGLISH_FIRST)} {rng.choice(ENGLISH_LAST)}"


def seed_users(ctx: SeedContext) -> None:
    from portal.accounts import services

    for account in DEMO_ACCOUNTS:
        services.create_user(ctx.actor, account.email, account.name, account.role, account.password)
    ctx.counts["users"] = len(DEMO_ACCOUNTS)
    staff_hash = generate_password_hash(STAFF_PASSWORD)  # one hash: scrypt per row would dominate
    plan = STAFF[ctx.scale]

    def rows() -> Iterator[dict[str, Any]]:
        for role, count in plan.items():
            for number in range(1, count + 1):
                yield {
                    "email": f"{role.value}{number:04d}@staff.example.com",
                    "name": person_name(ctx.rng),
                    "role": role.value,
                    "password_hash": staff_hash,
                    "active": True,
                    "session_token": new_session_token(),
                    "created_at": ctx.now,
                    "updated_at": ctx.now,
                    "password_changed_at": ctx.now,
                }

    bulk_insert(ctx, User, rows(), sum(plan.values()), "users")


SEEDERS: list[tuple[str, Seeder]] = [
    ("users", seed_users),
    ("customers", seed_customers),
    ("tickets", seed_tickets),
    ("care", seed_care),
    ("channels", seed_channels),
    ("surveys", seed_surveys),
]
# A room is empty when none of these tables holds a row.
ROOM_TABLES: dict[str, tuple[Any, ...]] = {
    "users": (User,),
    "customers": (Customer,),
    "tickets": (Ticket, Team),
    "care": (CareRule,),
    "channels": (ReplyTemplate,),
    "surveys": (SurveyProgramme,),
}


def room_is_empty(name: str) -> bool:
    return all(
        db.session.scalar(select(select(model).exists())) is False for model in ROOM_TABLES[name]
    )


def database_is_empty() -> bool:
    return room_is_empty("users")


def seed(
    scale: str,
    *,
    seed_value: int = 20261129,
    show_progress: bool = True,
    only: tuple[str, ...] = (),
) -> dict[str, int]:
    """Run the seeders in order, or just those named in `only`: a room seeded on its own
    (e.g. tickets added to a database seeded before tickets existed) needs the earlier rooms'
    rows, which it reads."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}")
    ctx = SeedContext(
        scale=scale,
        rng=random.Random(seed_value),
        now=utc_now(),
        actor=Actor.system("demo-seed"),
        show_progress=show_progress,
    )
    for name, seeder in SEEDERS:
        if not only or name in only:
            seeder(ctx)
    return ctx.counts
