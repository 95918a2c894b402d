"""`care.plan` over a million customers: time per planned day, a floor, and peak memory.

    python -m bench.care --database sqlite        # /tmp/care1m.sqlite3
    python -m bench.care --database postgresql    # postgresql://postgres@127.0.0.1/portal_care1m
    python -m bench.care --database sqlite --customers 100000 --days 3 --festival

The dataset (ten times the large seed's customers) is built once with bulk inserts — COPY on
PostgreSQL — in a child process, and kept: a later run that finds the same number of customers
reuses it (brought up to the latest migration first). Customers have realistic birthdays (ages
18–85, leap days included), languages and time zones in the demo seed's mix, consents and
flags at the demo seed's rates, and one to three credit accounts each, the active ones due on a
day in the coming month.

The timing process then empties the outbox (and vacuums it on PostgreSQL), switches the three
default rules on from well before the first day, and plans `--days` consecutive days (each one
fresh, so every day's messages are really decided and written; delivery renders them), at
10:00 in Shanghai — 02:00 in London, 21:00 the day before in New York, so three local dates
are planned. Before each day it runs the floor: the planner's own candidate queries, streamed
page by page and made into drafts, without the contact policy or writing. It reports per day
the plan's time, the floor's, their ratio, messages written by status and the reasons messages
were held; the median over the days; and the process's peak RSS (`getrusage`), with the RSS
after start-up for comparison (the build ran in another process, so it does not count).
`--festival` adds a Spring Festival day, when most customers get a greeting, to show memory
staying flat. The EXPLAIN of every candidate query of the first day goes into the report,
`bench/results/care-<dialect>.md`. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.common import PROJECT_ROOT, RESULTS, psycopg_url, write_text
from portal.customers.imports import ACCOUNT_FIELDS

DATABASES = {
    "sqlite": "sqlite:////tmp/care1m.sqlite3",
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/portal_care1m",
}
CUSTOMERS = 1_000_000
TARGET_SECONDS = 60.0
FIRST_DAY = date(2027, 3, 2)  # no festival within the days planned
SPRING_FESTIVAL = date(2027, 2, 6)
PLAN_HOUR_UTC = 2  # 10:00 in Shanghai
LOAD_CHUNK = 20_000


# ---------------------------------------------------------------- the dataset


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


ZH_ZONES = {"Asia/Shanghai": 92, "Asia/Hong_Kong": 7, "Europe/London": 1}
EN_ZONES = {"Asia/Shanghai": 55, "Asia/Hong_Kong": 20, "Europe/London": 15, "America/New_York": 10}
SEGMENTS = {"mass": 70, "affluent": 20, "private": 5, "small_business": 5}
PRODUCTS = {"credit_card": 45, "personal_loan": 30, "auto_loan": 15, "mortgage": 10}


def customer_rows(count: int, seed: int, now: datetime) -> Iterator[tuple[Any, ...]]:
    """(customer row, its account rows) per customer, generated reproducibly."""
    from portal.demo.base import ENGLISH_FIRST, ENGLISH_LAST, GIVEN, SURNAMES

    rng = random.Random(seed)
    today = FIRST_DAY
    account_id = 0
    for customer_id in range(1, count + 1):
        chinese = rng.random() < 0.6
        if chinese:
            name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
            locale, zone = "zh_Hans", _weighted(rng, ZH_ZONES)
        else:
            name = f"{rng.choice(ENGLISH_FIRST)} {rng.choice(ENGLISH_LAST)}"
            locale, zone = "en", _weighted(rng, EN_ZONES)
        birthday = None
        if rng.random() < 0.95:
            birthday = today - timedelta(days=rng.randint(18 * 365, 85 * 365))
        in_arrears = rng.random() < 0.04
        customer = (
            customer_id,
            f"C{customer_id:08d}",
            name,
            f"c{customer_id}@mail.example.com" if rng.random() < 0.85 else None,
            birthday,
            locale,
            zone,
            _weighted(rng, SEGMENTS),
            rng.random() < 0.60,
            rng.random() < 0.85,
            rng.random() < 0.97,
            in_arrears,
            rng.random() < 0.01,
            rng.random() < 0.02,
            rng.random() < 0.003,
            rng.random() < 0.01,
            1,
            now,
            now,
        )
        accounts = []
        for position in range(1 + (rng.random() < 0.45) + (rng.random() < 0.33)):
            account_id += 1
            if in_arrears and position == 0:
                status, due = "in_arrears", today - timedelta(days=rng.randint(5, 90))
            elif rng.random() < 0.07:
                status, due = "closed", None
            else:
                status, due = "active", today + timedelta(days=rng.randint(0, 30))
            accounts.append(
                (
                    account_id,
                    customer_id,
                    f"CC{customer_id:09d}{position + 1:02d}",
                    _weighted(rng, PRODUCTS),
                    "CNY",
                    "50000.00",
                    "20000.00",
                    due,
                    "1200.00" if due else None,
                    status,
                    today - timedelta(days=rng.randint(60, 3000)),
                    now,
                    now,
                )
            )
        yield customer, accounts


CUSTOMER_COLUMNS = [
    "id",
    "number",
    "name",
    "email",
    "birthday",
    "locale",
    "timezone",
    "segment",
    "consent_care",
    "consent_survey",
    "consent_service",
    "in_arrears",
    "hardship",
    "vulnerable",
    "deceased",
    "do_not_contact",
    "version",
    "created_at",
    "updated_at",
]
ACCOUNT_COLUMNS = ["id", "customer_id", "number", *ACCOUNT_FIELDS, "created_at", "updated_at"]


def build(url: str, count: int) -> None:
    """Create the schema with the migrations and load `count` customers and their accounts."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.core.extensions import db

    started = time.perf_counter()
    if url.startswith("postgresql"):
        target = make_url(url)
        admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}"'))
            connection.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
        admin.dispose()
    else:
        Path(make_url(url).database or "").unlink(missing_ok=True)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-care"})
    with app.app_context():
        upgrade()
        engine = db.engine
    now = datetime.now(UTC)
    rows = customer_rows(count, 20270302, now)
    loaded = 0
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            customers_copy = f"COPY customers ({', '.join(CUSTOMER_COLUMNS)}) FROM STDIN"
            accounts_copy = f"COPY credit_accounts ({', '.join(ACCOUNT_COLUMNS)}) FROM STDIN"
            while True:
                chunk = [row for _, row in zip(range(LOAD_CHUNK), rows, strict=False)]
                if not chunk:
                    break
                with cursor.copy(customers_copy) as copy:
                    for customer, _accounts in chunk:
                        copy.write_row(customer)
                with cursor.copy(accounts_copy) as copy:
                    for _customer, accounts in chunk:
                        for account in accounts:
                            copy.write_row(account)
                raw.commit()
                loaded += len(chunk)
                print(f"\r  loaded {loaded:,} customers", end="", flush=True)
            for table in ("customers", "credit_accounts"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            raw.commit()
            raw.dbapi_connection.autocommit = True
            cursor.execute("VACUUM ANALYZE customers")
            cursor.execute("VACUUM ANALYZE credit_accounts")
        finally:
            raw.close()
    else:
        customers = sa.table("customers", *(sa.column(c) for c in CUSTOMER_COLUMNS))
        accounts_table = sa.table("credit_accounts", *(sa.column(c) for c in ACCOUNT_COLUMNS))
        with engine.connect() as connection:
            while True:
                chunk = [row for _, row in zip(range(LOAD_CHUNK), rows, strict=False)]
                if not chunk:
                    break
                connection.execute(
                    customers.insert(),
                    [_sqlite_row(CUSTOMER_COLUMNS, customer) for customer, _ in chunk],
                )
                connection.execute(
                    accounts_table.insert(),
                    [_sqlite_row(ACCOUNT_COLUMNS, a) for _, accounts in chunk for a in accounts],
                )
                connection.commit()
                loaded += len(chunk)
                print(f"\r  loaded {loaded:,} customers", end="", flush=True)
    engine.dispose()
    print(f"\n  built in {time.perf_counter() - started:.0f}s")


def _sqlite_row(columns: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
    """As the models' column types store them on SQLite (UTC datetimes without offset)."""
    row = {}
    for column, value in zip(columns, values, strict=True):
        if isinstance(value, datetime):
            value = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        elif isinstance(value, date):
            value = value.isoformat()
        row[column] = value
    return row


def dataset_ready(url: str, count: int) -> bool:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            found = connection.execute(sa.text("SELECT max(id) FROM customers")).scalar()
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()
    return found == count


# ---------------------------------------------------------------- measuring


def rss_now_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StatementLog:
    """The SELECTs of the candidate queries, first of each shape, for EXPLAIN."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, Any]] = {}
        self.active = False

    def __call__(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if (
            self.active
            and statement.lstrip().upper().startswith("SELECT")
            and ("FROM customers" in statement or "FROM credit_accounts" in statement)
        ):
            shape = " ".join(statement.split())[:120]
            self.seen.setdefault(shape, (statement, parameters))


def explain(engine: sa.Engine, statement: str, parameters: Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute(prefix + statement, parameters)
        rows = cursor.fetchall()
    if engine.dialect.name == "sqlite":
        return "\n".join(str(row[-1]) for row in rows)
    return "\n".join(row[0] for row in rows)


def analyze(engine: sa.Engine) -> None:
    """What autovacuum does on its own once a tenth of a table has changed: fresh statistics
    for the outbox, which each planned day grows by about 10 %."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE messages")
            connection.commit()


def floor(now: datetime) -> tuple[float, int]:
    """The planner's candidate queries streamed into drafts, nothing decided or written."""
    from portal.care import planner
    from portal.core.extensions import db

    started = time.perf_counter()
    drafted = 0
    rules = planner.active_rules()
    for group in planner.local_days(now):
        for rule in rules:
            if group.day < rule.enabled_on:
                continue
            for drafts in planner._drafts(rule, group, now):
                drafted += len(drafts)
                db.session.rollback()
    return time.perf_counter() - started, drafted


def prepare(first_day: date) -> None:
    """An empty outbox (on PostgreSQL vacuumed too, so that the rows a previous run deleted
    weigh on no run) and the three rules on since well before the first day."""
    from sqlalchemy import delete

    from portal.care.models import CareRule
    from portal.care.services import DEFAULT_RULES
    from portal.core.extensions import db
    from portal.jobs.models import JobLease
    from portal.messaging.models import Message

    db.session.execute(delete(Message))
    db.session.execute(delete(JobLease))
    db.session.execute(delete(CareRule))
    for key, default in DEFAULT_RULES.items():
        db.session.add(
            CareRule(
                key=key,
                enabled=True,
                enabled_on=first_day - timedelta(days=30),
                template_key=default.template_key,
                send_hour=default.send_hour,
                days_before=default.days_before,
            )
        )
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM messages"
            )


