"""Three scheduler processes on one PostgreSQL plan and deliver a week of care messages: each
customer gets exactly what the contact policy allows, once."""

import os
import random
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from portal import create_app
from portal.care.models import CareRule
from portal.core.extensions import db
from portal.customers.models import CreditAccount, Customer
from portal.jobs.models import JobRun
from portal.jobs.runner import run_job
from portal.messaging.models import Message
from tests.conftest import PreparedDatabases, config_for
from tests.support.databases import postgres_url

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(postgres_url() is None, reason="needs PostgreSQL (TEST_DATABASE_URL)"),
]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROCESSES = 3
EXIT_SKIPPED = 75
FIRST_DAY = date(2026, 9, 21)  # a week with the Mid-Autumn Festival (25 September) in it
# Noon UTC: 20:00 in Shanghai, 13:00 in London, 08:00 in New York — one local date everywhere.
PLANS = [datetime(2026, 9, 21, 12, 0, tzinfo=UTC) + timedelta(days=d) for d in range(7)]
DELIVERIES = [*PLANS, PLANS[-1] + timedelta(days=1)]  # New York's last greetings are due then


def populate() -> dict[str, int]:
    """Rules on from the first day; customers chosen to meet every part of the policy, and a
    crowd of random ones. Returns the ids of the chosen ones."""
    for key, template, hour, lead in (
        ("birthday", "birthday", 9, ""),
        ("festival", "festival", 9, ""),
        ("reminder", "reminder", 10, "3,1"),
    ):
        db.session.add(
            CareRule(
                key=key,
                enabled=True,
                enabled_on=FIRST_DAY,
                template_key=template,
                send_hour=hour,
                days_before=lead,
            )
        )
    chosen = {
        "birthday": _customer(1, locale="en", birthday=date(1980, 9, 23)),
        "birthday_and_festival": _customer(2, birthday=date(1975, 9, 25)),
        "new_york": _customer(
            3, locale="en", timezone="America/New_York", birthday=date(1990, 9, 27)
        ),
        "no_consent": _customer(4, birthday=date(1985, 9, 24), consent_care=False),
        "hardship": _customer(5, birthday=date(1985, 9, 24), hardship=True),
        "many_accounts": _customer(6),
    }
    _account(1, chosen["hardship"], date(2026, 9, 26))
    for position in range(8):
        _account(9000 + position, chosen["many_accounts"], date(2026, 9, 25))
    rng = random.Random(20260921)
    for number in range(7, 67):
        customer_id = _customer(
            number,
            locale=rng.choice(["zh_Hans", "zh_Hans", "en"]),
            timezone=rng.choice(["Asia/Shanghai", "Europe/London", "America/New_York"]),
            birthday=date(rng.randint(1950, 2000), 9, rng.randint(19, 30)),
            consent_care=rng.random() < 0.7,
            consent_service=rng.random() < 0.9,
            vulnerable=rng.random() < 0.1,
        )
        for position in range(rng.randint(0, 3)):
            due = FIRST_DAY + timedelta(days=rng.randint(0, 9))
            _account(number * 10 + position, customer_id, due)
    db.session.commit()
    return chosen


def _customer(number: int, **overrides: Any) -> int:
    values: dict[str, Any] = {
        "number": f"W{number:06d}",
        "name": f"Customer {number}",
        "email": f"customer{number}@mail.example.com",
        "locale": "zh_Hans",
        "timezone": "Asia/Shanghai",
        "consent_care": True,
    }
    values.update(overrides)
    customer = Customer(**values)
    db.session.add(customer)
    db.session.flush()
    return customer.id


def _account(number: int, customer_id: int, due: date) -> None:
    db.session.add(
        CreditAccount(
            customer_id=customer_id,
            number=f"PL{number:012d}",
            product="personal_loan",
            principal=Decimal("10000.00"),
            balance=Decimal("8000.00"),
            next_due_on=due,
            status="active",
        )
    )


def portal_env(database_url: str, mail_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PORTAL_ENV", "JOB_REGISTRY")}
    env.update(
        DATABASE_URL=database_url,
        FLASK_APP="wsgi",
        SECRET_KEY="test",
        MAIL_TRANSPORT="file",
        MAIL_DIR=str(mail_dir),
        PUBLIC_BASE_URL="http://localhost",
        LOG_LEVEL="WARNING",
    )
    return env


def fire(job: str, at: datetime, env: dict[str, str]) -> None:
    """Three processes run `flask jobs once JOB --at AT` together, as three schedulers whose
    clocks agree would; each either runs it or finds another holding it."""
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "flask", "jobs", "once", job, "--at", at.isoformat()],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode in (0, EXIT_SKIPPED), f"{job} at {at}: {out}\n{err[-3000:]}"


