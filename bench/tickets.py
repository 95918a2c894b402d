"""The tickets queue, the ticket page and intake: server time, a floor, Flask-Admin, and plans.

    python -m bench.tickets --database-url sqlite:////tmp/large.sqlite3 [--repeat 50]

Modelled on bench/customers.py, with the capture, floor and EXPLAIN helpers of bench/common.py.
For every case it reports the median and p90 wall time of the request on Flask's test client
in-process, the same for a bare Flask app rendering the same page templates from rows held in
memory (the floor), their ratio, and the EXPLAIN output of every SELECT the portal ran for one
request, flagging plans that scan a whole big table. Flask-Admin's list view of the same Ticket
model, mounted on the portal app (same sign-in and hooks), is measured in the same run for
comparison. The intake cases write tickets; they are deleted at the end and the reference
counter is put back. See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import math
import re
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from flask import Flask, g, redirect
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from werkzeug.datastructures import MultiDict

from bench.common import (
    ADMIN_EMAIL,
    RESULTS,
    RM_EMAIL,
    TARGET_MEDIAN_MS,
    TARGET_RATIO,
    Case,
    FormSpec,
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
from portal.core.access import Role, Rule
from portal.core.extensions import db
from portal.customers.models import CreditAccount, Customer
from portal.tickets.models import (
    Notification,
    ReferenceCounter,
    Status,
    Team,
    Ticket,
    TicketEvent,
)

HANDLER_EMAIL = "handler@demo.example.com"
MIN_TICKETS = 300_000
BIG_TABLES = ("tickets", "ticket_events", "customers", "credit_accounts", "notifications")
PAGE_SIZE = 50
ADMIN_URL = "/bench-admin"
ADMIN_ENDPOINT = "bench_admin"


# ---------------------------------------------------------------- cases


@dataclasses.dataclass
class TicketCase(Case):
    method: str = "GET"
    form: dict[str, str] | None = None  # POST fields (intake)
    floor_of: str | None = None  # Flask-Admin: the portal case whose floor it is compared with
    created: list[int] = dataclasses.field(default_factory=list)  # ticket ids a POST made
    twin: TicketCase | None = None  # Flask-Admin: the portal case, measured alongside
    twin_ms: list[float] = dataclasses.field(default_factory=list)

    @property
    def twin_median(self) -> float:
        return statistics.median(self.twin_ms) if self.twin_ms else math.nan

    @property
    def is_admin(self) -> bool:
        return self.name.startswith("admin_")


@dataclasses.dataclass
class Fixtures:
    admin_id: str
    handler_id: str
    rm_id: str
    handler_user: int
    counts: dict[str, int]
    open_tickets: int
    busy_handler: int
    team_id: int
    team_name: str
    show_open: int
    show_closed: int
    customer_id: int
    account_id: int | None
    today: str
    month_ago: str
    year_ago: str
    search_number: str  # the customer of show_open: their number, a word of their name, email
    search_name: str
    search_email: str


def _session_id(email: str) -> tuple[str, int]:
    user = demo_user(email)
    return user.get_id(), user.id


def pick_fixtures(app: Flask, allow_small: bool) -> Fixtures:
    """Real values for the filters, and the tickets and customer the cases use."""
    with app.app_context():
        counts = count_rows(db.engine, BIG_TABLES)
        if counts["tickets"] < MIN_TICKETS and not allow_small:
            raise SystemExit(
                f"bench: the database holds {counts['tickets']:,} tickets, fewer than "
                f"{MIN_TICKETS:,}. Seed the large dataset first (flask demo seed --scale large, "
                "or --only tickets on a database seeded before tickets existed) or pass "
                "--allow-small."
            )
        admin_id, _admin = _session_id(ADMIN_EMAIL)
        handler_id, handler_user = _session_id(HANDLER_EMAIL)
        rm_id, _rm = _session_id(RM_EMAIL)
        open_tickets = db.session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.is_open.is_(True))
        )
        busy = db.session.execute(
            select(Ticket.assignee_id, func.count())
            .where(Ticket.is_open.is_(True), Ticket.assignee_id.is_not(None))
            .group_by(Ticket.assignee_id)
            .order_by(func.count().desc(), Ticket.assignee_id)
            .limit(1)
        ).first()
        team = db.session.execute(
            select(Team.id, Team.name)
            .join(Ticket, Ticket.team_id == Team.id)
            .where(Ticket.is_open.is_(True))
            .group_by(Team.id, Team.name)
            .order_by(func.count().desc(), Team.id)
            .limit(1)
        ).first()
        low, high = db.session.execute(select(func.min(Ticket.id), func.max(Ticket.id))).one()
        if low is None or busy is None or team is None:
            raise SystemExit("bench: the database holds no open tickets.")
        middle = (low + high) // 2
        show_open = db.session.scalar(
            select(Ticket.id)
            .where(Ticket.is_open.is_(True), Ticket.customer_id.is_not(None))
            .order_by(Ticket.id)
            .limit(1)
        )
        show_closed = db.session.scalar(
            select(Ticket.id)
            .where(Ticket.id >= middle, Ticket.status == Status.CLOSED.value)
            .where(Ticket.customer_id.is_not(None))
            .order_by(Ticket.id)
            .limit(1)
        )
        low_c, high_c = db.session.execute(
            select(func.min(Customer.id), func.max(Customer.id))
        ).one()
        customer_id = db.session.scalar(
            select(Customer.id)
            .where(Customer.id >= ((low_c or 0) + (high_c or 0)) // 2, Customer.erased_at.is_(None))
            .order_by(Customer.id)
            .limit(1)
        )
        account_id = db.session.scalar(
            select(CreditAccount.id).where(CreditAccount.customer_id == customer_id).limit(1)
        )
        searched = db.session.execute(
            select(Customer.number, Customer.name, Customer.email)
            .join(Ticket, Ticket.customer_id == Customer.id)
            .where(Ticket.id == show_open)
        ).first()
        zone = ZoneInfo(app.config["DEFAULT_TIMEZONE"])
        today = datetime.now(UTC).astimezone(zone).date()
        db.session.rollback()
        return Fixtures(
            admin_id=admin_id,
            handler_id=handler_id,
            rm_id=rm_id,
            handler_user=handler_user,
            counts=counts,
            open_tickets=int(open_tickets or 0),
            busy_handler=busy[0],
            team_id=team[0],
            team_name=team[1],
            show_open=int(show_open or low),
            show_closed=int(show_closed or high),
            customer_id=int(customer_id or 0),
            account_id=account_id,
            today=today.isoformat(),
            month_ago=(today - timedelta(days=30)).isoformat(),
            year_ago=(today - timedelta(days=365)).isoformat(),
            search_number=searched.number if searched else "",
            search_name=name_fragment(searched.name) if searched else "",
            search_email=(searched.email or "") if searched else "",
        )


def name_fragment(name: str) -> str:
    """What a handler types of a name: two characters from inside a Chinese name, else the
    first four letters of its last word."""
    if name and all(ord(ch) > 0x2E80 for ch in name):
        return name[-2:]
    return (name.split() or [""])[-1][:4]


def queue_url(**params: str) -> str:
    return "/tickets" + ("?" + urlencode(params) if params else "")


_NEXT_LINK = re.compile(r'<a id="next-page" rel="next" href="([^"]*)"')


def next_link(client: FlaskClient, url: str) -> str | None:
    return follow(client, url, _NEXT_LINK)


def build_cases(
    fx: Fixtures, client: FlaskClient, list_page: int, admin_filters: dict[str, str]
) -> list[TicketCase]:
    def case(name: str, title: str, url: str, **kwargs: Any) -> TicketCase:
        return TicketCase(name, title, "handler", url, **kwargs)

    cases = [case("queue_open", "queue: open tickets by due date (no filter)", queue_url())]
    for status in ("all", *(s.value for s in Status)):
        cases.append(
            case(f"queue_status_{status}", f"queue: status={status}", queue_url(status=status))
        )
    cases += [
        case(
            "queue_assignee_me", "queue: assignee=me (the demo handler)", queue_url(assignee="me")
        ),
        case(
            "queue_assignee_busy",
            f"queue: assignee={fx.busy_handler} (the busiest handler)",
            queue_url(assignee=str(fx.busy_handler)),
        ),
        case("queue_assignee_none", "queue: unassigned", queue_url(assignee="none")),
        case(
            "queue_team",
            f"queue: team={fx.team_id} ({fx.team_name})",
            queue_url(team=str(fx.team_id)),
        ),
        case("queue_channel", "queue: channel=A0303 (mobile app)", queue_url(channel="A0303")),
        case("queue_business", "queue: business=B0302 (credit cards)", queue_url(business="B0302")),
        case("queue_cause", "queue: cause=C08 (collection conduct)", queue_url(cause="C08")),
        case("queue_severity_critical", "queue: severity=critical", queue_url(severity="critical")),
        case("queue_severity_medium", "queue: severity=medium", queue_url(severity="medium")),
        case("queue_due_within", "queue: due within 3 days", queue_url(due_within="3")),
        case("queue_breached", "queue: breached", queue_url(breached="1")),
        case(
            "queue_received_from",
            f"queue: received from {fx.month_ago}",
            queue_url(received_from=fx.month_ago),
        ),
        case(
            "queue_received_to",
            f"queue: received up to {fx.year_ago} (the old backlog)",
            queue_url(received_to=fx.year_ago),
        ),
        case(
            "queue_search_number",
            f"queue: search by customer number {fx.search_number}",
            queue_url(q=fx.search_number),
        ),
        case(
            "queue_search_name",
            f"queue: search by part of a customer's name ({fx.search_name})",
            queue_url(q=fx.search_name),
        ),
        case(
            "queue_search_email",
            "queue: search by a customer's email address",
            queue_url(q=fx.search_email),
        ),
        case(
            "queue_search_broad",
            "queue: search by the commonest surname (王), every status: the customer cap",
            queue_url(q="王", status="all"),
        ),
        case("queue_kind", "queue: kind=compliment", queue_url(kind="compliment")),
        case(
            "queue_sort_received",
            "queue: open tickets, oldest received first",
            queue_url(sort="received"),
        ),
        case(
            "queue_all_received",
            "queue: any status, sort=received (a history search)",
            queue_url(status="all", sort="received"),
        ),
    ]
    url: str | None = queue_url()
    for page in range(2, list_page + 1):
        url = next_link(client, url) if url else None
        if page == 2 or page == list_page:
            cases.append(
                case(f"queue_page{page}", f"queue, page {page} via the keyset link", url or "")
            )
    url = next_link(client, queue_url(status="all"))
    cases.append(
        case("queue_all_page2", "queue: any status, page 2 via the keyset link", url or "")
    )
    cases += [
        TicketCase(
            "queue_rm", "queue as the demo RM: their own customers' tickets", "rm", "/tickets"
        ),
        case(
            "queue_counts", "the queue's counts (loaded by htmx after the page)", "/tickets/counts"
        ),
        case("show_open", f"ticket page, open ticket {fx.show_open}", f"/tickets/{fx.show_open}"),
        case(
            "show_closed",
            f"ticket page, closed ticket {fx.show_closed}",
            f"/tickets/{fx.show_closed}",
        ),
    ]
    intake = {
        "kind": "complaint",
        "subject": "Annual fee charged twice (bench)",
        "channel_code": "A0302",
        "business_code": "B0302",
        "cause_code": "C07",
        "severity": "medium",
        "request": "Refund the second charge",
        "description": "The customer called: the annual fee was taken twice this month.",
        "assignee_id": str(fx.handler_user),
        "team_id": str(fx.team_id),
    }
    cases.append(
        case(
            "create",
            "intake: POST /tickets/new, no customer",
            "/tickets/new",
            method="POST",
            form=dict(intake),
        )
    )
    with_customer = dict(intake, customer_id=str(fx.customer_id))
    if fx.account_id is not None:
        with_customer["account_id"] = str(fx.account_id)
    cases.append(
        case(
            "create_customer",
            f"intake: POST /tickets/new for customer {fx.customer_id} and one of their accounts",
            f"/tickets/new?customer_id={fx.customer_id}",
            method="POST",
            form=with_customer,
        )
    )
    admin = f"{ADMIN_URL}/tickets/"
    cases += [
        case(
            "admin_all",
            "Flask-Admin list: every ticket by due date",
            admin,
            floor_of="queue_status_all",
        ),
        case(
            "admin_open",
            "Flask-Admin list: filter is_open = yes",
            admin + f"?flt0_{admin_filters.get('is_open')}=1",
            floor_of="queue_open",
        ),
        case(
            "admin_status",
            "Flask-Admin list: filter status = in_progress",
            admin + f"?flt0_{admin_filters.get('status')}=in_progress",
            floor_of="queue_status_in_progress",
        ),
        case(
            "admin_page2",
            "Flask-Admin list: every ticket, page 2 (OFFSET 50)",
            admin + "?page=1",
            floor_of="queue_all_page2",
        ),
        case(
            "admin_page_deep",
            "Flask-Admin list: every ticket, page 2,001 (OFFSET 100,000)",
            admin + "?page=2000",
            floor_of="queue_all_page2",
        ),
    ]
    by_name = {each.name: each for each in cases}
    for each in cases:
        if not each.url:
            each.error = "no URL (the link to follow was missing)"
        if each.floor_of:
            each.twin = by_name.get(each.floor_of)
    return cases


# ---------------------------------------------------------------- Flask-Admin


def mount_flask_admin(portal: Flask) -> dict[str, str]:
    """Flask-Admin's ModelView of Ticket on the portal app: 50 a page, by due date, with the
    filters the comparison needs (is_open, status). Handlers and admins may open it, through
    the portal's own access check. Returns the URL argument of each column's "equals"
    filter (`flt0_<argument>=value`)."""
    from flask_admin import Admin
    from flask_admin.contrib.sqla import ModelView

    class TicketAdmin(ModelView):
        page_size = PAGE_SIZE
        can_set_page_size = False
        can_create = can_edit = can_delete = False
        column_list = (
            "reference",
            "subject",
            "status",
            "severity",
            "cause_code",
            "received_at",
            "due_at",
        )
        column_default_sort = ("due_at", False)
        column_filters = ("is_open", "status")
        form_columns = ("subject",)

    admin = Admin(portal, name="bench", url=ADMIN_URL, endpoint=ADMIN_ENDPOINT)
    view = TicketAdmin(
        Ticket, db, name="Tickets", endpoint=f"{ADMIN_ENDPOINT}_tickets", url="tickets"
    )
    admin.add_view(view)
    rule = Rule(roles=frozenset({Role.ADMIN, Role.HANDLER, Role.LEAD}))
    for endpoint, function in list(portal.view_functions.items()):
        if endpoint.startswith(ADMIN_ENDPOINT):
            portal.view_functions[endpoint] = _with_rule(function, rule)
    with portal.app_context():
        return {
            flt.column.key: argument
            for argument, (_index, flt) in view._filter_args.items()
            if type(flt).__name__ in ("BooleanEqualFilter", "FilterEqual")
        }


def _with_rule(view: Any, rule: Rule) -> Any:
    """The view (a bound method: it takes no attributes) with the portal's access rule."""

    def guarded(*args: Any, **kwargs: Any) -> Any:
        return view(*args, **kwargs)

    guarded.access_rule = rule  # type: ignore[attr-defined]  (the portal refuses views without)
    return guarded


