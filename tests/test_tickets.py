"""Tickets: intake, status, regulatory clocks, SLA, assignment, notes, merging, locking."""

import threading
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from unittest.mock import patch

import pytest
from flask_babel import format_datetime
from sqlalchemy import func, select

from portal.accounts.services import actor_for
from portal.core.errors import Conflict, PermissionDenied, ValidationFailed
from portal.core.extensions import db as _db
from portal.tickets import access, assignment, clock_changes, merging, services, versions
from portal.tickets.channels import notices
from portal.tickets.events import events_of
from portal.tickets.models import Notification, Team, TeamMember, Ticket
from tests.factories import make_actor, make_customer, make_ticket, make_user

SHANGHAI_10AM_0920 = datetime(2026, 9, 20, 2, 0, tzinfo=UTC)


def at(moment):
    """Run the use cases as if it were `moment` (clocks read utc_now)."""
    stack = ExitStack()
    for module in ("services", "clock_changes"):
        stack.enter_context(patch(f"portal.tickets.{module}.utc_now", return_value=moment))
    return stack


def actions(ticket):
    return [e.action for e in reversed(events_of(ticket.id))]


@pytest.fixture
def handler(db):
    return make_actor("handler", name="Hana Handler")


@pytest.fixture
def lead(db):
    return make_actor("lead", name="Lei Lead")


# ---------------------------------------------------------------- intake


def test_a_complaint_gets_a_reference_and_cn_deadlines(handler):
    first = make_ticket(handler, received_at=SHANGHAI_10AM_0920)
    second = make_ticket(handler, received_at=SHANGHAI_10AM_0920)
    feedback = make_ticket(handler, kind="feedback", received_at=SHANGHAI_10AM_0920)
    assert first.reference == "CMP-2026-000001"
    assert second.reference == "CMP-2026-000002"
    assert feedback.reference == "FBK-2026-000001"
    # 15 days from 09-21 end on 10-05, inside the National Day break: rolls to 10-08.
    assert first.due_at == datetime(2026, 10, 8, 16, 0, tzinfo=UTC)
    assert first.profile == "CN" and first.status == "new" and first.is_open
    start = first.received_at
    assert first.warn_at == start + (first.due_at - start) * 0.8
    # Feedback has no regulatory clock: its due date is the internal target.
    assert feedback.due_at == feedback.sla_due_at
    assert actions(first) == ["created"]


def test_us_and_uk_profiles_stamp_their_clocks(handler, profile):
    profile("US")
    us = make_ticket(handler, received_at=datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    assert us.profile == "US"
    assert us.due_at == datetime(2026, 3, 17, 16, 0, tzinfo=UTC)  # 15 days, 24:00 Shanghai
    profile("UK")
    # Thursday 2026-04-02; Good Friday 04-03 and Easter Monday 04-06 are bank holidays.
    uk = make_ticket(handler, received_at=datetime(2026, 4, 2, 9, 0, tzinfo=UTC))
    assert uk.profile == "UK"
    # Three business days after receipt: Tue 7, Wed 8, Thu 9 April.
    assert uk.summary_due_at == datetime(2026, 4, 9, 16, 0, tzinfo=UTC)
    assert uk.due_at == datetime(2026, 5, 28, 16, 0, tzinfo=UTC)  # 8 weeks


def test_the_profile_stays_with_the_ticket_when_the_deployment_changes(handler, profile):
    ticket = make_ticket(handler)
    profile("US")
    # A CN ticket keeps CN rules: its clock may still pause for an appraisal.
    ticket = clock_changes.pause_clock(
        handler, ticket.id, ticket.version, "lab test", "we told them"
    )
    assert ticket.profile == "CN" and ticket.paused_since is not None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"cause_code": "C77"}, "cause_code"),
        ({"channel_code": "B01"}, "channel_code"),  # a code from another axis
        ({"subject": ""}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"description": "x" * 20_001}, "description"),
        ({"kind": "rant"}, "kind"),
        ({"severity": "apocalyptic"}, "severity"),
        ({"received_at": datetime(2099, 1, 1, tzinfo=UTC)}, "received_at"),
        ({"request": "a\x00b"}, "request"),
        ({"customer_id": 987654}, "customer_id"),
        ({"assignee_id": 987654}, "assignee_id"),
    ],
)
def test_bad_intake_is_refused_and_nothing_saved(handler, overrides, field):
    before = _db.session.scalar(select(func.count()).select_from(Ticket))
    with pytest.raises(ValidationFailed) as refused:
        make_ticket(handler, **overrides)
    assert refused.value.field == field
    _db.session.rollback()
    assert _db.session.scalar(select(func.count()).select_from(Ticket)) == before


