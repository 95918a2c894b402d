"""The handlers' queue: filters, due-date order, keyset pages, counts and saved views.

Every single filter is served by an index that starts with it and ends (due_at, id), so a page
is one index range read whatever the table's size, and the next page starts where the last row
ended (no OFFSET). Counts are capped: past COUNT_CAP the queue says "10,000+" instead of
reading every matching row.
"""

from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, literal_column, select, tuple_
from sqlalchemy.exc import IntegrityError

from portal.core.access import Role
from portal.core.audit import Actor
from portal.core.errors import NotFound, ValidationFailed
from portal.core.extensions import db
from portal.core.pagination import Page
from portal.core.requests import parse_id
from portal.core.timeutil import as_utc, parse_instant, utc_now
from portal.core.transaction import use_case
from portal.customers.models import Customer
from portal.tickets.models import SavedView, Severity, Status, Ticket

COUNT_CAP = 10_000
DUE_WITHIN_MAX = 366
VIEWS_MAX = 30
VIEW_NAME_MAX = 60
STATUS_CHOICES = ("open", "all", *(s.value for s in Status))


@dataclass
class QueueFilters:
    status: str = "open"
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
        filters = cls(**values)
        if filters.status not in STATUS_CHOICES:
            filters.status = "open"
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


def _day(raw: str, zone: ZoneInfo, field: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as error:
        raise ValidationFailed(_l("Enter dates as YYYY-MM-DD."), field=field) from error


def _where(actor: Actor, filters: QueueFilters, zone: ZoneInfo, now: datetime) -> list[Any]:
    """The conditions of a filter set (shared by the page and its count)."""
    conditions: list[Any] = []
    if filters.status == "open":
        conditions.append(Ticket.is_open.is_(True))
    elif filters.status != "all":
        conditions.append(Ticket.status == filters.status)
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
        days = min(days, DUE_WITHIN_MAX)
        conditions.append(Ticket.due_at < now + timedelta(days=days))
        conditions.append(Ticket.paused_since.is_(None))
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
    return conditions


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


def queue_page(
    actor: Actor, filters: QueueFilters, zone: ZoneInfo, limit: int = 50
) -> Page[Ticket]:
    """One page of the queue, in due-date (or received) order; the key continues it."""
    now = utc_now()
    conditions = _where(actor, filters, zone, now)
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
    return Page(rows[:limit], next_key)


def count(actor: Actor, filters: QueueFilters, zone: ZoneInfo) -> int:
    """How many tickets match, counted up to COUNT_CAP + 1 (shown as "10,000+")."""
    conditions = _where(actor, filters, zone, utc_now())
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


def quick_counts(actor: Actor, soon_days: int = 3) -> QuickCounts:
    """The sidebar's numbers, in one pass over the open tickets (a small share of all)."""
    now = utc_now()
    running = and_(Ticket.paused_since.is_(None))
    stmt = select(
        func.count(),
        func.sum(case((Ticket.assignee_id == actor.user_id, 1), else_=0)),
        func.sum(case((Ticket.assignee_id.is_(None), 1), else_=0)),
        func.sum(case((and_(running, Ticket.due_at < now), 1), else_=0)),
        func.sum(
            case(
                (
                    and_(
                        running,
                        Ticket.due_at >= now,
                        Ticket.due_at < now + timedelta(days=soon_days),
                    ),
                    1,
                ),
                else_=0,
            )
        ),
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
        quick=quick_counts(actor),
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
