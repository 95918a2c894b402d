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
import re
import sys
import time
from urllib.parse import urlencode

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bench.common import (
    ADMIN_EMAIL,
    RESULTS,
    RM_EMAIL,
    TARGET_MEDIAN_MS,
    TARGET_RATIO,
    Case,
    Rendered,
    add_analyze_argument,
    add_run_arguments,
    build_floor,
    captured_render,
    captured_sql,
    check_run_arguments,
    code_version,
    count_rows,
    demo_user,
    explain_all,
    fmt,
    follow,
    has_role_for,
    interleave,
    portal_app,
    renders_same_rows,
    report_head,
    run_cases,
    selects,
    signed_in_client,
    software_versions,
    statement_lines,
    write_text,
)
from portal.core.extensions import db
from portal.core.search import is_cjk
from portal.customers.models import Customer, Interaction
from portal.customers.timeline import Cursor

try:  # the demo module may be mid-edit; the number is part of the seed's contract
    from portal.demo.customers import LONG_HISTORY_CUSTOMER
except ImportError:  # pragma: no cover
    LONG_HISTORY_CUSTOMER = "C99999999"

MIN_CUSTOMERS = 100_000
BIG_TABLES = (
    "customers",
    "interactions",
    "follow_ups",
    "customer_search_terms",
    "credit_accounts",
    "audit_events",
)
FLAT_RATIO = 1.5  # the long-history 360 page may cost at most this much more than a typical one
DEEP_ENTRIES = 9_000  # how far back in the long history the deep timeline page starts


# ---------------------------------------------------------------- the portal side


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


def pick_fixtures(app: Flask, allow_small: bool) -> Fixtures:
    """Real values to search for, and the customers whose 360 pages are measured."""
    with app.app_context():
        counts = count_rows(db.engine, BIG_TABLES)
        if counts["customers"] < MIN_CUSTOMERS and not allow_small:
            raise SystemExit(
                f"bench: the database holds {counts['customers']:,} customers, fewer than "
                f"{MIN_CUSTOMERS:,}. Seed the large dataset first (flask db upgrade && "
                "flask demo seed --scale large) or pass --allow-small to try the bench anyway."
            )
        admin_id, rm_id = demo_user(ADMIN_EMAIL).get_id(), demo_user(RM_EMAIL).get_id()
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


_NEXT_LINK = re.compile(r'<a (?:[a-z]+="[^"]*" )*href="([^"]*[?&](?:amp;)?after=[^"]*)"')
_OLDER_LINK = re.compile(r'<a href="([^"]*[?&](?:amp;)?before=[^"]*)"')


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


# ---------------------------------------------------------------- the rows of a page


_FRAGMENTS = re.compile(
    r"<tbody>.*?</tbody>|<ol class=\"timeline\">.*?</ol>|<p id=\"timeline-more\">.*?</p>"
    r"|<a (?:[a-z]+=\"[^\"]*\" )*href=\"[^\"]*after=[^\"]*\">",
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
    case.statements = selects(seen)
    rendered = recorded[-1]
    rendered.context["has_role"] = has_role_for(rendered.role)
    case.template = rendered.template
    pages[case.name] = rendered
    floor_url = f"/__floor__/{case.name}"
    expected = fragments(portal_page)
    case.same_rows = renders_same_rows(
        expected, floor_url, (floor_client, layout_client), fragments
    )
    for _ in range(warmup):
        timed_get(floor_client, floor_url, {})
        timed_get(layout_client, floor_url, {})
    interleave(
        case,
        repeat,
        lambda: timed_get(client, case.url, headers),
        lambda: timed_get(floor_client, floor_url, {}),
        lambda: timed_get(layout_client, floor_url, {}),
    )


# ---------------------------------------------------------------- reporting


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


def markdown_report(
    cases: list[Case],
    fx: Fixtures,
    url: str,
    dialect: str,
    args: argparse.Namespace,
    versions: str,
    code: str,
) -> str:
    out = report_head(f"Customer pages benchmark — {dialect}", url, versions, code)
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
        out.extend(statement_lines(case))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.customers",
        description="Benchmark customer search, list and 360 pages against a bare-Flask floor.",
    )
    add_run_arguments(
        parser,
        "an already seeded database (default: $DATABASE_URL); it is only read",
        "report (default bench/results/customers-<db>.md)",
    )
    parser.add_argument(
        "--allow-small", action="store_true", help="run on fewer than 100,000 customers"
    )
    parser.add_argument(
        "--list-page", type=int, default=5, help="which list page to reach via keyset links"
    )
    parser.add_argument(
        "--htmx", action="store_true", help="ask for htmx partials instead of whole pages"
    )
    add_analyze_argument(parser)
    args = parser.parse_args(argv)
    check_run_arguments(parser, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    code = code_version()  # the modules were imported just now: this is the code measured
    portal = portal_app(args.database_url)
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
    run_cases(
        cases,
        lambda case: measure(
            case,
            portal,
            clients[case.who],
            floor_client,
            layout_client,
            pages,
            engine,
            args.repeat,
            args.warmup,
            headers if case.name.startswith(("search", "list", "rm_")) else {},
        ),
        lambda case: f"{case.median:.1f} ms (floor {case.floor:.1f})",
    )
    explain_all(cases, engine, fx.counts, not args.no_analyze, BIG_TABLES)
    report = markdown_report(
        cases, fx, args.database_url, dialect, args, software_versions(engine), code
    )
    out = args.out or RESULTS / f"customers-{dialect}.md"
    write_text(out, report)
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
