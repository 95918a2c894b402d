"""The demo seed's teams and tickets, seeded small on each backend, hold the services' rules."""

import re
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.accounts.models import User
from portal.core.extensions import db
from portal.core.search import is_cjk
from portal.core.timeutil import as_utc, utc_now
from portal.demo.tickets import DEMO_HANDLER_EMAIL, TEAMS, VOLUMES
from portal.tickets import deadlines
from portal.tickets.models import (
    OPEN_STATUSES,
    Kind,
    ReferenceCounter,
    Severity,
    Status,
    Team,
    TeamMember,
    Ticket,
    TicketEvent,
)
from tests.factories import actor_for, make_ticket

REFERENCE = re.compile(r"^(CMP|FBK|INQ|CPL)-(\d{4})-(\d{6})$")


@pytest.fixture(scope="module")
def app(demo_app: Flask) -> Flask:
    """The module reads one demo-seeded database (seeded once per run, copied per module)."""
    return demo_app


@pytest.fixture
def seeded(db: Any) -> None:
    """The seed is there; what a test adds to it is rolled back after the test."""


def tickets() -> list[Ticket]:
    return list(db.session.scalars(select(Ticket).order_by(Ticket.id)))


def test_small_seed_shows_every_status_kind_and_severity(seeded) -> None:
    rows = tickets()
    seeded = [t for t in rows if t.source != "survey"]  # survey follow-ups are the surveys'
    assert VOLUMES["small"].tickets <= len(seeded) <= VOLUMES["small"].tickets + 20
    assert {t.status for t in rows} == {s.value for s in Status}
    assert {t.kind for t in rows} == {k.value for k in Kind}
    assert {t.severity for t in rows} == {s.value for s in Severity}
    kinds = Counter(t.kind for t in rows)
    assert kinds.most_common(1)[0][0] == Kind.COMPLAINT.value
    causes = Counter(t.cause_code for t in rows if t.kind == Kind.COMPLAINT.value)
    assert {code for code, _n in causes.most_common(3)} & {"C07", "C08"}
    assert sum(t.customer_id is not None for t in rows) > len(rows) // 2
    assert any(t.account_id is not None for t in rows)


def test_is_open_follows_the_status(seeded) -> None:
    open_values = {s.value for s in OPEN_STATUSES}
    for ticket in tickets():
        assert ticket.is_open == (ticket.status in open_values), ticket.reference
        if ticket.status in (Status.RESOLVED, Status.CLOSED) and ticket.merged_into_id is None:
            assert ticket.resolved_at is not None and ticket.resolution
        if ticket.status == Status.CLOSED:
            assert ticket.closed_at is not None


def test_deadlines_are_those_the_services_store(seeded) -> None:
    """Every stored clock, recomputed by the services' own functions from the ticket's state."""
    for ticket in tickets():
        fresh = Ticket(
            profile=ticket.profile,
            kind=ticket.kind,
            severity=ticket.severity,
            received_at=ticket.received_at,
            sla_paused_hours=ticket.sla_paused_hours,
        )
        deadlines.apply_sla(fresh)
        deadlines.apply_clock(fresh, deadlines.clock_state(ticket))
        assert fresh.sla_due_at == as_utc(ticket.sla_due_at), ticket.reference
        assert fresh.due_at == as_utc(ticket.due_at), ticket.reference
        assert fresh.warn_at == as_utc(ticket.warn_at), ticket.reference
        summary = ticket.summary_due_at and as_utc(ticket.summary_due_at)
        assert fresh.summary_due_at == summary, ticket.reference


def test_the_queue_has_breached_due_soon_paused_and_extended_tickets(seeded) -> None:
    now = utc_now()
    handler = db.session.scalar(select(User).where(User.email == DEMO_HANDLER_EMAIL))
    mine = [t for t in tickets() if t.is_open and t.assignee_id == handler.id]
    running = [t for t in mine if t.paused_since is None]
    assert any(as_utc(t.due_at) < now for t in running)
    assert any(now < as_utc(t.due_at) < now + timedelta(days=2) for t in running)
    assert any(t.paused_since is not None for t in mine)
    assert {1, 2} <= {t.extensions for t in mine}
    assert any(t.counting_from is not None for t in mine)
    assert any(t.status == Status.WAITING and t.sla_paused_since is not None for t in mine)
    everyone = tickets()
    assert any(t.merged_into_id is not None for t in everyone)
    assert any(t.is_open and t.assignee_id is None for t in everyone)


def test_teams_have_leads_and_members(seeded) -> None:
    teams = list(db.session.scalars(select(Team)))
    assert len(teams) == TEAMS["small"]
    for team in teams:
        assert db.session.get(User, team.lead_id).role == "lead"
        members = db.session.scalars(
            select(TeamMember.user_id).where(TeamMember.team_id == team.id)
        )
        roles = {db.session.get(User, m).role for m in members}
        assert "handler" in roles
    team_ids = {t.id for t in teams}
    assert all(t.team_id in team_ids for t in tickets() if t.team_id is not None)


