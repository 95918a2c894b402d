"""The clock watch's marks on one ticket: the 80 % warning to whoever works on it and the
breach escalation to its lead, each written once per deadline (the notification keys name the
deadline, so writing one again adds nothing).

The job (`jobs.clock_watch`) sweeps for tickets due a mark; a US "in progress" given after the
15-day deadline records the breach itself when the watch had not yet reached it
(`clock_changes`), so that the new 60-day deadline never hides it.
"""

from datetime import datetime

from portal.core.audit import Actor
from portal.tickets.assignment import lead_of
from portal.tickets.events import add_event
from portal.tickets.models import Ticket
from portal.tickets.notifications import notify

WATCH_ACTOR = Actor.system("job:tickets.clock_watch")
WARNING = "clock.warning"
BREACHED = "clock.breached"


def warned(ticket: Ticket) -> list[int]:
    """Who the 80 % warning goes to: the assignee, else the team's lead."""
    return [ticket.assignee_id] if ticket.assignee_id else lead_of(ticket)


def escalated(ticket: Ticket) -> list[int]:
    """Who a breach escalates to: the team's lead, else every lead."""
    return lead_of(ticket)


def mark(ticket: Ticket, action: str, due: datetime, now: datetime) -> None:
    """Notify the people `action` goes to about deadline `due`, and record it on the ticket."""
    key = f"{action}:{ticket.id}:{due.isoformat()}"
    for user_id in warned(ticket) if action == WARNING else escalated(ticket):
        notify(user_id, f"{key}:{user_id}", action, ticket)
    add_event(WATCH_ACTOR, ticket, action, data={"due_at": due.isoformat()}, at=now)
