"""Who works on a ticket: assigning tickets to handlers and teams, and the teams themselves.

A handler may take an unassigned ticket; taking one from another handler needs a lead or admin.
A selection from the queue is assigned as it stands (`assign`); the ticket page assigns the
ticket as its editor saw it (`reassign`), refused if someone changed it meanwhile.
Tickets go only to complaint handlers, leads and admins, each assignment an event that names
the assignee and team, and a notification on the assignee's bell.
"""

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.accounts.models import User
from portal.core.access import Role
from portal.core.audit import Actor
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal.core.extensions import db
from portal.core.transaction import use_case
from portal.tickets.access import STAFF, require_handler
from portal.tickets.events import add_event
from portal.tickets.models import Team, TeamMember, Ticket
from portal.tickets.notifications import notify_assigned
from portal.tickets.validation import check_staff, check_team, clean_text
from portal.tickets.versions import locked_for_change, ticket_changed_meanwhile

BULK_MAX = 500


def _some_changed(*_arguments: Any, **_options: Any) -> Conflict:
    return Conflict(_l("Some of these tickets changed in the meantime. Reload and try again."))


@use_case(stale=_some_changed)
def assign(
    actor: Actor, ticket_ids: list[int], assignee_id: int | None, team_id: int | None
) -> int:
    """Assign a selection of tickets to a handler and/or a team; returns how many changed."""
    if not ticket_ids:
        raise ValidationFailed(_l("Select at least one ticket."))
    if len(ticket_ids) > BULK_MAX:
        raise ValidationFailed(_l("Assign at most 500 tickets at once."))
    require_handler(actor)
    if assignee_id is None and team_id is None:
        raise ValidationFailed(_l("Choose an assignee or a team."))
    assignee_id = _check_assignee(assignee_id)
    team_id = check_team(team_id)
    tickets = list(
        db.session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids)).order_by(Ticket.id))
    )
    if len(tickets) != len(set(ticket_ids)):
        raise NotFound(_l("No such ticket."))
    return sum(_reassign(actor, ticket, assignee_id, team_id) for ticket in tickets)


@use_case(stale=ticket_changed_meanwhile)
def reassign(
    actor: Actor, ticket_id: int, version: int | None, assignee_id: int | None, team_id: int | None
) -> Ticket:
    """Give one ticket, as its editor saw it at `version`, to a handler and/or team; no
    assignee takes it from whoever had it (the team stays unless another is given)."""
    require_handler(actor)
    assignee_id = _check_assignee(assignee_id)
    team_id = check_team(team_id)
    ticket = locked_for_change(actor, ticket_id, version)
    _reassign(actor, ticket, assignee_id, team_id)
    return ticket


def _check_assignee(assignee_id: int | None) -> int | None:
    assignee_id = check_staff(assignee_id, "assignee_id")
    if assignee_id is not None:
        role = db.session.scalar(select(User.role).where(User.id == assignee_id))
        if role not in STAFF:
            raise ValidationFailed(
                _l("Tickets go to complaint handlers, leads or admins."), field="assignee_id"
            )
    return assignee_id


def _reassign(actor: Actor, ticket: Ticket, assignee_id: int | None, team_id: int | None) -> int:
    """Give one ticket to `assignee_id` (and `team_id`, else its own team); 1 if it changed."""
    if not ticket.is_open:
        raise ValidationFailed(_l("%(reference)s is no longer open.", reference=ticket.reference))
    if (
        actor.role == Role.HANDLER
        and ticket.assignee_id not in (None, actor.user_id)
        and assignee_id != ticket.assignee_id
    ):
        raise PermissionDenied(_l("Only a lead or admin can take a ticket from another handler."))
    new_team = team_id if team_id is not None else ticket.team_id
    if (ticket.assignee_id, ticket.team_id) == (assignee_id, new_team):
        return 0
    before = assignment_data(ticket.assignee_id, ticket.team_id)
    ticket.assignee_id = assignee_id
    ticket.team_id = new_team
    add_event(
        actor, ticket, "assigned", data={"before": before, **assignment_data(assignee_id, new_team)}
    )
    if assignee_id is not None and assignee_id != actor.user_id:
        notify_assigned(ticket, assignee_id)
    return 1


def assignment_data(assignee_id: int | None, team_id: int | None) -> dict[str, Any]:
    """Who and which team, by id and by name: the history must read without a lookup."""
    assignee = db.session.get(User, assignee_id) if assignee_id else None
    team = db.session.get(Team, team_id) if team_id else None
    return {
        "assignee_id": assignee_id,
        "assignee": assignee.name if assignee else None,
        "team_id": team_id,
        "team": team.name if team else None,
    }


# ---------------------------------------------------------------- people and teams


def teams() -> list[Team]:
    return list(db.session.scalars(select(Team).order_by(Team.name)))


def handlers() -> list[Any]:
    """(id, name) of every active handler, lead and admin: who tickets can go to."""
    return list(
        db.session.execute(
            select(User.id, User.name)
            .where(User.role.in_([r.value for r in STAFF]), User.active)
            .order_by(User.name)
            .limit(1000)
        )
    )


def lead_of(ticket: Ticket) -> list[int]:
    """Who a breach escalates to: the team's lead, else every active lead."""
    if ticket.team_id is not None:
        lead = db.session.scalar(select(Team.lead_id).where(Team.id == ticket.team_id))
        if lead is not None:
            return [lead]
    return list(
        db.session.scalars(
            select(User.id).where(User.role == Role.LEAD, User.active).order_by(User.id)
        )
    )


@dataclass(frozen=True)
class TeamOverview:
    team: Team
    lead: str | None
    members: list[str]


def team_overview() -> list[TeamOverview]:
    names: dict[int, str] = {
        row.id: row.name for row in db.session.execute(select(User.id, User.name))
    }
    members: dict[int, list[str]] = {}
    for team_id, user_id in db.session.execute(select(TeamMember.team_id, TeamMember.user_id)):
        members.setdefault(team_id, []).append(names.get(user_id, "?"))
    return [
        TeamOverview(
            team,
            names.get(team.lead_id) if team.lead_id else None,
            sorted(members.get(team.id, [])),
        )
        for team in teams()
    ]


@use_case
def create_team(actor: Actor, name: str, lead_id: int | None, member_ids: list[int]) -> Team:
    if not (actor.is_system or actor.role == Role.ADMIN):
        raise PermissionDenied(_l("Only admins manage teams."))
    label = clean_text(name, "name", 80, required=True)
    if db.session.scalar(select(Team.id).where(Team.name == label)) is not None:
        raise ValidationFailed(_l("A team with this name exists."), field="name")
    team = Team(name=label, lead_id=check_staff(lead_id, "lead_id"))
    db.session.add(team)
    db.session.flush()
    for user_id in sorted(set(member_ids)):
        db.session.add(TeamMember(team_id=team.id, user_id=check_staff(user_id, "members")))
    return team