def outcome(app: Flask) -> tuple[list[Message], set[tuple[str, str, str | None]]]:
    with app.app_context():
        messages = list(db.session.scalars(select(Message).order_by(Message.id)))
        db.session.expunge_all()
    return messages, {(m.dedupe_key, m.status, m.held_reason) for m in messages}


def test_three_schedulers_deliver_a_week_exactly_as_the_policy_allows(
    prepared_databases: PreparedDatabases, tmp_path: Path
) -> None:
    with (
        prepared_databases.migrated("postgresql", tmp_path) as shared_url,
        prepared_databases.migrated("postgresql", tmp_path) as oracle_url,
    ):
        mail = tmp_path / "mail"
        shared = create_app(config_for(shared_url, MAIL_TRANSPORT="file", MAIL_DIR=str(mail)))
        oracle = create_app(
            config_for(oracle_url, MAIL_TRANSPORT="file", MAIL_DIR=str(tmp_path / "oracle"))
        )
        for app in (shared, oracle):
            with app.app_context():
                chosen = populate()

        env = portal_env(shared_url, mail)
        for index, at in enumerate(DELIVERIES):
            if index < len(PLANS):
                fire("care.plan", at, env)
            fire("messaging.deliver", at, env)
        # The same week in one process, one job after the other: what the policy decides.
        with oracle.app_context():
            for index, at in enumerate(DELIVERIES):
                if index < len(PLANS):
                    assert run_job("care.plan", as_of=at).outcome == "succeeded"
                assert run_job("messaging.deliver", as_of=at).outcome == "succeeded"

        messages, decided = outcome(shared)
        _, expected = outcome(oracle)
        with shared.app_context():
            runs = Counter((run.job_id, run.outcome) for run in db.session.scalars(select(JobRun)))
        for app in (shared, oracle):
            with app.app_context():
                db.engine.dispose()

    assert decided == expected
    assert runs[("care.plan", "failed")] == 0 and runs[("messaging.deliver", "failed")] == 0
    assert runs[("care.plan", "succeeded")] >= len(PLANS)
    assert {m.status for m in messages} == {"sent", "suppressed"}

    # Exactly one file per sent message, none for a held one.
    files = Counter()
    for path in mail.rglob("*.eml"):
        with path.open("rb") as handle:
            files[BytesHeaderParser().parse(handle)["Message-ID"]] += 1
    sent = [m for m in messages if m.status == "sent"]
    assert sum(files.values()) == len(sent) and set(files) == {m.message_id for m in sent}
    assert max(files.values()) == 1

    # The caps hold in every window of 7 days, for each customer.
    per_customer: dict[int | None, list[Message]] = defaultdict(list)
    for message in sent:
        per_customer[message.customer_id].append(message)
    for customer_messages in per_customer.values():
        times = sorted(m.next_attempt_at for m in customer_messages)
        care = sorted(m.next_attempt_at for m in customer_messages if not m.transactional)
        assert _most_in_a_week(care) <= 3 and _most_in_a_week(times) <= 6

    def kinds(name: str, status: str = "sent") -> Counter:
        return Counter(
            m.kind for m in messages if m.customer_id == chosen[name] and m.status == status
        )

    assert kinds("birthday") == {"birthday": 1}
    assert kinds("birthday_and_festival") == {"birthday": 1, "festival": 1}
    assert kinds("new_york") == {"birthday": 1}
    assert kinds("no_consent") == {}
    assert kinds("no_consent", "suppressed") == {"birthday": 1, "festival": 1}
    assert kinds("hardship") == {"reminder": 2}
    assert kinds("hardship", "suppressed") == {"birthday": 1, "festival": 1}
    # Eight accounts due on the 25th, reminded 3 days and 1 day before, plus the festival:
    # at most six messages in seven days, transactional ones included.
    assert kinds("many_accounts") == {"reminder": 6}
    assert kinds("many_accounts", "suppressed") == {"reminder": 10, "festival": 1}


def _most_in_a_week(times: list[datetime]) -> int:
    return max(
        (sum(1 for t in times if start <= t < start + timedelta(days=7)) for start in times),
        default=0,
    )
