"""Customer search, customer list and the 360 page: server time, a floor, and query plans.

    python -m bench.customers --database-url sqlite:////tmp/large.sqlite3 [--repeat 50]

Measures on an already seeded large database and never writes to it (the test clients are
signed in by setting session keys, as the tests do). For every case it reports the median and
p90 wall time of `client.get(...)` in-process, the same for a bare Flask app that renders the
same page templates from rows held in memory (the floor), their ratio, and the EXPLAIN output
of every SELECT the portal ran for one request, flagging plans that scan a whole big table.
See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import hashlib
import html
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, g, render_template, template_rendered
from flask.testing import FlaskClient
from flask_babel import Babel, get_locale, get_timezone
from flask_wtf import CSRFProtect, FlaskForm
from jinja2 import ChoiceLoader, DictLoader, FileSystemLoader
from sqlalchemy import event, func, inspect, select
from sqlalchemy.engine import Engine, make_url

from portal import create_app
from portal.accounts.models import User
from portal.core.access import Role, role_label
from portal.core.extensions import db
from portal.core.search import is_cjk
from portal.customers.models import Customer, Interaction
from portal.customers.routes import customer_labels
from portal.customers.timeline import Cursor

try:  # the demo module may be mid-edit; the number is part of the seed's contract
    from portal.demo.customers import LONG_HISTORY_CUSTOMER
except ImportError:  # pragma: no cover
    LONG_HISTORY_CUSTOMER = "C99999999"

ADMIN_EMAIL = "admin@demo.example.com"
RM_EMAIL = "rm@demo.example.com"
MIN_CUSTOMERS = 100_000
BIG_TABLES = (
    "customers",
    "interactions",
    "follow_ups",
    "customer_search_terms",
    "credit_accounts",
    "audit_events",
)
TARGET_MEDIAN_MS = 50.0
TARGET_RATIO = 3.0
FLAT_RATIO = 1.5  # the long-history 360 page may cost at most this much more than a typical one
WHOLE_TABLE_SHARE = 0.5  # work of at least this share of a big table's rows counts as a full scan
HEAVY_ROWS = 10_000  # rows visited by one scan (PostgreSQL) worth a note in the report
DEEP_ENTRIES = 9_000  # how far back in the long history the deep timeline page starts
SQLITE_TICK = 100  # VM instructions per progress-handler call
SQLITE_STEPS_PER_ROW = 5  # VM instructions per row a filtered scan visits (measured, roughly)

RESULTS = Path(__file__).resolve().parent / "results"


# ---------------------------------------------------------------- what is measured


@dataclasses.dataclass
class Finding:
    table: str
    detail: str
    full: bool  # counts as a scan of a whole big table
    note: str


@dataclasses.dataclass
class Statement:
    sql: str
    params: Any
    plan: list[str] = dataclasses.field(default_factory=list)
    findings: list[Finding] = dataclasses.field(default_factory=list)
    ms: float | None = None
    work: str = ""
    error: str | None = None


@dataclasses.dataclass
class Case:
    name: str
    title: str
    who: str  # "admin" or "rm"
    url: str
    portal_ms: list[float] = dataclasses.field(default_factory=list)
    floor_ms: list[float] = dataclasses.field(default_factory=list)
    layout_ms: list[float] = dataclasses.field(default_factory=list)
    statements: list[Statement] = dataclasses.field(default_factory=list)
    all_statements: int = 0
    template: str = ""
    rows: int = 0
    bytes: int = 0
    same_rows: bool | None = None
    error: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.portal_ms) if self.portal_ms else math.nan

    @property
    def p90(self) -> float:
        return percentile(self.portal_ms, 90)

    @property
    def floor(self) -> float:
        return statistics.median(self.floor_ms) if self.floor_ms else math.nan

    @property
    def floor_p90(self) -> float:
        return percentile(self.floor_ms, 90)

    @property
    def layout_floor(self) -> float:
        return statistics.median(self.layout_ms) if self.layout_ms else math.nan

    @property
    def ratio(self) -> float:
        return self.median / self.floor if self.floor_ms and self.floor > 0 else math.nan

    @property
    def full_scan(self) -> bool:
        return any(f.full for s in self.statements for f in s.findings)

    @property
    def sql_ms(self) -> float:
        return sum(s.ms or 0.0 for s in self.statements)

    def misses(self) -> list[str]:
        if self.error:
            return ["error"]
        found = []
        if not self.median < TARGET_MEDIAN_MS:
            found.append(f"median ≥ {TARGET_MEDIAN_MS:g} ms")
        if not self.ratio < TARGET_RATIO:
            found.append(f"ratio ≥ {TARGET_RATIO:g}×")
        if self.full_scan:
            found.append("full scan")
        if self.same_rows is False:
            found.append("floor rows differ")
        return found


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


# ---------------------------------------------------------------- the portal side


def signed_in_client(app: Flask, user_id: str) -> FlaskClient:
    """A test client holding a session for the user, set up as the tests do (no DB write)."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user_id
        session["_fresh"] = True
        session["signed_in_at"] = time.time()
    return client