def test_an_rm_registers_complaints_only_for_their_own_customers(db):
    rm = make_user(role="rm")
    other = make_customer(owner_id=make_user(role="rm").id)
    mine = make_customer(owner_id=rm.id)
    ticket = make_ticket(actor_for(rm), customer_id=mine.id)
    assert ticket.registered_by_id == rm.id
    with pytest.raises(PermissionDenied):
        make_ticket(actor_for(rm), customer_id=other.id)


# ---------------------------------------------------------------- status


def test_a_new_ticket_cannot_be_closed(handler):
    ticket = make_ticket(handler)
    with pytest.raises(ValidationFailed, match="cannot become"):
        services.change_status(handler, ticket.id, ticket.version, "closed")
    _db.session.rollback()
    assert _db.session.get(Ticket, ticket.id).status == "new"


def test_the_whole_lifecycle_with_reopen(handler):
    ticket = make_ticket(handler)
    for status in ("acknowledged", "in_progress", "waiting_on_customer", "in_progress"):
        ticket = services.change_status(handler, ticket.id, ticket.version, status)
    assert ticket.acknowledged_at is not None
    with pytest.raises(ValidationFailed):  # resolving needs the resolution
        services.change_status(handler, ticket.id, ticket.version, "resolved")
    _db.session.rollback()
    ticket = services.change_status(
        handler,
        ticket.id,
        ticket.version,
        "resolved",
        resolution="Fee refunded; the customer accepted.",
        remedies=["review", "mediation"],
    )
    assert ticket.remedies_told == ["review", "mediation"] and not ticket.is_open
    with pytest.raises(ValidationFailed, match="decision"):  # not before the decision notice
        services.change_status(handler, ticket.id, ticket.version, "closed")
    _db.session.rollback()
    notices.record_notice(handler, ticket.id, ticket.version, "decision", "post", "Letter sent.")
    ticket = services.change_status(handler, ticket.id, ticket.version, "closed")
    assert ticket.closed_at is not None
    with pytest.raises(ValidationFailed):  # reopening needs a reason
        services.change_status(handler, ticket.id, ticket.version, "in_progress")
    _db.session.rollback()
    ticket = services.change_status(
        handler, ticket.id, ticket.version, "in_progress", reason="Customer disputes"
    )
    assert ticket.is_open and ticket.closed_at is None
    events = [e for e in events_of(ticket.id) if e.action == "status"]
    assert events[0].data == {"from": "closed", "to": "in_progress"}
    assert events[0].reason == "Customer disputes"


def test_withdrawal_ends_handling_and_needs_a_reason(handler):
    ticket = make_ticket(handler)
    with pytest.raises(ValidationFailed):
        services.change_status(handler, ticket.id, ticket.version, "withdrawn")
    _db.session.rollback()
    ticket = services.change_status(
        handler, ticket.id, ticket.version, "withdrawn", reason="Customer called to withdraw"
    )
    assert ticket.status == "withdrawn" and not ticket.is_open
    with pytest.raises(ValidationFailed):
        services.change_status(handler, ticket.id, ticket.version, "in_progress", reason="x")


def test_waiting_on_the_customer_pauses_the_internal_target_only(handler):
    ticket = make_ticket(
        handler, severity="high", received_at=datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    )
    sla, due = ticket.sla_due_at, ticket.due_at
    # Monday 2026-11-02 09:00 Shanghai + 24 business hours (9 a day) = Wednesday 15:00.
    assert sla == datetime(2026, 11, 4, 7, 0, tzinfo=UTC)
    with at(datetime(2026, 11, 2, 2, 0, tzinfo=UTC)):  # Mon 10:00
        ticket = services.change_status(handler, ticket.id, ticket.version, "acknowledged")
        ticket = services.change_status(handler, ticket.id, ticket.version, "waiting_on_customer")
    with at(datetime(2026, 11, 3, 2, 0, tzinfo=UTC)):  # Tue 10:00: 9 business hours later
        ticket = services.change_status(handler, ticket.id, ticket.version, "in_progress")
    assert ticket.sla_paused_hours == pytest.approx(9.0)
    assert ticket.sla_due_at == datetime(2026, 11, 5, 7, 0, tzinfo=UTC)  # a day later
    assert ticket.due_at == due  # the regulatory clock does not pause for this


