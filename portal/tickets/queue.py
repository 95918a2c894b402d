"""The handlers' queue: the search box, filters, due-date order, keyset pages, counts and saved
views.

Every single filter is served by an index that starts with it and ends (due_at, id), so a page
is one index range read whatever the table's size, and the next page starts where the last row
ended (no OFFSET). A search finds its tickets by their own indexes first — the reference (unique),
the matched customers' tickets (customer_id, …), a prospect's email — and the page is read among
those few. Counts are capped: past COUNT_CAP the queue says "10,000+" instead of reading every
matching row.
"""

import re
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, literal_column, select, tuple_, union_all
from sqlalchemy.exc import IntegrityError

from portal.accounts.services import user_names
from portal.core.access import Role
from portal.core.audit import Actor
from portal.core.errors import NotFound, ValidationFailed
from portal.core.extensions import among, db
from portal.core.pagination import Page
from portal.core.requests import parse_id
from portal.core.search import normalise_text
from portal.core.timeutil import as_utc, parse_instant, utc_now
from portal.core.transaction import use_case
from portal.customers.models import Customer
from portal.customers.search import CustomerFilters, search_customers
from portal.tickets.access import can_view
from portal.tickets.models import Kind, Prospect, SavedView, Severity, Status, Ticket

COUNT_CAP = 10_000
DUE_WITHIN_MAX = 366
VIEWS_MAX = 30
VIEW_NAME_MAX = 60
STATUS_CHOICES = ("open", "all", *(s.value for s in Status))
SEARCH_MAX = 100
CUSTOMER_MATCHES = 200  # customers a search looks among; more asks for a narrower search
TICKET_MATCHES = 2000  # and the tickets it reads the page from
REFERENCE = re.compile(r"^(CMP|FBK|INQ|CPL)-\d{4}-\d{6}$")
# The filters folded under "More filters": the queue opens the disclosure when one is set.
MORE_FILTERS = (
    "team",
    "severity",
    "channel",
    "business",
    "cause",
    "due_within",
    "breached",
    "received_from",
    "received_to",
    "sort",
)