@dataclasses.dataclass
class Fixtures:
    admin_id: str
    rm_id: str
    counts: dict[str, int]
    cjk_fragment: str
    cjk_source: str
    number_prefix: str
    email_prefix: str
    phone_last4: str
    typical_id: int
    typical_contacts: int
    long_id: int | None
    long_contacts: int
    deep_cursor: str | None  # timeline cursor `deep_entries` entries back in the long history
    deep_entries: int


def _user_session_id(email: str) -> str:
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        raise SystemExit(f"bench: no user {email}; seed the demo data (flask demo seed) first.")
    return user.get_id()


def count_rows(engine: Engine) -> dict[str, int]:
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        for table in BIG_TABLES:
            try:
                counts[table] = int(
                    connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0
                )
            except Exception:  # a room not migrated yet has no rows
                connection.rollback()
                counts[table] = 0
        connection.rollback()
    return counts


def pick_fixtures(app: Flask, allow_small: bool) -> Fixtures:
    """Real values to search for, and the customers whose 360 pages are measured."""
    with app.app_context():
        counts = count_rows(db.engine)
        if counts["customers"] < MIN_CUSTOMERS and not allow_small:
            raise SystemExit(
                f"bench: the database holds {counts['customers']:,} customers, fewer than "
                f"{MIN_CUSTOMERS:,}. Seed the large dataset first (flask db upgrade && "
                "flask demo seed --scale large) or pass --allow-small to try the bench anyway."
            )
        admin_id, rm_id = _user_session_id(ADMIN_EMAIL), _user_session_id(RM_EMAIL)
        low, high = db.session.execute(select(func.min(Customer.id), func.max(Customer.id))).one()
        if low is None:
            raise SystemExit("bench: the database holds no customers.")
        sample = list(
            db.session.scalars(
                select(Customer)
                .where(Customer.id >= (low + high) // 2, Customer.erased_at.is_(None))
                .where(Customer.number != LONG_HISTORY_CUSTOMER)
                .order_by(Customer.id)
                .limit(400)
            )
        )
        cjk = next(
            (c.name for c in sample if len(c.name) >= 3 and all(is_cjk(ch) for ch in c.name)),
            next((c.name for c in sample if all(is_cjk(ch) for ch in c.name)), "王芳"),
        )
        fragment = cjk[1:3] if len(cjk) >= 3 else cjk[:2]
        email = next((c.email for c in sample if c.email and "." in c.email.split("@")[0]), None)
        email = email or next((c.email for c in sample if c.email), "c0@")
        local = email.split("@")[0]
        email_prefix = local[: local.index(".") + 4] if "." in local else local[:6]
        phone = next((c.phone for c in sample if c.phone), "0000")
        ids = [c.id for c in sample]
        contacts = dict(
            db.session.execute(
                select(Interaction.customer_id, func.count())
                .where(Interaction.customer_id.in_(ids))
                .group_by(Interaction.customer_id)
            ).all()
        )
        typical = min(ids, key=lambda i: (abs(contacts.get(i, 0) - 10), i))
        long_id = db.session.scalar(
            select(Customer.id).where(Customer.number == LONG_HISTORY_CUSTOMER)
        )
        long_contacts = (
            db.session.scalar(
                select(func.count())
                .select_from(Interaction)
                .where(Interaction.customer_id == long_id)
            )
            if long_id is not None
            else 0
        )
        deep_cursor, deep_entries = None, min(DEEP_ENTRIES, int(long_contacts or 0) - 30)
        if long_id is not None and deep_entries > 20:
            at, key = db.session.execute(
                select(Interaction.occurred_at, Interaction.id)
                .where(Interaction.customer_id == long_id)
                .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
                .offset(deep_entries)
                .limit(1)
            ).one()
            deep_cursor = Cursor(at, "contact", key).encode()
        db.session.rollback()
        return Fixtures(
            admin_id=admin_id,
            rm_id=rm_id,
            counts=counts,
            cjk_fragment=fragment,
            cjk_source=cjk,
            number_prefix=sample[0].number[:-2],
            email_prefix=email_prefix,
            phone_last4=phone[-4:],
            typical_id=typical,
            typical_contacts=contacts.get(typical, 0),
            long_id=long_id,
            long_contacts=int(long_contacts or 0),
            deep_cursor=deep_cursor,
            deep_entries=deep_entries,
        )


def search_url(query: str) -> str:
    return "/customers?" + urlencode({"q": query})


_NEXT_LINK = re.compile(r'<a href="([^"]*[?&](?:amp;)?after=[^"]*)"')
_OLDER_LINK = re.compile(r'<a href="([^"]*[?&](?:amp;)?before=[^"]*)"')


def follow(client: FlaskClient, url: str, pattern: re.Pattern[str]) -> str | None:
    response = client.get(url)
    if response.status_code != 200:
        return None
    found = pattern.search(response.get_data(as_text=True))
    return html.unescape(found.group(1)) if found else None


def build_cases(fx: Fixtures, clients: dict[str, FlaskClient], list_page: int) -> list[Case]:
    admin = clients["admin"]
    cases = [
        Case("search_cjk_surname", "search: Chinese surname 王", "admin", search_url("王")),
        Case(
            "search_cjk_fragment",
            f"search: 2-char fragment {fx.cjk_fragment} (of {fx.cjk_source})",
            "admin",
            search_url(fx.cjk_fragment),
        ),
        Case("search_en_prefix", "search: English prefix smi", "admin", search_url("smi")),
        Case(
            "search_number_prefix",
            f"search: number prefix {fx.number_prefix}",
            "admin",
            search_url(fx.number_prefix),
        ),
        Case(
            "search_email_prefix",
            f"search: email prefix {fx.email_prefix}",
            "admin",
            search_url(fx.email_prefix),
        ),
        Case(
            "search_phone_last4",
            f"search: phone last 4 digits {fx.phone_last4}",
            "admin",
            search_url(fx.phone_last4),
        ),
        Case("search_no_match", "search: matches nothing (qzxv)", "admin", search_url("qzxv")),
        Case(
            "search_broad_prefix",
            f"search: broad prefix {fx.number_prefix[:3]} (most customer numbers match)",
            "admin",
            search_url(fx.number_prefix[:3]),
        ),
        Case("list_page1", "list (no query), page 1", "admin", "/customers"),
    ]
    url: str | None = "/customers"
    for _ in range(list_page - 1):
        url = follow(admin, url, _NEXT_LINK) if url else None
    cases.append(
        Case(
            f"list_page{list_page}",
            f"list, page {list_page} via the keyset link",
            "admin",
            url or "",
        )
    )
    cases.append(Case("rm_list", "RM's own list, page 1", "rm", "/customers"))
    cases.append(
        Case(
            "show_typical",
            f"360 page, typical customer ({fx.typical_contacts} contacts)",
            "admin",
            f"/customers/{fx.typical_id}",
        )
    )
    long_url = f"/customers/{fx.long_id}" if fx.long_id is not None else ""
    cases.append(
        Case(
            "show_long_history",
            f"360 page, {LONG_HISTORY_CUSTOMER} ({fx.long_contacts:,} contacts)",
            "admin",
            long_url,
        )
    )
    older = follow(admin, long_url, _OLDER_LINK) if long_url else None
    cases.append(
        Case(
            "timeline_older_long",
            f"timeline 'older entries', {LONG_HISTORY_CUSTOMER}",
            "admin",
            older or "",
        )
    )
    deep = (
        f"/customers/{fx.long_id}/timeline?" + urlencode({"before": fx.deep_cursor})
        if fx.deep_cursor
        else ""
    )
    cases.append(
        Case(
            "timeline_deep_long",
            f"timeline page {fx.deep_entries:,} entries back, {LONG_HISTORY_CUSTOMER}",
            "admin",
            deep,
        )
    )
    for case in cases:
        if not case.url:
            case.error = "no URL (the link to follow was missing)"
    return cases


# ---------------------------------------------------------------- capturing what was rendered


@dataclasses.dataclass
class FormSpec:
    """A form the portal rendered: rebuilt inside the floor's own request, with the same data."""

    form_class: type[FlaskForm]
    data: dict[str, Any]

    def build(self) -> FlaskForm:
        form = self.form_class()
        for name, value in self.data.items():
            form[name].data = value
        return form


class PlainRow:
    """An ORM row's column values (and its model's own methods), detached from any session."""

    def __repr__(self) -> str:
        return f"PlainRow({self.__dict__.get('id')})"


def plain_row(obj: Any) -> PlainRow:
    row = PlainRow()
    mapper = inspect(obj).mapper
    row.__dict__.update({attr.key: getattr(obj, attr.key) for attr in mapper.column_attrs})
    for klass in type(obj).__mro__:
        if not klass.__module__.startswith("portal."):
            continue
        for name, member in vars(klass).items():
            if isinstance(member, types.FunctionType) and not name.startswith("_"):
                row.__dict__.setdefault(name, types.MethodType(member, row))
    return row


def plain(value: Any) -> Any:
    """A copy of a template value with every ORM object replaced by a PlainRow."""
    if isinstance(value, FlaskForm):
        fields = {n: f.data for n, f in value._fields.items() if n != "csrf_token"}
        return FormSpec(type(value), fields)
    if hasattr(value, "_sa_instance_state"):
        return plain_row(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(plain(v) for v in value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def plain_user(user: Any) -> PlainRow | None:
    """The signed-in user as the layout reads it (`current_user`), detached."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    row = plain_row(user._get_current_object() if hasattr(user, "_get_current_object") else user)
    row.is_authenticated = True
    return row


# Supplied by Flask, Flask-Login, the layout or the floor's own context processors.
_NOT_CAPTURED = {"g", "request", "session", "config", "current_user", "has_role"}
_NOT_CAPTURED |= set(customer_labels())


@dataclasses.dataclass
class Rendered:
    template: str
    context: dict[str, Any]
    locale: str
    timezone: str
    role: str
    user: PlainRow | None


@contextmanager
def captured_render(app: Flask) -> Iterator[list[Rendered]]:
    recorded: list[Rendered] = []

    def record(sender: Flask, template: Any, context: dict[str, Any], **extra: Any) -> None:
        user = context.get("current_user")
        recorded.append(
            Rendered(
                template=template.name,
                context={k: plain(v) for k, v in context.items() if k not in _NOT_CAPTURED},
                locale=str(get_locale()),
                timezone=str(get_timezone()),
                role=str(getattr(user, "role", "")),
                user=plain_user(user),
            )
        )

    template_rendered.connect(record, app)
    try:
        yield recorded
    finally:
        template_rendered.disconnect(record, app)


@contextmanager
def captured_sql(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool):
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


# ---------------------------------------------------------------- the floor

MINIMAL_BASE = """<!doctype html>
<html lang="{{ html_lang }}">
<head>
  <meta charset="utf-8">
  <title>{% block title %}{% endblock %}</title>
  <link rel="stylesheet" href="{{ url_for('static', filename='css/portal.css') }}">
</head>
<body>
  <main class="container" id="content">{% block content %}{% endblock %}</main>
</body>
</html>
"""


def _stub_view(**_kwargs: Any) -> str:
    return ""


def build_floor(portal: Flask, pages: dict[str, Rendered], *, full_layout: bool = False) -> Flask:
    """A bare Flask app rendering the portal's page templates from rows held in memory.

    No database, no sign-in, no request hooks. With `full_layout` the portal's own base.html
    (navigation, language form) is used; otherwise a minimal base, which is the floor the
    targets are stated against. The portal's URL rules are copied (to stub views) so that
    `url_for` builds the same links; Flask-Babel and Flask-WTF are set up as in the portal so
    that dates, numbers, labels and forms render the same way.
    """
    floor = Flask("bench_floor", static_folder=portal.static_folder)
    floor.config.update(
        SECRET_KEY="bench-floor",  # noqa: S106  (a throwaway app in one process)
        **{
            key: portal.config[key]
            for key in (
                "BABEL_DEFAULT_LOCALE",
                "BABEL_DEFAULT_TIMEZONE",
                "BABEL_TRANSLATION_DIRECTORIES",
                "LANGUAGES",
            )
        },
    )
    templates = FileSystemLoader(str(portal.template_folder))
    floor.jinja_env.loader = (
        templates
        if full_layout
        else ChoiceLoader([DictLoader({"base.html": MINIMAL_BASE}), templates])
    )
    Babel(floor, locale_selector=lambda: g.bench_locale, timezone_selector=lambda: g.bench_zone)
    CSRFProtect(floor)
    floor.context_processor(customer_labels)
    floor.add_template_filter(role_label, "role_label")
    floor.url_map.converters.update(portal.url_map.converters)
    for rule in portal.url_map.iter_rules():
        if rule.endpoint != "static":
            floor.add_url_rule(
                rule.rule, endpoint=rule.endpoint, view_func=_stub_view, methods=rule.methods
            )

    @floor.route("/__floor__/<name>")
    def page(name: str) -> Any:
        spec = pages[name]
        g.bench_locale, g.bench_zone = spec.locale, spec.timezone
        context = dict(spec.context)
        if full_layout:
            context["current_user"] = spec.user
        else:
            context.pop("language_form", None)  # only the full layout shows it
        for key, value in context.items():
            if isinstance(value, FormSpec):
                context[key] = value.build()
        return render_template(spec.template, **context), 200

    return floor


def has_role_for(role: str) -> Callable[..., bool]:
    def has_role(*names: Role | str) -> bool:
        return role in {Role(n) for n in names}

    return has_role


_FRAGMENTS = re.compile(
    r"<tbody>.*?</tbody>|<ol class=\"timeline\">.*?</ol>|<p id=\"timeline-more\">.*?</p>"
    r"|<a href=\"[^\"]*after=[^\"]*\">",
    re.S,
)


def fragments(page: str) -> list[str]:
    """The rows of a page: table bodies, the timeline, and the next-page links."""
    return _FRAGMENTS.findall(page)


def count_rows_rendered(page: str) -> int:
    timeline = page.count('class="timeline-entry')
    if timeline:
        return timeline
    bodies = re.findall(r"<tbody>.*?</tbody>", page, re.S)
    # The last table body holds the rows; "No customers match." is a row that is not one.
    return sum(b.count("<tr>") - b.count("<td colspan=") for b in bodies[-1:])


# ---------------------------------------------------------------- timing


def timed_get(client: FlaskClient, url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    response = client.get(url, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    return elapsed


def measure(
    case: Case,
    portal: Flask,
    client: FlaskClient,
    floor_client: FlaskClient,
    layout_client: FlaskClient,
    pages: dict[str, Rendered],
    engine: Engine,
    repeat: int,
    warmup: int,
    headers: dict[str, str],
) -> None:
    for _ in range(warmup):
        timed_get(client, case.url, headers)
    with captured_render(portal) as recorded, captured_sql(engine) as seen:
        response = client.get(case.url, headers=headers)
    if response.status_code != 200 or not recorded:
        raise RuntimeError(f"GET {case.url} answered {response.status_code}")
    portal_page = response.get_data(as_text=True)
    case.bytes = len(response.data)
    case.rows = count_rows_rendered(portal_page)
    case.all_statements = len(seen)
    case.statements = [
        Statement(sql, params)
        for sql, params in seen
        if sql.lstrip().upper().startswith(("SELECT", "WITH"))
    ]
    rendered = recorded[-1]
    rendered.context["has_role"] = has_role_for(rendered.role)
    case.template = rendered.template
    pages[case.name] = rendered
    floor_url = f"/__floor__/{case.name}"
    expected = fragments(portal_page)
    case.same_rows = all(
        fragments(other.get(floor_url).get_data(as_text=True)) == expected
        for other in (floor_client, layout_client)
    )
    for _ in range(warmup):
        timed_get(floor_client, floor_url, {})
        timed_get(layout_client, floor_url, {})
    gc.collect()
    for _ in range(repeat):  # interleaved, so that drift hits all three alike
        case.portal_ms.append(timed_get(client, case.url, headers))
        case.floor_ms.append(timed_get(floor_client, floor_url, {}))
        case.layout_ms.append(timed_get(layout_client, floor_url, {}))


# ---------------------------------------------------------------- EXPLAIN


_SQLITE_SCAN = re.compile(r"^(SCAN|SEARCH) (\S+)(.*)$")
_ALIAS = re.compile(r"\b(\w+) AS (\w+)\b", re.I)


def table_of(name: str, sql: str) -> str:
    aliases = {alias.lower(): table.lower() for table, alias in _ALIAS.findall(sql)}
    return aliases.get(name.lower(), name.lower())


def explain_sqlite(
    statement: Statement,
    connection: Any,
    counts: dict[str, int],
    big_tables: tuple[str, ...] = BIG_TABLES,
) -> None:
    rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement.sql, statement.params).all()
    depth: dict[int, int] = {}
    for node_id, parent, _unused, detail in rows:
        depth[node_id] = depth.get(parent, -1) + 1
        statement.plan.append("  " * depth[node_id] + detail)
    steps = sqlite_steps(statement, connection)
    statement.work = f"{steps:,} VM steps (≈{steps / SQLITE_STEPS_PER_ROW:,.0f} rows visited)"
    details = [r[3] for r in rows]
    sorts = any("USE TEMP B-TREE FOR ORDER BY" in d for d in details)
    has_limit = re.search(r"\bLIMIT\b", statement.sql, re.I) is not None
    for detail in details:
        found = _SQLITE_SCAN.match(detail)
        if not found:
            continue
        verb, name, rest = found.groups()
        table = table_of(name, statement.sql)
        if table not in big_tables:
            continue
        rows_seen = steps / SQLITE_STEPS_PER_ROW
        whole = rows_seen >= WHOLE_TABLE_SHARE * max(counts.get(table, 0), 1)
        constraint = rest[rest.find("(") :] if "(" in rest else ""
        if verb == "SCAN" and "USING" not in rest:
            statement.findings.append(Finding(table, detail, True, "full table scan"))
        elif verb == "SCAN":
            stops = has_limit and not sorts and not whole
            note = (
                "walks an index in order and stops at the LIMIT"
                if stops
                else "walks the whole index"
            )
            statement.findings.append(Finding(table, detail, not stops, note))
        elif whole and "=" not in constraint:
            statement.findings.append(
                Finding(table, detail, True, "index range, but the work is table-sized")
            )
        elif rows_seen >= HEAVY_ROWS:
            statement.findings.append(
                Finding(table, detail, False, f"index lookup visiting ~{rows_seen:,.0f} rows")
            )


def sqlite_steps(statement: Statement, connection: Any) -> int:
    """VM instructions the statement executes: a proxy for the rows it visits."""
    raw = connection.connection.driver_connection
    ticks = [0]

    def tick() -> int:
        ticks[0] += 1
        return 0

    raw.set_progress_handler(tick, SQLITE_TICK)
    try:
        connection.exec_driver_sql(statement.sql, statement.params).all()
    finally:
        raw.set_progress_handler(None, SQLITE_TICK)
    return ticks[0] * SQLITE_TICK


_LIMIT_BLOCKERS = {"Sort", "Hash", "Aggregate", "Materialize", "Hash Join", "Merge Join"}


def explain_postgresql(
    statement: Statement,
    connection: Any,
    counts: dict[str, int],
    analyze: bool,
    big_tables: tuple[str, ...] = BIG_TABLES,
) -> None:
    options = "ANALYZE, BUFFERS, " if analyze else ""
    text_rows = connection.exec_driver_sql(
        f"EXPLAIN ({options}FORMAT TEXT) " + statement.sql, statement.params
    ).all()
    statement.plan = [r[0] for r in text_rows]
    document = connection.exec_driver_sql(
        f"EXPLAIN ({options}FORMAT JSON) " + statement.sql, statement.params
    ).scalar()
    root = document[0]
    if analyze:
        statement.work = f"execution {root.get('Execution Time', 0):.2f} ms (EXPLAIN ANALYZE)"

    def walk(node: dict[str, Any], under_limit: bool) -> None:
        kind = node["Node Type"]
        if kind == "Limit":
            under_limit = True
        elif kind in _LIMIT_BLOCKERS:
            under_limit = False
        table = node.get("Relation Name")
        if table in big_tables:
            size = max(counts.get(table, 0), 1)
            visited = None
            if analyze:
                visited = node.get("Actual Rows", 0) * node.get("Actual Loops", 1) + node.get(
                    "Rows Removed by Filter", 0
                )
            detail = f"{kind} on {table}" + (
                f" using {node['Index Name']}" if node.get("Index Name") else ""
            )
            if visited is not None:
                detail += f" (visited ~{visited:,.0f} rows)"
            whole = visited is not None and visited >= WHOLE_TABLE_SHARE * size
            if kind == "Seq Scan":
                statement.findings.append(Finding(table, detail, True, "full table scan"))
            elif kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node:
                stops = under_limit and not whole
                note = (
                    "walks an index in order and stops at the LIMIT"
                    if stops
                    else "walks the whole index"
                )
                statement.findings.append(Finding(table, detail, not stops, note))
            elif whole:
                statement.findings.append(
                    Finding(table, detail, True, "index range, but visits most of the table")
                )
            elif visited is not None and visited >= HEAVY_ROWS:
                statement.findings.append(
                    Finding(table, detail, False, "index range visiting many rows")
                )
        for child in node.get("Plans", []):
            walk(child, under_limit)

    walk(root["Plan"], False)


def time_statement(statement: Statement, connection: Any, runs: int = 3) -> None:
    best = math.inf
    for _ in range(runs):
        started = time.perf_counter()
        connection.exec_driver_sql(statement.sql, statement.params).all()
        best = min(best, (time.perf_counter() - started) * 1000)
    statement.ms = best


def explain_all(cases: list[Case], engine: Engine, counts: dict[str, int], analyze: bool) -> None:
    dialect = engine.dialect.name
    with engine.connect() as connection:
        for case in cases:
            for statement in case.statements:
                try:
                    time_statement(statement, connection)
                    if dialect == "sqlite":
                        explain_sqlite(statement, connection, counts)
                    elif dialect == "postgresql":
                        explain_postgresql(statement, connection, counts, analyze)
                except Exception as error:  # reported; the run goes on
                    connection.rollback()
                    statement.error = f"{type(error).__name__}: {error}"
            connection.rollback()


# ---------------------------------------------------------------- reporting


def fmt(value: float, digits: int = 1) -> str:
    return "—" if math.isnan(value) else f"{value:.{digits}f}"


def summary_lines(cases: list[Case]) -> list[str]:
    head = (
        f"{'case':<22} {'median':>8} {'p90':>8} {'floor':>8} {'ratio':>6}  {'full-scan':<14} "
        f"{'layout':>7}  result"
    )
    lines = [head, "-" * len(head)]
    for case in cases:
        if case.error:
            lines.append(f"{case.name:<22} error: {case.error}")
            continue
        scan = "yes" if case.full_scan else "no"
        misses = case.misses()
        result = "MISS: " + ", ".join(misses) if misses else "ok"
        lines.append(
            f"{case.name:<22} {fmt(case.median):>8} {fmt(case.p90):>8} {fmt(case.floor):>8} "
            f"{fmt(case.ratio, 2):>6}  full-scan: {scan:<3} {fmt(case.layout_floor):>7}  {result}"
        )
    lines.append(
        "(milliseconds; ratio = portal median / floor median; layout = median of the floor "
        "rendering the portal's full base.html, for diagnosis only)"
    )
    return lines


def flatness(cases: list[Case]) -> dict[str, float] | None:
    by_name = {c.name: c for c in cases}
    typical, long = by_name.get("show_typical"), by_name.get("show_long_history")
    if not typical or not long or typical.error or long.error:
        return None
    return {
        "typical": typical.median,
        "long": long.median,
        "ratio": long.median / typical.median,
        "above_floor_typical": typical.median - typical.floor,
        "above_floor_long": long.median - long.floor,
        "sql_typical": typical.sql_ms,
        "sql_long": long.sql_ms,
    }


def depth_flatness(cases: list[Case]) -> tuple[Case, Case] | None:
    """The long history's second timeline page and one far back, if both were measured."""
    by_name = {c.name: c for c in cases}
    older, deep = by_name.get("timeline_older_long"), by_name.get("timeline_deep_long")
    if not older or not deep or older.error or deep.error:
        return None
    return older, deep


def code_version() -> str:
    """Which portal code was measured: the commit, and a hash of the sources as they were."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted([*root.glob("portal/**/*.py"), *root.glob("templates/**/*.html")]):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "portal", "templates"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.count("\n")
    except OSError:
        commit, dirty = "unknown", 0
    return (
        f"commit {commit or 'unknown'}, {dirty} uncommitted file(s) in portal/ and templates/, "
        f"sources sha256 {digest.hexdigest()[:12]}"
    )


def software_versions(engine: Engine) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            version = "SQLite " + connection.exec_driver_sql("select sqlite_version()").scalar()
        else:
            version = str(connection.exec_driver_sql("select version()").scalar()).split(",")[0]
        connection.rollback()
    return f"Python {platform.python_version()}, {version}"


def markdown_report(
    cases: list[Case],
    fx: Fixtures,
    url: str,
    dialect: str,
    args: argparse.Namespace,
    versions: str,
    code: str,
) -> str:
    out: list[str] = []
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out.append(f"# Customer pages benchmark — {dialect}\n")
    out.append(f"- run: {now}, `{make_url(url).render_as_string(hide_password=True)}`")
    out.append(f"- {versions}; {platform.platform()}; {os.cpu_count()} CPUs")
    out.append(f"- portal code: {code}")
    out.append(
        f"- {args.repeat} timed requests per case after {args.warmup} warm-up requests; "
        "portal and floor requests interleaved"
        + ("; htmx partials (HX-Request: true)" if args.htmx else "; whole pages")
    )
    sizes = ", ".join(f"{table} {n:,}" for table, n in fx.counts.items())
    out.append(f"- rows: {sizes}")
    out.append(
        f"- targets: median < {TARGET_MEDIAN_MS:g} ms, ratio < {TARGET_RATIO:g}× the floor, "
        f"360 page of a 10,000-contact customer ≤ {FLAT_RATIO:g}× a typical one, no full scan\n"
    )
    out.append("## Summary\n")
    out.append(
        "| case | median ms | p90 ms | floor median ms | floor p90 ms | ratio | full scan | "
        "layout floor ms | SQL stmts | SQL ms | rows | result |"
    )
    out.append("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|")
    for case in cases:
        if case.error:
            out.append(f"| {case.name} | | | | | | | | | | | error: {case.error} |")
            continue
        misses = case.misses()
        out.append(
            f"| {case.name} | {fmt(case.median)} | {fmt(case.p90)} | {fmt(case.floor)} | "
            f"{fmt(case.floor_p90)} | {fmt(case.ratio, 2)} | "
            f"{'yes' if case.full_scan else 'no'} | {fmt(case.layout_floor)} | "
            f"{case.all_statements} | "
            f"{fmt(case.sql_ms, 2)} | {case.rows} | "
            f"{'**MISS**: ' + ', '.join(misses) if misses else 'ok'} |"
        )
    out.append("")
    out.append("```text")
    out.extend(summary_lines(cases))
    out.append("```\n")
    flat = flatness(cases)
    out.append("## Timeline flatness\n")
    if flat:
        verdict = "flat" if flat["ratio"] <= FLAT_RATIO else "**NOT flat**"
        out.append(
            f"- 360 page median: typical customer ({fx.typical_contacts} contacts) "
            f"{flat['typical']:.1f} ms, {LONG_HISTORY_CUSTOMER} ({fx.long_contacts:,} contacts) "
            f"{flat['long']:.1f} ms → ratio **{flat['ratio']:.2f}** ({verdict})"
        )
        out.append(
            f"- above the floor (portal − floor median): {flat['above_floor_typical']:.1f} ms vs "
            f"{flat['above_floor_long']:.1f} ms; SQL alone (sum of the statements' best run): "
            f"{flat['sql_typical']:.2f} ms vs {flat['sql_long']:.2f} ms"
        )
        out.append(
            "- the long-history page renders a full page of 20 timeline entries where the "
            "typical one renders all it has, so part of any difference is rendering, which "
            "the floor pays too\n"
        )
    else:
        out.append("- not measured (a 360 case failed)\n")
    pair = depth_flatness(cases)
    if pair:
        older, deep = pair
        ratio = deep.median / older.median
        verdict = "flat" if ratio <= FLAT_RATIO else "**NOT flat**"
        out.append(
            f"- timeline page 2 of {LONG_HISTORY_CUSTOMER} {older.median:.1f} ms, the page "
            f"{fx.deep_entries:,} entries back {deep.median:.1f} ms → ratio **{ratio:.2f}** "
            f"({verdict}); SQL alone {older.sql_ms:.2f} ms vs {deep.sql_ms:.2f} ms\n"
        )
    out.append("## Cases\n")
    for case in cases:
        out.append(f"### {case.name} — {case.title}\n")
        if case.error:
            out.append(f"Error: {case.error}\n")
            continue
        out.append(f"- `GET {case.url}` as {case.who}; template `{case.template}`")
        out.append(
            f"- {case.rows} rows rendered, {case.bytes:,} bytes; floor renders the same rows: "
            f"{'yes' if case.same_rows else '**no**'}"
        )
        out.append(
            f"- portal median {fmt(case.median)} ms, p90 {fmt(case.p90)} ms; floor median "
            f"{fmt(case.floor)} ms, p90 {fmt(case.floor_p90)} ms; ratio {fmt(case.ratio, 2)}; "
            f"floor with the full layout {fmt(case.layout_floor)} ms"
        )
        out.append(
            f"- {case.all_statements} statements sent, {len(case.statements)} SELECTs explained\n"
        )
        for number, statement in enumerate(case.statements, 1):
            out.append(
                f"{number}. best of 3: {fmt(statement.ms or math.nan, 2)} ms"
                + (f"; {statement.work}" if statement.work else "")
            )
            params = repr(statement.params)
            out.append("")
            out.append("   ```sql")
            out.append("   " + " ".join(statement.sql.split()))
            out.append(f"   -- params: {params[:400]}{'…' if len(params) > 400 else ''}")
            out.append("   ```")
            out.append("")
            out.append("   ```text")
            if statement.error:
                out.append(f"   EXPLAIN failed: {statement.error}")
            out.extend("   " + line for line in statement.plan)
            out.append("   ```")
            for finding in statement.findings:
                mark = "**FULL SCAN**" if finding.full else "note"
                out.append(f"   - {mark}: `{finding.detail}` — {finding.note}")
            out.append("")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.customers",
        description="Benchmark customer search, list and 360 pages against a bare-Flask floor.",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="an already seeded database (default: $DATABASE_URL); it is only read",
    )
    parser.add_argument("--repeat", type=int, default=50, help="timed requests per case")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per case first")
    parser.add_argument("--out", type=Path, help="report (default bench/results/customers-<db>.md)")
    parser.add_argument(
        "--allow-small", action="store_true", help="run on fewer than 100,000 customers"
    )
    parser.add_argument(
        "--list-page", type=int, default=5, help="which list page to reach via keyset links"
    )
    parser.add_argument(
        "--htmx", action="store_true", help="ask for htmx partials instead of whole pages"
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="PostgreSQL: plain EXPLAIN instead of EXPLAIN (ANALYZE, BUFFERS)",
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url (or set DATABASE_URL)")
    if args.repeat < 1 or args.warmup < 0 or args.list_page < 2:
        parser.error("--repeat ≥ 1, --warmup ≥ 0 and --list-page ≥ 2, please")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    code = code_version()  # the modules were imported just now: this is the code measured
    portal = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": args.database_url,
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "LOG_LEVEL": "WARNING",
        }
    )
    with portal.app_context():
        engine = db.engine
    dialect = engine.dialect.name
    fx = pick_fixtures(portal, args.allow_small)
    clients = {
        "admin": signed_in_client(portal, fx.admin_id),
        "rm": signed_in_client(portal, fx.rm_id),
    }
    cases = build_cases(fx, clients, args.list_page)
    pages: dict[str, Rendered] = {}
    floor_client = build_floor(portal, pages).test_client()
    layout_client = build_floor(portal, pages, full_layout=True).test_client()
    headers = {"HX-Request": "true"} if args.htmx else {}
    print(f"bench: {dialect}, {fx.counts['customers']:,} customers, {args.repeat} runs per case")
    for case in cases:
        if case.error:
            print(f"  {case.name}: skipped ({case.error})", flush=True)
            continue
        try:
            case_headers = headers if case.name.startswith(("search", "list", "rm_")) else {}
            measure(
                case,
                portal,
                clients[case.who],
                floor_client,
                layout_client,
                pages,
                engine,
                args.repeat,
                args.warmup,
                case_headers,
            )
            print(f"  {case.name}: {case.median:.1f} ms (floor {case.floor:.1f})", flush=True)
        except Exception as error:  # one broken case must not hide the rest
            case.error = f"{type(error).__name__}: {error}"
            print(f"  {case.name}: error {case.error}", flush=True)
    explain_all(cases, engine, fx.counts, analyze=not args.no_analyze)
    report = markdown_report(
        cases, fx, args.database_url, dialect, args, software_versions(engine), code
    )
    out = args.out or RESULTS / f"customers-{dialect}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report, encoding="utf-8")
    print()
    print("\n".join(summary_lines(cases)))
    flat = flatness(cases)
    if flat:
        print(
            f"timeline: typical {flat['typical']:.1f} ms, long history {flat['long']:.1f} ms, "
            f"ratio {flat['ratio']:.2f} ({'flat' if flat['ratio'] <= FLAT_RATIO else 'NOT flat'})"
        )
    pair = depth_flatness(cases)
    if pair:
        older, deep = pair
        ratio = deep.median / older.median
        print(
            f"timeline depth: page 2 {older.median:.1f} ms, {fx.deep_entries:,} entries back "
            f"{deep.median:.1f} ms, ratio {ratio:.2f} "
            f"({'flat' if ratio <= FLAT_RATIO else 'NOT flat'}); "
            f"SQL {older.sql_ms:.2f} ms vs {deep.sql_ms:.2f} ms"
        )
    print(f"report: {out}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