# ---------------------------------------------------------------- clocks


def test_cn_extensions_need_reason_notice_and_a_senior_for_the_second(handler, lead):
    ticket = make_ticket(handler, received_at=SHANGHAI_10AM_0920)
    with at(datetime(2026, 9, 25, 2, 0, tzinfo=UTC)):  # within the 15 days
        with pytest.raises(ValidationFailed):  # no notice to the customer
            clock_changes.extend_clock(handler, ticket.id, ticket.version, "complex case", "")
        _db.session.rollback()
        with pytest.raises(ValidationFailed):  # no reason
            clock_changes.extend_clock(handler, ticket.id, ticket.version, "", "We need more time")
        _db.session.rollback()
        ticket = clock_changes.extend_clock(
            handler, ticket.id, ticket.version, "complex case", "We need up to 30 days."
        )
        assert ticket.extensions == 1
        assert ticket.due_at == datetime(2026, 10, 20, 16, 0, tzinfo=UTC)  # 09-20 + 30 days
        with pytest.raises(ValidationFailed, match="lead or admin"):
            clock_changes.extend_clock(
                handler, ticket.id, ticket.version, "very complex", "60 days"
            )
        _db.session.rollback()
        ticket = clock_changes.extend_clock(
            lead, ticket.id, ticket.version, "head office review", "Up to 60 days."
        )
        assert ticket.extensions == 2
        assert ticket.due_at == datetime(2026, 11, 19, 16, 0, tzinfo=UTC)
        with pytest.raises(ValidationFailed, match="further"):
            clock_changes.extend_clock(lead, ticket.id, ticket.version, "again", "again")
        _db.session.rollback()
        extended = [e for e in events_of(ticket.id) if e.action == "clock.extended"]
        assert extended[0].data["approver"] == lead.label
        assert [e.reason for e in extended] == ["head office review", "complex case"]
        # No customer, so no email: what was said is recorded as extension notices.
        told = [e.body for e in events_of(ticket.id) if e.action == "notice"]
        assert told == ["Up to 60 days.", "We need up to 30 days."]


def test_cn_appraisal_pause_freezes_the_clock_and_adds_the_days(handler):
    ticket = make_ticket(handler, received_at=datetime(2026, 11, 2, 2, 0, tzinfo=UTC))
    due = ticket.due_at
    with at(datetime(2026, 11, 5, 2, 0, tzinfo=UTC)):
        ticket = clock_changes.pause_clock(
            handler, ticket.id, ticket.version, "Signature appraisal", "We sent it to a lab."
        )
    assert ticket.paused_since is not None and ticket.due_at == due
    with pytest.raises(ValidationFailed, match="already paused"):
        clock_changes.pause_clock(handler, ticket.id, ticket.version, "again", "again")
    _db.session.rollback()
    with at(datetime(2026, 11, 12, 3, 0, tzinfo=UTC)):
        ticket = clock_changes.resume_clock(handler, ticket.id, ticket.version, "Report received")
    assert ticket.paused_days == 7 and ticket.paused_since is None
    assert ticket.due_at > due


def test_us_tickets_cannot_pause_and_extension_marks_in_progress(handler, profile):
    profile("US")
    ticket = make_ticket(handler, received_at=datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    with pytest.raises(ValidationFailed, match="cannot be paused"):
        clock_changes.pause_clock(handler, ticket.id, ticket.version, "appraisal", "")
    _db.session.rollback()
    ticket = clock_changes.extend_clock(handler, ticket.id, ticket.version, "Needs records", "")
    assert ticket.company_response == "In progress"
    assert ticket.due_at == datetime(2026, 5, 1, 16, 0, tzinfo=UTC)  # 60 days
    with pytest.raises(ValidationFailed):
        clock_changes.extend_clock(handler, ticket.id, ticket.version, "more", "")


def test_new_facts_restart_the_cn_clock(handler):
    ticket = make_ticket(handler, received_at=datetime(2026, 11, 2, 2, 0, tzinfo=UTC))
    with at(datetime(2026, 11, 10, 2, 0, tzinfo=UTC)):
        with pytest.raises(ValidationFailed):
            clock_changes.restart_clock(handler, ticket.id, ticket.version, "x", date(2026, 10, 1))
        _db.session.rollback()
        ticket = clock_changes.restart_clock(
            handler, ticket.id, ticket.version, "Bank statements arrived", date(2026, 11, 9)
        )
    assert ticket.counting_from == date(2026, 11, 9)
    assert ticket.due_at == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)