# ---------------------------------------------------------------- capture and the floor


@dataclasses.dataclass
class ChoiceFormSpec(FormSpec):
    """A form with the choices the view gave its select fields (the queue's and the ticket
    page's forms fill them from the database)."""

    choices: dict[str, Any] = dataclasses.field(default_factory=dict)

    def build(self) -> FlaskForm:
        form = super().build()
        for name, choices in self.choices.items():
            form[name].choices = choices
        return form


def keep_choices(rendered: Rendered, forms: dict[str, FlaskForm]) -> None:
    for key, form in forms.items():
        spec = rendered.context.get(key)
        if isinstance(spec, FormSpec):
            rendered.context[key] = ChoiceFormSpec(
                spec.form_class,
                spec.data,
                {
                    name: list(field.choices)
                    for name, field in form._fields.items()
                    if getattr(field, "choices", None) is not None and not callable(field.choices)
                },
            )


class _FormWatch:
    """The forms each render was given, before `plain` drops their choices."""

    def __init__(self, app: Flask) -> None:
        from flask import template_rendered

        self.forms: list[dict[str, FlaskForm]] = []
        self.signal = template_rendered
        self.app = app

    def __enter__(self) -> _FormWatch:
        self.signal.connect(self.record, self.app)
        return self

    def __exit__(self, *exc: object) -> None:
        self.signal.disconnect(self.record, self.app)

    def record(self, sender: Flask, template: Any, context: dict[str, Any], **extra: Any) -> None:
        self.forms.append({k: v for k, v in context.items() if isinstance(v, FlaskForm)})