@dataclass
class QueueFilters:
    q: str = ""  # a reference, customer number, customer name or email
    status: str = "open"
    kind: str = ""
    assignee: str = ""  # "me", "none" or a user id
    team: str = ""
    channel: str = ""
    business: str = ""
    cause: str = ""
    severity: str = ""
    due_within: str = ""  # days
    breached: str = ""
    received_from: str = ""
    received_to: str = ""
    sort: str = "due"
    after: str = ""

    @classmethod
    def from_args(cls, args: Any) -> "QueueFilters":
        """Filters from a query string, unknown or malformed values dropped (a URL typed by
        hand or kept from an older version still opens a queue)."""
        values = {f.name: (args.get(f.name) or "").strip()[:40] for f in fields(cls)}
        values["after"] = (args.get("after") or "").strip()[:80]
        values["q"] = " ".join((args.get("q") or "").split())[:SEARCH_MAX]
        filters = cls(**values)
        if filters.status not in STATUS_CHOICES:
            filters.status = "open"
        if filters.kind not in {k.value for k in Kind}:
            filters.kind = ""
        if filters.sort not in ("due", "received"):
            filters.sort = "due"
        if filters.severity not in {s.value for s in Severity}:
            filters.severity = ""
        return filters

    def query(self, **changes: str) -> str:
        """This filter set as a query string (without the page key), with `changes`."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        if "after" not in changes:
            values["after"] = ""
        default = QueueFilters()
        kept = {k: v for k, v in values.items() if v and v != getattr(default, k)}
        return urlencode(kept)

    def is_default(self) -> bool:
        return self.query() == ""

    def more_set(self) -> int:
        """How many of the filters under "More filters" are set."""
        default = QueueFilters()
        return sum(1 for name in MORE_FILTERS if getattr(self, name) != getattr(default, name))


def _day(raw: str, zone: ZoneInfo, field: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as error:
        raise ValidationFailed(_l("Enter dates as YYYY-MM-DD."), field=field) from error


def reference_in(text: str) -> str | None:
    """The ticket reference `text` is, in its stored form (CMP-2026-000123), or None."""
    candidate = normalise_text(text).upper().replace(" ", "")
    return candidate if REFERENCE.match(candidate) else None


def find_reference(actor: Actor, text: str) -> Ticket | None:
    """The ticket whose whole reference was typed, when the actor may see it: the queue opens
    it straight away."""
    reference = reference_in(text)
    if reference is None:
        return None
    ticket = db.session.scalar(select(Ticket).where(Ticket.reference == reference))
    return ticket if ticket is not None and can_view(actor, ticket) else None


@dataclass(frozen=True)
class _Search:
    condition: Any
    too_broad: bool  # more customers or tickets matched than the search looks among


def _search(actor: Actor, text: str) -> _Search:
    """The tickets a search box text finds, each kind of match through its own index: the
    reference (unique), the tickets of the customers the customer search finds by number,
    name, email or phone (customer_id, …), those of a prospect who wrote from that email.

    The matching ids are read first, and the page is then read among them by primary key: a
    planner given the filters and the search in one statement may walk every open ticket in
    due order and test each against the search instead."""
    lookups: list[Any] = []
    reference = reference_in(text)
    if reference is not None:
        lookups.append(select(Ticket.id).where(Ticket.reference == reference))
    customers = search_customers(actor, CustomerFilters(query=text), CUSTOMER_MATCHES)
    if customers.rows:
        owners = [c.id for c in customers.rows]
        lookups.append(select(Ticket.id).where(among(Ticket.customer_id, owners)))
    email = normalise_text(text)
    if "@" in email and " " not in email:
        prospects = select(Prospect.id).where(Prospect.email == email)
        lookups.append(select(Ticket.id).where(Ticket.prospect_id.in_(prospects)))
    ids: set[int] = set()
    if lookups:
        found = union_all(*lookups) if len(lookups) > 1 else lookups[0]
        ids = set(db.session.scalars(found.limit(TICKET_MATCHES + 1)))
    too_broad = customers.next_key is not None or len(ids) > TICKET_MATCHES
    return _Search(among(Ticket.id, sorted(ids)), too_broad)  # none: a lookup of no ids


def due_soon_window(now: datetime, zone: ZoneInfo, days: int) -> tuple[datetime, datetime]:
    """ "Due within `days` days": not yet due, and due by the end of the `days`-th day after
    today in the viewer's zone (0: by the end of today). The sidebar's "Due in 3 days" count
    and the list its link opens both use it, so they agree."""
    today = as_utc(now).astimezone(zone).date()
    return now, datetime.combine(today + timedelta(days=days + 1), time(0), zone)


def _due_soon(now: datetime, zone: ZoneInfo, days: int) -> Any:
    start, end = due_soon_window(now, zone, days)
    return and_(Ticket.paused_since.is_(None), Ticket.due_at >= start, Ticket.due_at < end)


def _where(
    actor: Actor, filters: QueueFilters, zone: ZoneInfo, now: datetime
) -> tuple[list[Any], bool]:
    """The conditions of a filter set (shared by the page and its count), and whether its
    search matched more customers than it looks among."""
    conditions: list[Any] = []
    too_broad = False
    if filters.q:
        search = _search(actor, filters.q)
        conditions.append(search.condition)
        too_broad = search.too_broad
    if filters.status == "open":
        conditions.append(Ticket.is_open.is_(True))
    elif filters.status != "all":
        conditions.append(Ticket.status == filters.status)
    if filters.kind:
        conditions.append(Ticket.kind == filters.kind)
    if actor.role == Role.RM:  # an RM's queue: complaints of their own customers
        owned = select(Customer.id).where(Customer.owner_id == actor.user_id)
        conditions.append(Ticket.customer_id.in_(owned))
    if filters.assignee == "me":
        conditions.append(Ticket.assignee_id == actor.user_id)
    elif filters.assignee == "none":
        conditions.append(Ticket.assignee_id.is_(None))
    elif parse_id(filters.assignee) is not None:
        conditions.append(Ticket.assignee_id == int(filters.assignee))
    if parse_id(filters.team) is not None:
        conditions.append(Ticket.team_id == int(filters.team))
    for name, column in (
        ("channel", Ticket.channel_code),
        ("business", Ticket.business_code),
        ("cause", Ticket.cause_code),
    ):
        code = getattr(filters, name).upper()
        if code:
            conditions.append(column == code)
    if filters.severity:
        conditions.append(Ticket.severity == filters.severity)
    days = parse_id(filters.due_within)
    if filters.due_within and days is None:
        raise ValidationFailed(_l("Due within: enter a number of days."), field="due_within")
    if days is not None:
        conditions.append(_due_soon(now, zone, min(days, DUE_WITHIN_MAX)))
    if filters.breached:
        conditions.append(Ticket.due_at < now)
        conditions.append(Ticket.paused_since.is_(None))
    start = _day(filters.received_from, zone, "received_from")
    end = _day(filters.received_to, zone, "received_to")
    if start and end and end < start:
        raise ValidationFailed(_l("The end date is before the start date."), field="received_to")
    if start:
        conditions.append(Ticket.received_at >= datetime.combine(start, time(0), zone))
    if end:
        conditions.append(
            Ticket.received_at < datetime.combine(end + timedelta(days=1), time(0), zone)
        )
    return conditions, too_broad


def _order(filters: QueueFilters) -> tuple[Any, Any]:
    column = Ticket.received_at if filters.sort == "received" else Ticket.due_at
    return column, Ticket.id


def _encode_key(ticket: Ticket, filters: QueueFilters) -> str:
    column = ticket.received_at if filters.sort == "received" else ticket.due_at
    return f"{as_utc(column).isoformat()}|{ticket.id}"


def _decode_key(raw: str) -> tuple[datetime, int] | None:
    instant, _, key = raw.rpartition("|")
    ticket_id = parse_id(key)
    try:
        moment = parse_instant(instant)
    except ValueError:
        return None  # a key typed by hand: start from the top
    if ticket_id is None:
        return None
    return moment, ticket_id


@dataclass(frozen=True)
class QueuePage(Page[Ticket]):
    too_broad: bool = False  # the search matched more customers than it looked among


def queue_page(actor: Actor, filters: QueueFilters, zone: ZoneInfo, limit: int = 50) -> QueuePage:
    """One page of the queue, in due-date (or received) order; the key continues it."""
    now = utc_now()
    conditions, too_broad = _where(actor, filters, zone, now)
    column, tiebreak = _order(filters)
    key = _decode_key(filters.after)
    if key is not None:
        conditions.append(tuple_(column, tiebreak) > tuple_(*key))
    rows = list(
        db.session.scalars(
            select(Ticket).where(*conditions).order_by(column, tiebreak).limit(limit + 1)
        )
    )
    next_key = _encode_key(rows[limit - 1], filters) if len(rows) > limit else None
    return QueuePage(rows[:limit], next_key, too_broad)


def count(actor: Actor, filters: QueueFilters, zone: ZoneInfo) -> int:
    """How many tickets match, counted up to COUNT_CAP + 1 (shown as "10,000+")."""
    conditions, _too_broad = _where(actor, filters, zone, utc_now())
    capped = select(literal_column("1")).select_from(Ticket).where(*conditions).limit(COUNT_CAP + 1)
    return db.session.scalar(select(func.count()).select_from(capped.subquery())) or 0


@dataclass(frozen=True)
class QuickCounts:
    open: int
    mine: int
    unassigned: int
    breached: int
    due_soon: int
    waiting: int


SOON_DAYS = 3  # the sidebar's "Due in 3 days"


def quick_counts(actor: Actor, zone: ZoneInfo, soon_days: int = SOON_DAYS) -> QuickCounts:
    """The sidebar's numbers, in one pass over the open tickets (a small share of all); each
    counts what its link lists (the same conditions as the filter it opens)."""
    now = utc_now()
    running = Ticket.paused_since.is_(None)
    stmt = select(
        func.count(),
        func.sum(case((Ticket.assignee_id == actor.user_id, 1), else_=0)),
        func.sum(case((Ticket.assignee_id.is_(None), 1), else_=0)),
        func.sum(case((and_(running, Ticket.due_at < now), 1), else_=0)),
        func.sum(case((_due_soon(now, zone, soon_days), 1), else_=0)),
        func.sum(case((Ticket.status == Status.WAITING.value, 1), else_=0)),
    ).where(Ticket.is_open.is_(True))
    if actor.role == Role.RM:
        owned = select(Customer.id).where(Customer.owner_id == actor.user_id)
        stmt = stmt.where(Ticket.customer_id.in_(owned))
    row = db.session.execute(stmt).one()
    return QuickCounts(*(int(value or 0) for value in row))


@dataclass(frozen=True)
class SidebarCounts:
    quick: QuickCounts
    total: int  # tickets matching the current filters, up to COUNT_CAP + 1
    views: list[SavedView]
    view_counts: dict[int, int]  # by saved view


def sidebar_counts(actor: Actor, filters: QueueFilters, zone: ZoneInfo) -> SidebarCounts:
    """The queue's sidebar: the quick numbers, the current filter's total and each of the
    viewer's saved views' (0 for a filter that no longer reads)."""
    views = saved_views(actor.user_id) if actor.user_id is not None else []
    return SidebarCounts(
        quick=quick_counts(actor, zone),
        total=_count_or_zero(actor, filters, zone),
        views=views,
        view_counts={
            view.id: _count_or_zero(
                actor, QueueFilters.from_args(dict(parse_qsl(view.query))), zone
            )
            for view in views
        },
    )


def _count_or_zero(actor: Actor, filters: QueueFilters, zone: ZoneInfo) -> int:
    try:
        return count(actor, filters, zone)
    except ValidationFailed:
        return 0


@dataclass(frozen=True)
class RowNames:
    """Who the queue's rows are about and who works on them, read for one page at once."""

    customers: dict[int, tuple[str, str]]  # id: (name, number)
    prospects: dict[int, str]
    assignees: dict[int, str]