def test_feedback_has_no_regulatory_clock_to_change(handler):
    ticket = make_ticket(handler, kind="feedback")
    with pytest.raises(ValidationFailed, match="regulatory clock"):
        clock_changes.extend_clock(handler, ticket.id, ticket.version, "x", "y")


# ---------------------------------------------------------------- locking, assignment, merge


def test_a_stale_version_is_refused_with_who_and_when(handler, lead):
    ticket = make_ticket(handler)
    stale = ticket.version
    services.change_status(lead, ticket.id, stale, "acknowledged")
    with pytest.raises(Conflict) as refused:
        services.update_details(
            handler,
            ticket.id,
            stale,
            services.DetailsInput(
                subject="Edited",
                channel_code="A01",
                business_code="B01",
                cause_code="C01",
                severity="low",
            ),
        )
    message = str(refused.value.message)
    changed = events_of(ticket.id)[0]
    # Who by name (not the email the event keeps), what, and when in the viewer's zone in the
    # locale's medium format (the default zone outside a request), never a UTC stamp.
    assert message.startswith("Lei Lead changed CMP-") and lead.label not in message
    assert "(Status changed: New → Acknowledged)" in message
    assert format_datetime(changed.occurred_at, "medium") in message and "UTC" not in message
    _db.session.rollback()
    assert _db.session.get(Ticket, ticket.id).subject == "Late fee charged after payment"


def test_details_edits_are_recorded_before_and_after(handler):
    ticket = make_ticket(handler)
    data = services.DetailsInput(
        subject="Late fee",
        channel_code="A0303",
        business_code="B0302",
        cause_code="C08",
        severity="high",
        redress_kind="refund",
        redress_amount="120.50",
        root_cause="Payment posted a day late by the batch job",
    )
    ticket = services.update_details(handler, ticket.id, ticket.version, data)
    edited = next(e for e in events_of(ticket.id) if e.action == "edited")
    assert edited.data["before"]["cause_code"] == "C07"
    assert edited.data["after"]["redress_amount"] == "120.50"
    data.redress_amount = "-5"
    with pytest.raises(ValidationFailed):
        services.update_details(handler, ticket.id, ticket.version, data)


def test_bulk_assignment_notifies_the_assignee_once(handler, lead):
    colleague = make_user(role="handler", name="Colleague")
    tickets = [make_ticket(handler) for _ in range(3)]
    changed = assignment.assign(lead, [t.id for t in tickets], colleague.id, None)
    assert changed == 3
    assert assignment.assign(lead, [t.id for t in tickets], colleague.id, None) == 0
    notes = _db.session.scalars(select(Notification).where(Notification.user_id == colleague.id))
    assert len(list(notes)) == 3
    # A handler cannot take a ticket from a colleague; a lead can.
    with pytest.raises(PermissionDenied):
        assignment.assign(handler, [tickets[0].id], handler.user_id, None)
    _db.session.rollback()
    with pytest.raises(ValidationFailed):  # tickets go to handling staff, not RMs
        assignment.assign(lead, [tickets[0].id], make_user(role="rm").id, None)


def test_only_handlers_assign_at_intake_whoever_calls(handler):
    """The rule lives in create_ticket, so the CLI, imports and the API obey it too."""
    rm = make_user(role="rm")
    customer = make_customer(owner_id=rm.id)
    team = Team(name="Cards")
    _db.session.add(team)
    _db.session.commit()
    with pytest.raises(PermissionDenied, match="assign a ticket at intake"):
        make_ticket(actor_for(rm), customer_id=customer.id, assignee_id=handler.user_id)
    with pytest.raises(PermissionDenied, match="assign a ticket at intake"):
        make_ticket(actor_for(rm), customer_id=customer.id, team_id=team.id)
    assert make_ticket(actor_for(rm), customer_id=customer.id).assignee_id is None
    ticket = make_ticket(handler, assignee_id=handler.user_id, team_id=team.id)
    assert (ticket.assignee_id, ticket.team_id) == (handler.user_id, team.id)