_FRAGMENTS = re.compile(
    r"<tbody>.*?</tbody>|<ol class=\"timeline[^\"]*\">.*?</ol>|<a id=\"next-page\"[^>]*>"
    r"|<section class=\"clocks[^\"]*\".*?</section>",
    re.S,
)


def fragments(page: str) -> list[str]:
    """What the rows are: the queue's table body and next link, the ticket's clocks and
    timelines."""
    return _FRAGMENTS.findall(page)


def count_rows_rendered(page: str) -> int:
    """Timeline entries on a ticket page, table rows on a list (the queue's or Flask-Admin's)."""
    entries = page.count('class="timeline-entry') or page.count('<td class="col-reference">')
    if entries:
        return entries
    bodies = re.findall(r"<tbody>.*?</tbody>", page, re.S)
    return sum(len(re.findall(r"<tr[ >]", b)) - b.count("<td colspan=") for b in bodies[-1:])


def add_intake_floor(floor: Flask, specs: dict[str, Rendered]) -> None:
    """The floor of intake: the same form, validated with the same choices, then a 303."""

    @floor.route("/__floor__/create/<name>", methods=["POST"])
    def create(name: str) -> Any:
        rendered = specs[name]
        g.bench_locale, g.bench_zone = rendered.locale, rendered.timezone
        spec = rendered.context["form"]
        form = spec.form_class()
        for field, choices in spec.choices.items():
            form[field].choices = choices
        if not form.validate():
            return f"invalid: {form.errors}", 400
        return redirect("/tickets/1", code=303)


