"""What the benchmarks share: paths, the measured code's version, report files, and for the
page benchmarks (bench.customers, bench.tickets) the cases, the signed-in clients, the capture
of what a request rendered and ran, the bare-Flask floor, EXPLAIN and the report's pieces.

See bench/README.md for what the numbers mean.
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
import time
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, g, render_template, template_rendered
from flask.testing import FlaskClient
from flask_babel import Babel, get_locale, get_timezone
from flask_wtf import CSRFProtect, FlaskForm
from jinja2 import ChoiceLoader, DictLoader, FileSystemLoader
from sqlalchemy import event, inspect, select
from sqlalchemy.engine import Engine, make_url

from portal import create_app
from portal.accounts.models import User
from portal.core.access import Role, role_label
from portal.core.extensions import db

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
ADMIN_EMAIL = "admin@demo.example.com"
RM_EMAIL = "rm@demo.example.com"
# The customers room's targets; bench.tickets applies them as a yardstick.
TARGET_MEDIAN_MS = 50.0
TARGET_RATIO = 3.0
WHOLE_TABLE_SHARE = 0.5  # work of at least this share of a big table's rows counts as a full scan
HEAVY_ROWS = 10_000  # rows visited by one scan (PostgreSQL) worth a note in the report
SQLITE_TICK = 100  # VM instructions per progress-handler call
SQLITE_STEPS_PER_ROW = 5  # VM instructions per row a filtered scan visits (measured, roughly)


# ---------------------------------------------------------------- every benchmark


def psycopg_url(url: str) -> str:
    """A `postgresql://` URL with the psycopg (3) driver named; any other URL as it is."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def git(*args: str) -> str | None:
    """The output of a git command in the project; None when git cannot run."""
    try:
        return subprocess.run(
            ["git", *args],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    except OSError:
        return None


def write_text(path: Path, text: str) -> None:
    """Write a report, making its folder first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


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


def portal_app(database_url: str) -> Flask:
    """The portal as the page benchmarks run it: no rate limit, quiet logs."""
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "LOG_LEVEL": "WARNING",
        }
    )


def signed_in_client(app: Flask, user_id: str) -> FlaskClient:
    """A test client holding a session for the user, set up as the tests do (no DB write)."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user_id
        session["_fresh"] = True
        session["signed_in_at"] = time.time()
    return client


def demo_user(email: str) -> User:
    """A demo user (inside an app context); the run stops when the demo data is not seeded."""
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        raise SystemExit(f"bench: no user {email}; seed the demo data (flask demo seed) first.")
    return user


def count_rows(engine: Engine, tables: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        for table in tables:
            try:
                counts[table] = int(
                    connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0
                )
            except Exception:  # a room not migrated yet has no rows
                connection.rollback()
                counts[table] = 0
        connection.rollback()
    return counts


def follow(client: FlaskClient, url: str, pattern: re.Pattern[str]) -> str | None:
    """The first link on the page at `url` that `pattern` finds (its group 1), unescaped."""
    response = client.get(url)
    if response.status_code != 200:
        return None
    found = pattern.search(response.get_data(as_text=True))
    return html.unescape(found.group(1)) if found else None


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
    # what the rooms give every template (labels, masks), as the portal's init_app set it
    floor.jinja_env.globals.update(
        {k: v for k, v in portal.jinja_env.globals.items() if k not in floor.jinja_env.globals}
    )
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


def selects(seen: list[tuple[str, Any]]) -> list[Statement]:
    """The SELECTs among the captured statements, to be timed and explained."""
    return [
        Statement(sql, params)
        for sql, params in seen
        if sql.lstrip().upper().startswith(("SELECT", "WITH"))
    ]


def renders_same_rows(
    expected: list[str],
    floor_url: str,
    clients: Iterable[FlaskClient],
    fragments: Callable[[str], list[str]],
) -> bool:
    """Whether each floor's page has the same rows (`fragments`) as the portal's."""
    return all(
        fragments(client.get(floor_url).get_data(as_text=True)) == expected for client in clients
    )


def interleave(
    case: Case,
    repeat: int,
    portal: Callable[[], float],
    floor: Callable[[], float],
    layout: Callable[[], float],
) -> None:
    """The timed runs, portal, floor and layout floor in turn, so that drift hits all alike."""
    gc.collect()
    for _ in range(repeat):
        case.portal_ms.append(portal())
        case.floor_ms.append(floor())
        case.layout_ms.append(layout())


def run_cases(
    cases: Iterable[Case], measure: Callable[[Case], None], done: Callable[[Case], str]
) -> None:
    """Measure each case and print a line; one broken case must not hide the rest."""
    for case in cases:
        if case.error:
            print(f"  {case.name}: skipped ({case.error})", flush=True)
            continue
        try:
            measure(case)
            print(f"  {case.name}: {done(case)}", flush=True)
        except Exception as error:
            case.error = f"{type(error).__name__}: {error}"
            print(f"  {case.name}: error {case.error}", flush=True)


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
    big_tables: tuple[str, ...],
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
    big_tables: tuple[str, ...],
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


def explain_all(
    cases: Iterable[Case],
    engine: Engine,
    counts: dict[str, int],
    analyze: bool,
    big_tables: tuple[str, ...],
) -> None:
    dialect = engine.dialect.name
    with engine.connect() as connection:
        for case in cases:
            for statement in case.statements:
                try:
                    time_statement(statement, connection)
                    if dialect == "sqlite":
                        explain_sqlite(statement, connection, counts, big_tables)
                    elif dialect == "postgresql":
                        explain_postgresql(statement, connection, counts, analyze, big_tables)
                except Exception as error:  # reported; the run goes on
                    connection.rollback()
                    statement.error = f"{type(error).__name__}: {error}"
            connection.rollback()


# ---------------------------------------------------------------- reporting


def fmt(value: float, digits: int = 1) -> str:
    return "—" if math.isnan(value) else f"{value:.{digits}f}"


def code_version() -> str:
    """Which portal code was measured: the commit, and a hash of the sources as they were."""
    digest = hashlib.sha256()
    for path in sorted(
        [*PROJECT_ROOT.glob("portal/**/*.py"), *PROJECT_ROOT.glob("templates/**/*.html")]
    ):
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
        digest.update(path.read_bytes())
    commit = git("rev-parse", "--short", "HEAD")
    status = git("status", "--porcelain", "--", "portal", "templates")
    if commit is None or status is None:
        commit, dirty = "unknown", 0
    else:
        commit, dirty = commit.strip(), status.count("\n")
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


def report_head(title: str, url: str, versions: str, code: str) -> list[str]:
    """The report's title and its first lines: when, where, on what, which code."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"# {title}\n",
        f"- run: {now}, `{make_url(url).render_as_string(hide_password=True)}`",
        f"- {versions}; {platform.platform()}; {os.cpu_count()} CPUs",
        f"- portal code: {code}",
    ]


def statement_lines(case: Case) -> list[str]:
    """A case's statements in the report: each SELECT with its time, parameters and plan."""
    out = [f"- {case.all_statements} statements sent, {len(case.statements)} SELECTs explained\n"]
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
    return out


# ---------------------------------------------------------------- the command line


def add_run_arguments(parser: argparse.ArgumentParser, database_help: str, out_help: str) -> None:
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL"), help=database_help
    )
    parser.add_argument("--repeat", type=int, default=50, help="timed requests per case")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per case first")
    parser.add_argument("--out", type=Path, help=out_help)


def add_analyze_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="PostgreSQL: plain EXPLAIN instead of EXPLAIN (ANALYZE, BUFFERS)",
    )


def check_run_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not args.database_url:
        parser.error("give --database-url (or set DATABASE_URL)")
    if args.repeat < 1 or args.warmup < 0 or args.list_page < 2:
        parser.error("--repeat ≥ 1, --warmup ≥ 0 and --list-page ≥ 2, please")