def run(url: str, days: int, festival: bool) -> dict[str, Any]:
    from flask_migrate import upgrade

    from portal import create_app
    from portal.care.planner import plan_day
    from portal.core.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-care"})
    log = StatementLog()
    results: list[dict[str, Any]] = []
    with app.app_context():
        upgrade()  # a dataset kept from an earlier run gets the migrations made since
        sa.event.listen(db.engine, "before_cursor_execute", log)
        prepare(FIRST_DAY)
        start_rss = rss_now_mb()
        instants = [
            datetime.combine(FIRST_DAY + timedelta(days=k), datetime.min.time(), UTC)
            + timedelta(hours=PLAN_HOUR_UTC)
            for k in range(days)
        ]
        if festival:
            instants.append(
                datetime.combine(SPRING_FESTIVAL, datetime.min.time(), UTC)
                + timedelta(hours=PLAN_HOUR_UTC)
            )
        plan_day(instants[0] - timedelta(days=1))  # the day before, untimed: a lived-in outbox
        for index, now in enumerate(instants):
            analyze(db.engine)
            log.active = index == 0
            floor_seconds, drafted = floor(now)
            log.active = False
            started = time.perf_counter()
            summary = plan_day(now)
            seconds = time.perf_counter() - started
            statuses: Counter[str] = Counter()
            for rule in ("birthday", "festival", "reminder"):
                statuses.update(summary.get(rule, {}))
            results.append(
                {
                    "day": now.isoformat(),
                    "festival": festival and index == len(instants) - 1,
                    "seconds": seconds,
                    "floor": floor_seconds,
                    "drafted": drafted,
                    "summary": summary,
                    "statuses": dict(statuses),
                    "rss_after": rss_now_mb(),
                }
            )
            print(
                f"  {now:%Y-%m-%d %H:%M}Z  plan {seconds:6.1f}s  floor {floor_seconds:5.1f}s  "
                f"ratio {seconds / max(floor_seconds, 1e-9):5.1f}  drafts {drafted:,}  "
                f"written {sum(statuses.values()):,} {dict(statuses)}  "
                f"RSS {rss_now_mb():.0f} MB",
                flush=True,
            )
        plans = [explain(db.engine, s, p) for s, p in log.seen.values()]
        statements = [s for s, _ in log.seen.values()]
        dialect = db.engine.dialect.name
    return {
        "dialect": dialect,
        "results": results,
        "start_rss": start_rss,
        "peak_rss": peak_rss_mb(),
        "plans": list(zip(statements, plans, strict=True)),
    }