def test_a_bulk_assignment_names_an_assignee_or_a_team(handler, lead):
    ticket = make_ticket(handler)
    with pytest.raises(ValidationFailed, match="assignee or a team"):
        assignment.assign(lead, [ticket.id], None, None)
    with pytest.raises(ValidationFailed, match="at least one"):
        assignment.assign(lead, [], handler.user_id, None)


def test_the_ticket_page_assignment_is_saved_under_the_ticket_version(handler, lead):
    ticket = make_ticket(handler, assignee_id=handler.user_id)
    ticket = assignment.reassign(lead, ticket.id, ticket.version, None, None)
    assert ticket.assignee_id is None  # unassigned: the page may clear it
    with pytest.raises(Conflict, match=r"Lei Lead changed CMP-.*\(Assigned: Nobody\)"):
        assignment.reassign(lead, ticket.id, ticket.version - 1, handler.user_id, None)


def test_merging_a_repeat_closes_it_pointing_here(handler):
    customer = make_customer()
    first = make_ticket(handler, customer_id=customer.id)
    repeat = make_ticket(handler, customer_id=customer.id)
    stranger = make_ticket(handler, customer_id=make_customer().id)
    with pytest.raises(ValidationFailed, match="same customer"):
        merging.merge(handler, first.id, stranger.reference, "repeat")
    _db.session.rollback()
    with pytest.raises(ValidationFailed, match="itself"):
        merging.merge(handler, first.id, first.reference, "repeat")
    _db.session.rollback()
    merging.merge(handler, first.id, repeat.reference.lower(), "Called again about it")
    repeat = _db.session.get(Ticket, repeat.id)
    assert repeat.merged_into_id == first.id and repeat.status == "closed"
    assert "merged.from" in actions(first) and "merged.into" in actions(repeat)
    with pytest.raises(ValidationFailed):  # merged tickets are worked on the other one
        services.change_status(handler, repeat.id, repeat.version, "in_progress", reason="x")


def test_notes_are_internal_and_responses_customer_facing(db):
    rm = make_user(role="rm")
    ticket = make_ticket(actor_for(rm), customer_id=make_customer(owner_id=rm.id).id)
    services.add_note(actor_for(rm), ticket.id, "Customer sounded upset")
    with pytest.raises(PermissionDenied):  # an RM writes notes, handlers answer the customer
        services.add_note(actor_for(rm), ticket.id, "Refund approved", customer_facing=True)
    assert actions(ticket) == ["created", "note"]


def test_an_rm_cannot_open_another_rms_customers_ticket(db):
    handler = make_actor("handler")
    ticket = make_ticket(handler, customer_id=make_customer(owner_id=make_user(role="rm").id).id)
    with pytest.raises(PermissionDenied):
        access.get_ticket(make_actor("rm"), ticket.id)


# ---------------------------------------------------------------- the clock watch


def test_the_clock_watch_warns_escalates_once_and_rearms(app, handler, lead):
    from portal.tickets.jobs import clock_watch

    team = Team(name="Cards", lead_id=lead.user_id)
    _db.session.add(team)
    _db.session.flush()
    _db.session.add(TeamMember(team_id=team.id, user_id=handler.user_id))
    _db.session.commit()
    received = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    ticket = make_ticket(
        handler, received_at=received, assignee_id=handler.user_id, team_id=team.id
    )
    before_warning = ticket.warn_at - timedelta(minutes=1)
    assert clock_watch(before_warning) == {"warned": 0, "escalated": 0}
    assert clock_watch(ticket.warn_at) == {"warned": 1, "escalated": 0}
    assert clock_watch(ticket.warn_at) == {"warned": 0, "escalated": 0}
    # An extension, decided within the period, gives a new deadline, watched afresh.
    first_due = ticket.due_at
    ticket = _db.session.get(Ticket, ticket.id)
    with at(ticket.warn_at + timedelta(hours=1)):
        clock_changes.extend_clock(handler, ticket.id, ticket.version, "complex", "30 days")
    ticket = _db.session.get(Ticket, ticket.id)
    assert ticket.warned_at is None and ticket.escalated_at is None
    assert clock_watch(first_due + timedelta(minutes=1)) == {"warned": 0, "escalated": 0}
    assert clock_watch(ticket.warn_at) == {"warned": 1, "escalated": 0}
    after_due = ticket.due_at + timedelta(minutes=1)
    assert clock_watch(after_due) == {"warned": 0, "escalated": 1}
    assert clock_watch(after_due) == {"warned": 0, "escalated": 0}
    kinds = {
        (n.user_id, n.kind)
        for n in _db.session.scalars(
            select(Notification).where(Notification.ticket_id == ticket.id)
        )
    }
    assert kinds == {(handler.user_id, "clock.warning"), (lead.user_id, "clock.breached")}
    watch_events = [a for a in actions(ticket) if a.startswith("clock.") and a != "clock.extended"]
    assert watch_events == ["clock.warning", "clock.warning", "clock.breached"]