def csrf_token(client: FlaskClient) -> str:
    """A CSRF token for the client's session, as tests/conftest.py's PortalClient makes one."""
    with client.session_transaction() as session:
        raw = session.setdefault("csrf_token", secrets.token_hex(20))
    serializer = URLSafeTimedSerializer(client.application.secret_key, salt="wtf-csrf-token")
    return serializer.dumps(raw)


# ---------------------------------------------------------------- timing


def timed(client: FlaskClient, case: TicketCase, url: str, token: str | None = None) -> float:
    started = time.perf_counter()
    if case.method == "POST":
        response = client.post(url, data=MultiDict({**(case.form or {}), "csrf_token": token}))
    else:
        response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    expected = 303 if case.method == "POST" else 200
    if response.status_code != expected:
        body = response.get_data(as_text=True)
        problem = re.search(r'role="alert"[^>]*>([^<]*)', body)
        raise RuntimeError(
            f"{case.method} {url} answered {response.status_code}"
            + (f": {problem.group(1).strip()}" if problem else "")
        )
    if case.method == "POST" and not url.startswith("/__floor__"):  # to delete afterwards
        location = urlsplit(response.headers.get("Location", "")).path
        found = re.search(r"/tickets/(\d+)$", location)
        if found:
            case.created.append(int(found.group(1)))
    return elapsed