def row_names(rows: list[Ticket]) -> RowNames:
    def wanted(attribute: str) -> set[int]:
        return {value for row in rows if (value := getattr(row, attribute)) is not None}

    customer_ids, prospect_ids, user_ids = (
        wanted("customer_id"),
        wanted("prospect_id"),
        wanted("assignee_id"),
    )
    customers = (
        db.session.execute(
            select(Customer.id, Customer.name, Customer.number).where(Customer.id.in_(customer_ids))
        ).all()
        if customer_ids
        else []
    )
    prospects = (
        db.session.execute(
            select(Prospect.id, Prospect.name).where(Prospect.id.in_(prospect_ids))
        ).all()
        if prospect_ids
        else []
    )
    return RowNames(
        customers={row.id: (row.name, row.number) for row in customers},
        prospects={row.id: row.name for row in prospects},
        assignees=user_names(user_ids),
    )


def urgency(ticket: Ticket, now: datetime | None = None) -> str:
    """How close a deadline is, for colour: breached, due within a day, at 80 %, on track."""
    if not ticket.is_open:
        return "done"
    if ticket.paused_since is not None:
        return "paused"
    now = now or utc_now()
    due = as_utc(ticket.due_at)
    if due <= now:
        return "breached"
    if due - now <= timedelta(days=1):
        return "critical"
    if ticket.warn_at is not None and as_utc(ticket.warn_at) <= now:
        return "warning"
    return "ok"