def test_every_ticket_has_its_history(seeded) -> None:
    first = dict(
        db.session.execute(
            select(TicketEvent.ticket_id, func.min(TicketEvent.id)).group_by(TicketEvent.ticket_id)
        ).all()
    )
    assert len(first) == len(tickets())
    created = {
        e.ticket_id: e
        for e in db.session.scalars(select(TicketEvent).where(TicketEvent.action == "created"))
    }
    for ticket in tickets():
        assert created[ticket.id].id == first[ticket.id]
        assert created[ticket.id].data["reference"] == ticket.reference
    actions = set(db.session.scalars(select(TicketEvent.action).distinct()))
    assert {"assigned", "status", "resolution", "note", "response", "clock.extended"} <= actions
    bodies = list(
        db.session.scalars(
            select(TicketEvent.body).where(TicketEvent.action.in_(("note", "response")))
        )
    )
    assert any(any(is_cjk(c) for c in b) for b in bodies)
    assert any(b.isascii() for b in bodies)


def test_a_new_intake_continues_the_reference_sequence(seeded) -> None:
    references = [t.reference for t in tickets()]
    assert len(set(references)) == len(references)
    highest: dict[tuple[str, int], int] = {}
    for reference in references:
        prefix, year, number = REFERENCE.match(reference).groups()
        key = (prefix, int(year))
        highest[key] = max(highest.get(key, 0), int(number))
    counters = {(c.prefix, c.year): c.last for c in db.session.scalars(select(ReferenceCounter))}
    assert counters == highest

    handler = db.session.scalar(select(User).where(User.email == DEMO_HANDLER_EMAIL))
    ticket = make_ticket(
        actor_for(handler), subject="Annual fee charged twice", channel_code="A0302"
    )
    year = as_utc(ticket.received_at).astimezone(deadlines.clock_settings().zone).year
    assert ticket.reference == f"CMP-{year}-{highest.get(('CMP', year), 0) + 1:06d}"
    assert ticket.reference not in references


def test_the_demo_has_reply_templates_inbound_email_and_a_held_submission(seeded) -> None:
    from portal.tickets.models import HeldSubmission, InboundMail, ReplyTemplate

    assert db.session.scalar(select(func.count(ReplyTemplate.id))) == 4
    states = Counter(db.session.scalars(select(InboundMail.status)))
    assert states == {"opened": 1, "automatic": 1, "quarantined": 1}
    (emailed,) = db.session.scalars(select(Ticket).where(Ticket.source == "email"))
    assert emailed.prospect_id is not None
    (held,) = db.session.scalars(select(HeldSubmission))
    assert (held.status, held.trap, held.kind) == ("held", "too_fast", "complaint")
    assert not db.session.scalar(select(Ticket.id).where(Ticket.description == held.description))


def test_breached_and_warned_open_tickets_have_the_clock_watchs_notifications(seeded) -> None:
    """The bell is honest from the start: each open ticket the seed shows as warned or
    breached has the notification the clock watch writes, under the job's own key, and the
    job run at the seed's moment finds nothing left to do."""
    from portal.tickets.assignment import lead_of
    from portal.tickets.jobs import clock_watch
    from portal.tickets.models import Notification

    # The seed's moment: staff beyond the demo accounts are created at it.
    seeded_at = as_utc(
        db.session.scalar(select(User.created_at).where(User.email.like("%@staff.example.com")))
    )
    keys = set(db.session.scalars(select(Notification.key)))
    running = [t for t in tickets() if t.is_open and t.paused_since is None]
    breached = [t for t in running if as_utc(t.due_at) <= seeded_at]
    assert len(breached) >= 5
    for ticket in breached:
        assert ticket.escalated_at is not None, ticket.reference
        due = as_utc(ticket.due_at).isoformat()
        for lead in lead_of(ticket):
            assert f"clock.breached:{ticket.id}:{due}:{lead}" in keys, ticket.reference
    for ticket in running:
        if as_utc(ticket.warn_at) <= seeded_at:
            due = as_utc(ticket.due_at).isoformat()
            for user_id in [ticket.assignee_id] if ticket.assignee_id else lead_of(ticket):
                assert f"clock.warning:{ticket.id}:{due}:{user_id}" in keys, ticket.reference
    lead = db.session.scalar(select(User).where(User.email == "lead@demo.example.com"))
    assert any(k.startswith("clock.breached:") and k.endswith(f":{lead.id}") for k in keys)

    before = db.session.scalar(select(func.count(Notification.id)))
    assert clock_watch(as_of=seeded_at) == {"warned": 0, "escalated": 0}
    assert db.session.scalar(select(func.count(Notification.id))) == before