def measure(
    case: TicketCase,
    portal: Flask,
    client: FlaskClient,
    floor_client: FlaskClient,
    layout_client: FlaskClient,
    pages: dict[str, Rendered],
    specs: dict[str, Rendered],
    engine: Engine,
    repeat: int,
    warmup: int,
) -> None:
    token = csrf_token(client) if case.method == "POST" else None
    for _ in range(warmup):
        timed(client, case, case.url, token)
    if case.method == "POST":
        # What the floor validates: the intake form as the portal built it for this customer.
        with captured_render(portal) as recorded, _FormWatch(portal) as watch:
            client.get(case.url)
        rendered = recorded[-1]
        keep_choices(rendered, watch.forms[-1])
        specs[case.name] = rendered
        with captured_sql(engine) as seen:
            timed(client, case, case.url, token)
        case.template = "(POST, 303)"
    else:
        with (
            captured_render(portal) as recorded,
            _FormWatch(portal) as watch,
            captured_sql(engine) as seen,
        ):
            response = client.get(case.url)
        if response.status_code != 200 or not recorded:
            raise RuntimeError(f"GET {case.url} answered {response.status_code}")
        page = response.get_data(as_text=True)
        case.bytes = len(response.data)
        case.rows = count_rows_rendered(page)
        rendered = recorded[-1]
        case.template = rendered.template
    case.all_statements = len(seen)
    case.statements = selects(seen)
    if case.is_admin:
        measure_admin(case, client, floor_client, layout_client, pages, repeat, warmup)
        return
    if case.method == "POST":
        floor_url = f"/__floor__/create/{case.name}"
        floor_token, layout_token = csrf_token(floor_client), csrf_token(layout_client)
        for _ in range(warmup):
            timed(floor_client, case, floor_url, floor_token)
        interleave(
            case,
            repeat,
            lambda: timed(client, case, case.url, token),
            lambda: timed(floor_client, case, floor_url, floor_token),
            lambda: timed(layout_client, case, floor_url, layout_token),
        )
        return
    rendered.context["has_role"] = has_role_for(rendered.role)
    keep_choices(rendered, watch.forms[-1])
    pages[case.name] = rendered
    floor_url = f"/__floor__/{case.name}"
    expected = fragments(page)
    case.same_rows = renders_same_rows(
        expected, floor_url, (floor_client, layout_client), fragments
    )
    for _ in range(warmup):
        timed(floor_client, case, floor_url)
        timed(layout_client, case, floor_url)
    interleave(
        case,
        repeat,
        lambda: timed(client, case, case.url),
        lambda: timed(floor_client, case, floor_url),
        lambda: timed(layout_client, case, floor_url),
    )