def test_a_stopped_clock_watch_leaves_the_next_batch_to_the_next_run(handler, monkeypatch):
    from portal.tickets import jobs

    first, second = make_ticket(handler), make_ticket(handler)
    now = max(first.warn_at, second.warn_at)
    monkeypatch.setattr(jobs, "BATCH", 1)
    stop = threading.Event()
    sweep_batch = jobs._sweep_batch

    def mark_then_stop(*args, **kwargs):
        stop.set()  # SIGTERM arrives while the first batch is marked
        return sweep_batch(*args, **kwargs)

    monkeypatch.setattr(jobs, "_sweep_batch", mark_then_stop)
    assert jobs.clock_watch(now, stop) == {"warned": 1, "escalated": 0, "stopped": True}
    monkeypatch.setattr(jobs, "_sweep_batch", sweep_batch)
    assert jobs.clock_watch(now) == {"warned": 1, "escalated": 0}
    _db.session.expire_all()
    assert all(_db.session.get(Ticket, t.id).warned_at for t in (first, second))


def test_the_clock_watch_skips_paused_and_closed_tickets(handler):
    from portal.tickets.jobs import clock_watch

    paused = make_ticket(handler)
    clock_changes.pause_clock(handler, paused.id, paused.version, "appraisal", "told")
    closed = make_ticket(handler)
    services.change_status(handler, closed.id, closed.version, "withdrawn", reason="gone")
    far = datetime.now(UTC) + timedelta(days=400)
    assert clock_watch(far) == {"warned": 0, "escalated": 0}


def test_clock_watch_is_registered_as_a_job(runner, handler):
    """`flask jobs once tickets.clock_watch --at …` replays the watch as of that instant."""
    from portal.jobs.models import JobRun

    ticket = make_ticket(handler, received_at=datetime(2026, 11, 2, 2, 0, tzinfo=UTC))
    at_breach = (ticket.due_at + timedelta(hours=1)).isoformat()
    result = runner.invoke(args=["jobs", "once", "tickets.clock_watch", "--at", at_breach])
    assert result.exit_code == 0, result.output
    run = _db.session.scalars(select(JobRun).where(JobRun.job_id == "tickets.clock_watch")).one()
    assert run.outcome == "succeeded"
    _db.session.expire_all()
    assert "clock.breached" in actions(_db.session.get(Ticket, ticket.id))


def test_a_save_racing_another_is_refused_not_lost(handler, lead):
    """Both handlers read version N and pass the version check; the second UPDATE finds the row
    at N+1 (SQLAlchemy's version counter), so it is refused and the first change stays."""
    from sqlalchemy import update

    ticket = make_ticket(handler)
    real_locked = versions.locked_for_change

    def read_then_lose_the_race(actor, ticket_id, version):
        found = real_locked(actor, ticket_id, version)
        # The other handler's save lands between our read and our write.
        _db.session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id)
            .values(version=Ticket.version + 1, subject="The other handler's subject")
            .execution_options(synchronize_session=False)
        )
        return found

    with (
        patch("portal.tickets.services.locked_for_change", read_then_lose_the_race),
        pytest.raises(Conflict, match="Check the change, then try again"),
    ):
        services.change_status(handler, ticket.id, ticket.version, "acknowledged")
    _db.session.expire_all()
    assert _db.session.get(Ticket, ticket.id).status == "new"