def report(measured: dict[str, Any], customers: int, out: Path) -> str:
    ordinary = [r for r in measured["results"] if not r["festival"]]
    median = statistics.median(r["seconds"] for r in ordinary)
    median_floor = statistics.median(r["floor"] for r in ordinary)
    lines = [
        f"# care.plan on {measured['dialect']} ({customers:,} customers)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M}Z, {platform.node()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "",
        "| day (UTC instant) | plan s | floor s | ratio | drafts | written by status |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in measured["results"]:
        label = r["day"] + (" (Spring Festival)" if r["festival"] else "")
        lines.append(
            f"| {label} | {r['seconds']:.1f} | {r['floor']:.1f} | "
            f"{r['seconds'] / max(r['floor'], 1e-9):.1f} | {r['drafted']:,} | "
            f"{', '.join(f'{k} {v:,}' for k, v in sorted(r['statuses'].items()))} |"
        )
    verdict = "met" if median < TARGET_SECONDS else "NOT met"
    lines += [
        "",
        f"Median of the ordinary days: **{median:.1f} s** (target under {TARGET_SECONDS:.0f} s: "
        f"{verdict}); floor {median_floor:.1f} s, ratio {median / max(median_floor, 1e-9):.1f}.",
        f"RSS after start-up {measured['start_rss']:.0f} MB; peak RSS of the process "
        f"**{measured['peak_rss']:.0f} MB**.",
        "",
        "Held back or deferred, first day: "
        + ", ".join(
            f"{reason} {n:,}" for reason, n in measured["results"][0]["summary"]["reasons"].items()
        ),
        "",
        "## Candidate queries (first day) and their plans",
    ]
    for statement, plan in measured["plans"]:
        lines += ["", "```sql", _short(statement), "```", "```", _short_plan(plan), "```"]
    text = "\n".join(lines) + "\n"
    write_text(out, text)
    return text


PLACEHOLDER = r"(?:\?|%\(\w+\)s)(?:::\w+(?:\(\d+\))?)?"
PLACEHOLDER_LIST = re.compile(rf"\({PLACEHOLDER}(?:, {PLACEHOLDER}){{3,}}\)")
LONG_ARRAY = re.compile(r"'\{[^}]{80,}\}'")


def _short(statement: str) -> str:
    """The statement on one line, long lists of parameters shown as (…)."""
    return PLACEHOLDER_LIST.sub("(…)", " ".join(statement.split()))


def _short_plan(plan: str) -> str:
    """A plan with long array constants (the IN lists) shown as '{…}'."""
    return LONG_ARRAY.sub("'{…}'", plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=sorted(DATABASES), default="sqlite")
    parser.add_argument("--database-url", help="instead of the default for --database")
    parser.add_argument("--customers", type=int, default=CUSTOMERS)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--festival", action="store_true", help="also plan a Spring Festival day")
    parser.add_argument("--rebuild", action="store_true", help="build the dataset again")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    url = psycopg_url(args.database_url or DATABASES[args.database])
    if args.customers != CUSTOMERS and not args.database_url:
        url = url.replace("care1m", f"care{args.customers}")
    if args.build_only:
        build(url, args.customers)
        return
    if args.rebuild or not dataset_ready(url, args.customers):
        print(f"Building {args.customers:,} customers at {make_url(url).render_as_string()} …")
        subprocess.run(  # its own process: the build's memory is not the plan's
            [
                sys.executable,
                "-m",
                "bench.care",
                "--build-only",
                "--database-url",
                url,
                "--customers",
                str(args.customers),
            ],
            cwd=PROJECT_ROOT,
            check=True,
        )
    print(f"Planning {args.days} days over {args.customers:,} customers ({args.database}):")
    measured = run(url, args.days, args.festival)
    out = args.out or RESULTS / f"care-{measured['dialect']}.md"
    print(report(measured, args.customers, out).split("## Candidate")[0])
    print(f"Report: {out}")


if __name__ == "__main__":
    main()