def measure_admin(
    case: TicketCase,
    client: FlaskClient,
    floor_client: FlaskClient,
    layout_client: FlaskClient,
    pages: dict[str, Rendered],
    repeat: int,
    warmup: int,
) -> None:
    """Flask-Admin's list, interleaved with the queue page showing the same tickets (its twin)
    and that page's floors, so that all four meet the same load."""
    twin = case.twin
    if twin is None or twin.name not in pages:
        raise RuntimeError(f"its queue counterpart {case.floor_of} was not measured")
    floor_url = f"/__floor__/{twin.name}"
    for _ in range(warmup):
        timed(client, twin, twin.url)
    gc.collect()
    for _ in range(repeat):
        case.portal_ms.append(timed(client, case, case.url))
        case.twin_ms.append(timed(client, twin, twin.url))
        case.floor_ms.append(timed(floor_client, case, floor_url))
        case.layout_ms.append(timed(layout_client, case, floor_url))


def remove_created(
    portal: Flask, cases: list[TicketCase], counters: dict[tuple[str, int], int]
) -> int:
    """Delete the tickets the intake cases made, and put the reference counters back."""
    ids = [i for case in cases for i in case.created]
    with portal.app_context():
        if ids:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                db.session.execute(delete(Notification).where(Notification.ticket_id.in_(chunk)))
                db.session.execute(delete(TicketEvent).where(TicketEvent.ticket_id.in_(chunk)))
                db.session.execute(delete(Ticket).where(Ticket.id.in_(chunk)))
        for (prefix, year), last in counters.items():
            db.session.execute(
                update(ReferenceCounter)
                .where(ReferenceCounter.prefix == prefix, ReferenceCounter.year == year)
                .values(last=last)
            )
        db.session.commit()
    return len(ids)


