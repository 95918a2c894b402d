"""Demo care rules, switched on from the day of seeding, and demo customers whose birthday is
that day — so the scheduler's first `care.plan` run, right after `./scripts/run` starts it,
queues birthday greetings that show on the outbox page.

The birthday customers are chosen among those the contact policy would greet (an email
address, greeting consent, no flags, no open complaint) in the firm's zone, so their local
"today" is the seed day; both languages are among them. Their birth year is kept, and the
birth date inside a resident ID number moves with the birthday, check character included.
"""

from __future__ import annotations

from calendar import isleap
from datetime import date
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select, update

from portal.care.services import enable_default_rules
from portal.core.extensions import db
from portal.customers.models import Customer
from portal.demo.base import SeedContext, with_check_character
from portal.tickets.models import Ticket

BIRTHDAYS_TODAY = {"small": 6, "large": 40}  # per language


def seed_care(ctx: SeedContext) -> None:
    zone = current_app.config["DEFAULT_TIMEZONE"]
    today = ctx.now.astimezone(ZoneInfo(zone)).date()
    ctx.counts["care rules"] = len(enable_default_rules(ctx.actor, today))
    moved = 0
    for locale in ("zh_Hans", "en"):
        greeted = db.session.execute(
            select(Customer.id, Customer.birthday, Customer.id_number)
            .where(
                Customer.locale == locale,
                Customer.timezone == zone,
                Customer.email.is_not(None),
                Customer.birthday.is_not(None),
                Customer.consent_care.is_(True),
                *(getattr(Customer, flag).is_(False) for flag in GREETING_BLOCKERS),
                ~select(Ticket.id)
                .where(Ticket.customer_id == Customer.id, Ticket.is_open.is_(True))
                .exists(),
            )
            .order_by(Customer.id)
            .limit(BIRTHDAYS_TODAY[ctx.scale])
        ).all()
        for customer_id, birthday, id_number in greeted:
            born = _same_year(birthday, today)
            db.session.execute(
                update(Customer)
                .where(Customer.id == customer_id)
                .values(birthday=born, id_number=_with_birth_date(id_number, born))
                .execution_options(synchronize_session=False)
            )
            moved += 1
    db.session.commit()
    ctx.counts["birthdays today"] = moved


GREETING_BLOCKERS = ("in_arrears", "hardship", "vulnerable", "deceased", "do_not_contact")


def _same_year(birthday: date, today: date) -> date:
    year = birthday.year
    if (today.month, today.day) == (2, 29) and not isleap(year):
        year -= year % 4  # a leap year close by: 29 February must exist
    return date(year, today.month, today.day)


def _with_birth_date(id_number: str | None, born: date) -> str | None:
    if not id_number or len(id_number) != 18:
        return id_number
    return with_check_character(f"{id_number[:6]}{born:%Y%m%d}{id_number[14:17]}")