# ---------------------------------------------------------------- saved views


def saved_views(user_id: int) -> list[SavedView]:
    return list(
        db.session.scalars(
            select(SavedView).where(SavedView.user_id == user_id).order_by(SavedView.name)
        )
    )


def _name_taken(*_arguments: Any, **_options: Any) -> ValidationFailed:
    return ValidationFailed(_l("A view with this name exists."), field="name")


@use_case(stale=_name_taken, conflicts=(IntegrityError,))  # the same name saved twice at once
def save_view(user_id: int, name: str, query: str) -> SavedView:
    label = " ".join((name or "").split())
    if not label:
        raise ValidationFailed(_l("Give the view a name."), field="name")
    if len(label) > VIEW_NAME_MAX:
        raise ValidationFailed(
            _l("A view's name has at most %(max)d characters.", max=VIEW_NAME_MAX), field="name"
        )
    # Keep only what the queue understands, in its canonical form.
    filters = QueueFilters.from_args(dict(parse_qsl(query or "")))
    canonical = filters.query()
    existing = db.session.scalar(
        select(SavedView).where(SavedView.user_id == user_id, SavedView.name == label)
    )
    if existing is not None:
        existing.query = canonical
        return existing
    if len(saved_views(user_id)) >= VIEWS_MAX:
        raise ValidationFailed(
            _l("You have %(max)d saved views; delete one first.", max=VIEWS_MAX), field="name"
        )
    view = SavedView(user_id=user_id, name=label, query=canonical)
    db.session.add(view)
    return view


@use_case
def delete_view(user_id: int, view_id: int) -> None:
    view = db.session.get(SavedView, view_id)
    if view is None or view.user_id != user_id:
        raise NotFound(_l("No such saved view."))
    db.session.delete(view)
