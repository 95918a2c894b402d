"""The tickets room's panels on core's home page (`portal/core/home.py`): read-only lists.

A handler's home shows their tickets due soon (breached ones first, as the queue orders them)
and their unread notifications; a lead's shows the breached open tickets, the tickets at risk
(80 % of their time used, not yet breached) and their unread notifications. Each list holds
the first SHOWN rows and a count capped as the queue caps its own (`queue.COUNT_CAP`), read on
the indexes the queue uses, so the home stays quick on a large table.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, literal_column, select

from portal.core.access import Role
from portal.core.audit import Actor
from portal.core.extensions import db
from portal.core.home import Panel
from portal.tickets.models import Notification, Ticket
from portal.tickets.notifications import unread_count
from portal.tickets.queue import COUNT_CAP, QueueFilters, count, queue_page

SHOWN = 10
SOON_DAYS = 3  # "due soon": as the queue's sidebar counts it
_UTC = ZoneInfo("UTC")  # the queue's zone matters only for received dates, not used here

HANDLER_ROLES = (Role.HANDLER,)
LEAD_ROLES = (Role.LEAD,)
NOTIFIED_ROLES = (Role.HANDLER, Role.LEAD)


@dataclass(frozen=True)
class TicketList:
    """The first tickets of a list, how many there are (up to COUNT_CAP + 1), and the queue's
    query string that lists them all (None when the queue has no such filter)."""

    tickets: list[Ticket]
    total: int
    queue_query: str | None


def _from_queue(actor: Actor, filters: QueueFilters) -> TicketList:
    page = queue_page(actor, filters, _UTC, SHOWN)
    return TicketList(page.rows, count(actor, filters, _UTC), filters.query())


def my_due_soon(actor: Actor, _now: datetime) -> Panel:
    """The handler's own open tickets past their deadline, then those due within SOON_DAYS
    days (the queue's "Due in 3 days" view, which counts only what is not yet due)."""
    overdue = _from_queue(actor, QueueFilters(assignee="me", breached="1"))
    soon = _from_queue(actor, QueueFilters(assignee="me", due_within=str(SOON_DAYS)))
    both = TicketList(
        (overdue.tickets + soon.tickets)[:SHOWN], overdue.total + soon.total, soon.queue_query
    )
    return Panel("tickets/_home_due_soon.html", {"list": both, "days": SOON_DAYS})


def breached(actor: Actor, _now: datetime) -> Panel:
    """Open tickets past their deadline with the clock running, the longest overdue first."""
    return Panel("tickets/_home_breached.html", _from_queue(actor, QueueFilters(breached="1")))


def _capped_count(statement: Select[Any]) -> int:
    capped = statement.with_only_columns(literal_column("1")).limit(COUNT_CAP + 1)
    return db.session.scalar(select(func.count()).select_from(capped.subquery())) or 0


def at_risk(_actor: Actor, now: datetime) -> Panel:
    """Open tickets that have used 80 % of their time and are not yet breached, the nearest
    deadline first; a paused clock is not at risk while it is paused."""
    statement = select(Ticket).where(
        Ticket.is_open.is_(True),
        Ticket.paused_since.is_(None),
        Ticket.warn_at <= now,
        Ticket.due_at > now,
    )
    tickets = list(db.session.scalars(statement.order_by(Ticket.due_at, Ticket.id).limit(SHOWN)))
    return Panel("tickets/_home_at_risk.html", TicketList(tickets, _capped_count(statement), None))


@dataclass(frozen=True)
class UnreadNotifications:
    items: list[Notification]
    total: int  # up to notifications.UNREAD_CAP + 1


def unread_notifications(actor: Actor, _now: datetime) -> Panel | None:
    if actor.user_id is None:
        return None
    items = list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == actor.user_id, Notification.read_at.is_(None))
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(SHOWN)
        )
    )
    return Panel(
        "tickets/_home_notifications.html",
        UnreadNotifications(items, unread_count(actor.user_id)),
    )