def reference_counters(portal: Flask) -> dict[tuple[str, int], int]:
    with portal.app_context():
        counters = {
            (c.prefix, c.year): c.last for c in db.session.scalars(select(ReferenceCounter))
        }
        db.session.rollback()
    return counters


# ---------------------------------------------------------------- reporting


def result_of(case: TicketCase) -> str:
    misses = case.misses()
    if case.is_admin:  # a comparison, not the portal: no targets
        return "comparison"
    return "MISS: " + ", ".join(misses) if misses else "ok"


def summary_lines(cases: list[TicketCase]) -> list[str]:
    head = (
        f"{'case':<26} {'median':>8} {'p90':>8} {'floor':>8} {'ratio':>6}  {'full-scan':<14} "
        f"{'SQL ms':>8} {'rows':>5}  result"
    )
    lines = [head, "-" * len(head)]
    for case in cases:
        if case.error:
            lines.append(f"{case.name:<26} error: {case.error}")
            continue
        scan = "yes" if case.full_scan else "no"
        lines.append(
            f"{case.name:<26} {fmt(case.median):>8} {fmt(case.p90):>8} {fmt(case.floor):>8} "
            f"{fmt(case.ratio, 2):>6}  full-scan: {scan:<3} {fmt(case.sql_ms, 2):>8} "
            f"{case.rows:>5}  {result_of(case)}"
        )
    lines.append(
        "(milliseconds; ratio = median / floor median; the admin_* rows are Flask-Admin's list "
        "view, measured alongside the queue page showing the same tickets and its floor)"
    )
    return lines


def admin_lines(cases: list[TicketCase]) -> list[str]:
    lines = []
    for case in cases:
        if not case.is_admin or case.error or case.twin is None or not case.twin_ms:
            continue
        twin_ratio = case.twin_median / case.floor
        lines.append(
            f"{case.name}: Flask-Admin {fmt(case.median)} ms, the portal's {case.twin.name} "
            f"{fmt(case.twin_median)} ms in the same loop (Flask-Admin / portal "
            f"× {fmt(case.median / case.twin_median, 2)}); to the floor {fmt(case.ratio, 2)} "
            f"vs {fmt(twin_ratio, 2)}"
        )
    return lines


def markdown_report(
    cases: list[TicketCase],
    fx: Fixtures,
    url: str,
    dialect: str,
    args: argparse.Namespace,
    versions: str,
    code: str,
    removed: int,
) -> str:
    out = report_head(f"Tickets benchmark — {dialect}", url, versions, code)
    out.append(
        f"- {args.repeat} timed requests per case after {args.warmup} warm-up requests; "
        "portal and floor requests interleaved; as the demo handler (queue_rm: the demo RM)"
    )
    sizes = ", ".join(f"{table} {n:,}" for table, n in fx.counts.items())
    out.append(f"- rows: {sizes}; open tickets {fx.open_tickets:,}")
    out.append(
        f"- intake: {removed} tickets created by the POST cases, deleted afterwards, reference "
        "counters put back"
    )
    out.append(
        f"- yardstick (the customers room's targets): median < {TARGET_MEDIAN_MS:g} ms, "
        f"ratio < {TARGET_RATIO:g}× the floor, no full scan\n"
    )
    out.append("## Summary\n")
    out.append(
        "| case | median ms | p90 ms | floor median ms | ratio | full scan | layout floor ms | "
        "SQL stmts | SQL ms | rows | result |"
    )
    out.append("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|")
    for case in cases:
        if case.error:
            out.append(f"| {case.name} | | | | | | | | | | error: {case.error} |")
            continue
        out.append(
            f"| {case.name} | {fmt(case.median)} | {fmt(case.p90)} | {fmt(case.floor)} | "
            f"{fmt(case.ratio, 2)} | {'yes' if case.full_scan else 'no'} | "
            f"{fmt(case.layout_floor)} | {case.all_statements} | {fmt(case.sql_ms, 2)} | "
            f"{case.rows} | {result_of(case)} |"
        )
    out.append("")
    out.append("```text")
    out.extend(summary_lines(cases))
    out.append("```\n")
    out.append("## Flask-Admin's list view against the portal's queue\n")
    out.extend(f"- {line}" for line in admin_lines(cases) or ["not measured"])
    out.append("")
    out.append("## Cases\n")
    for case in cases:
        out.append(f"### {case.name} — {case.title}\n")
        if case.error:
            out.append(f"Error: {case.error}\n")
            continue
        out.append(f"- `{case.method} {case.url}`; template `{case.template}`")
        if case.method == "GET" and not case.is_admin:
            out.append(
                f"- {case.rows} rows rendered, {case.bytes:,} bytes; floor renders the same "
                f"rows: {'yes' if case.same_rows else '**no**'}"
            )
        out.append(
            f"- median {fmt(case.median)} ms, p90 {fmt(case.p90)} ms; floor median "
            f"{fmt(case.floor)} ms; ratio {fmt(case.ratio, 2)}; layout floor "
            f"{fmt(case.layout_floor)} ms"
        )
        out.extend(statement_lines(case))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.tickets",
        description="Benchmark the tickets queue, ticket page and intake against a bare-Flask "
        "floor and Flask-Admin's list view.",
    )
    add_run_arguments(
        parser,
        "an already seeded database (default: $DATABASE_URL)",
        "report (default bench/results/tickets-<db>.md)",
    )
    parser.add_argument(
        "--allow-small", action="store_true", help=f"run on fewer than {MIN_TICKETS:,} tickets"
    )
    parser.add_argument(
        "--list-page", type=int, default=2, help="the deepest queue page to reach via keyset links"
    )
    parser.add_argument("--only", help="run only the cases whose name contains this text")
    parser.add_argument("--no-create", action="store_true", help="skip the intake (POST) cases")
    parser.add_argument("--no-admin", action="store_true", help="skip the Flask-Admin cases")
    add_analyze_argument(parser)
    args = parser.parse_args(argv)
    check_run_arguments(parser, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    code = code_version()
    portal = portal_app(args.database_url)
    admin_filters = {} if args.no_admin else mount_flask_admin(portal)
    with portal.app_context():
        engine = db.engine
    dialect = engine.dialect.name
    fx = pick_fixtures(portal, args.allow_small)
    clients = {
        "handler": signed_in_client(portal, fx.handler_id),
        "rm": signed_in_client(portal, fx.rm_id),
    }
    cases = build_cases(fx, clients["handler"], args.list_page, admin_filters)
    if args.no_create:
        cases = [c for c in cases if c.method != "POST"]
    if args.no_admin:
        cases = [c for c in cases if not c.is_admin]
    if args.only:
        wanted = {c.name for c in cases if args.only in c.name}
        wanted |= {c.floor_of for c in cases if c.name in wanted and c.floor_of}
        cases = [c for c in cases if c.name in wanted]
    pages: dict[str, Rendered] = {}
    specs: dict[str, Rendered] = {}
    floor = build_floor(portal, pages)
    layout = build_floor(portal, pages, full_layout=True)
    for app in (floor, layout):
        add_intake_floor(app, specs)
    floor_client, layout_client = floor.test_client(), layout.test_client()
    counters = reference_counters(portal)
    print(
        f"bench: {dialect}, {fx.counts['tickets']:,} tickets ({fx.open_tickets:,} open), "
        f"{args.repeat} runs per case"
    )
    try:
        run_cases(
            cases,
            lambda case: measure(
                case,
                portal,
                clients[case.who],
                floor_client,
                layout_client,
                pages,
                specs,
                engine,
                args.repeat,
                args.warmup,
            ),
            lambda case: f"{case.median:.1f} ms",
        )
    finally:
        removed = remove_created(portal, cases, counters)
    explain_all(cases, engine, fx.counts, not args.no_analyze, BIG_TABLES)
    report = markdown_report(
        cases, fx, args.database_url, dialect, args, software_versions(engine), code, removed
    )
    out = args.out or RESULTS / f"tickets-{dialect}.md"
    write_text(out, report)
    print()
    print("\n".join(summary_lines(cases)))
    for line in admin_lines(cases):
        print(line)
    print(f"report: {out}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
