"""The clock accepts only the changes the rules provide for: no extension or pause once the
deadline has passed, a late US "in progress" recorded as untimely with its breach kept, a
restart that ends a pause explicitly, never goes back and drops an old extension, and closing
that stops every clock — by the use cases, and on the ticket page (docs/regulation.md)."""

import re
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from portal.accounts.services import actor_for
from portal.core.errors import ValidationFailed
from portal.core.extensions import db as _db
from portal.messaging.models import Message
from portal.tickets import clock_changes, merging, services
from portal.tickets.channels import notices
from portal.tickets.events import events_of
from portal.tickets.jobs import clock_watch
from portal.tickets.models import Notification, Team, Ticket
from tests.factories import make_actor, make_customer, make_ticket

# Received 10:00 in Shanghai on 2 November 2026: the 15 days end with Tuesday 17 November.
CN_RECEIVED = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
CN_DUE = datetime(2026, 11, 17, 16, 0, tzinfo=UTC)  # 24:00 of 17 November in Shanghai
# A US complaint received 2 March 2026: 15 days to 17 March, 60 to 1 May (deployment zone).
US_RECEIVED = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
US_DUE = datetime(2026, 3, 17, 16, 0, tzinfo=UTC)
US_FINAL = datetime(2026, 5, 1, 16, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(moment):
    """Run the use cases as if it were `moment` (they read utc_now)."""
    stack = ExitStack()
    for module in ("services", "clock_changes", "merging"):
        stack.enter_context(patch(f"portal.tickets.{module}.utc_now", return_value=moment))
    return stack


def fresh(ticket_id):
    _db.session.expire_all()
    return _db.session.get(Ticket, ticket_id)


def actions(ticket):
    return [e.action for e in reversed(events_of(ticket.id))]


def outbox(ticket):
    return [
        m.template_key
        for m in _db.session.scalars(
            select(Message).where(Message.source_id == str(ticket.id)).order_by(Message.id)
        )
    ]


@pytest.fixture
def handler(db):
    return make_actor("handler", name="Hana Handler")


@pytest.fixture
def desk(handler):
    """A US desk whose lead takes its escalations: (team, lead)."""
    lead = make_actor("lead", name="Lei Lead")
    team = Team(name="US desk", lead_id=lead.user_id)
    _db.session.add(team)
    _db.session.commit()
    return team, lead


def refused(call, *args, **kwargs) -> str:
    """The message of the ValidationFailed `call` raises, after the rollback a refused
    request ends with."""
    with pytest.raises(ValidationFailed) as error:
        call(*args, **kwargs)
    _db.session.rollback()
    return str(error.value.message)


# ---------------------------------------------------------------- 1. too late to extend or pause


def test_a_cn_extension_after_the_deadline_is_refused_with_its_last_day(handler):
    ticket = make_ticket(handler, received_at=CN_RECEIVED)
    assert ticket.due_at == CN_DUE
    version = ticket.version
    with at(CN_DUE + timedelta(minutes=1)):
        message = refused(
            clock_changes.extend_clock, handler, ticket.id, version, "Complex", "30 days"
        )
    assert "Nov 17, 2026" in message and "within the period" in message
    ticket = fresh(ticket.id)
    assert (ticket.extensions, ticket.due_at, ticket.version) == (0, CN_DUE, version)
    assert "clock.extended" not in actions(ticket) and "notice" not in actions(ticket)
    # The same request a minute before the end of the last day is granted.
    with at(CN_DUE - timedelta(minutes=1)):
        ticket = clock_changes.extend_clock(handler, ticket.id, version, "Complex", "30 days")
    assert ticket.extensions == 1


def test_the_second_cn_extension_is_refused_once_the_30_days_have_run_out(handler):
    lead = make_actor("lead")
    ticket = make_ticket(handler, received_at=CN_RECEIVED)
    with at(CN_RECEIVED + timedelta(days=3)):
        ticket = clock_changes.extend_clock(handler, ticket.id, None, "Complex", "30 days")
    thirty = ticket.due_at
    with at(thirty + timedelta(hours=1)):
        message = refused(clock_changes.extend_clock, lead, ticket.id, None, "Very", "60 days")
    last_day = (thirty - timedelta(seconds=1)).astimezone(SHANGHAI).date()
    assert f"{last_day:%b} {last_day.day}, {last_day.year}" in message
    assert fresh(ticket.id).extensions == 1


def test_a_pause_after_the_deadline_is_refused_in_both_languages(handler):
    ticket = make_ticket(handler, received_at=CN_RECEIVED)
    with at(CN_DUE + timedelta(days=2)):
        message = refused(
            clock_changes.pause_clock, handler, ticket.id, None, "Appraisal", "Sent to a lab"
        )
        with force_locale("zh_Hans"):
            zh = refused(
                clock_changes.pause_clock, handler, ticket.id, None, "Appraisal", "Sent to a lab"
            )
    assert "Nov 17, 2026" in message and "breached clock" in message
    assert "2026年11月17日" in zh and re.search(r"[\u4e00-\u9fff]", zh), zh
    ticket = fresh(ticket.id)
    assert ticket.paused_since is None and ticket.due_at == CN_DUE
    assert "clock.paused" not in actions(ticket)


def test_a_paused_clock_is_judged_by_the_deadline_it_has_on_resuming(handler):
    """Paused on day 10, the stored deadline (day 15) is not the end: the clock stands still,
    so on day 20 an extension is still decided within the period."""
    ticket = make_ticket(handler, received_at=CN_RECEIVED)
    with at(CN_RECEIVED + timedelta(days=10)):
        ticket = clock_changes.pause_clock(handler, ticket.id, None, "Appraisal", "Sent away")
    with at(CN_RECEIVED + timedelta(days=20)):
        ticket = clock_changes.extend_clock(handler, ticket.id, None, "Complex", "30 days")
    assert ticket.extensions == 1 and ticket.paused_since is not None


# ---------------------------------------------------------------- 2. a late US "in progress"


def _breach_keys(ticket):
    return sorted(
        n.key
        for n in _db.session.scalars(
            select(Notification).where(
                Notification.ticket_id == ticket.id, Notification.kind == "clock.breached"
            )
        )
    )


def test_a_late_us_in_progress_is_untimely_and_keeps_the_breach(handler, desk, profile):
    profile("US")
    team, _lead = desk
    ticket = make_ticket(
        handler, received_at=US_RECEIVED, assignee_id=handler.user_id, team_id=team.id
    )
    assert ticket.due_at == US_DUE
    assert clock_watch(ticket.warn_at)["warned"] == 1
    assert clock_watch(US_DUE + timedelta(minutes=5))["escalated"] == 1
    with at(US_DUE + timedelta(days=3)):
        ticket = clock_changes.extend_clock(handler, ticket.id, None, "Needs records", "")
    ticket = fresh(ticket.id)
    assert ticket.company_response == "In progress" and ticket.timely is False
    assert ticket.due_at == US_FINAL  # the 60-day final response still runs
    (extended,) = [e for e in events_of(ticket.id) if e.action == "clock.extended"]
    assert extended.data["timely"] is False
    # No second 80 % warning as if the period were new and on time ...
    assert ticket.warned_at is not None
    assert clock_watch(ticket.warn_at) == {"warned": 0, "escalated": 0}
    # ... but a breach of the final-response deadline escalates again.
    assert clock_watch(US_FINAL + timedelta(minutes=5)) == {"warned": 0, "escalated": 1}
    assert len(_breach_keys(ticket)) == 2
    assert actions(ticket).count("clock.warning") == 1


def test_a_late_us_in_progress_escalates_a_breach_the_watch_had_not_reached(handler, desk, profile):
    profile("US")
    team, lead = desk
    ticket = make_ticket(handler, received_at=US_RECEIVED, team_id=team.id)
    with at(US_DUE + timedelta(minutes=2)):  # before the watch's next run
        clock_changes.extend_clock(handler, ticket.id, None, "Needs records", "")
    ticket = fresh(ticket.id)
    history = actions(ticket)
    assert history.index("clock.breached") < history.index("clock.extended")
    (breach,) = [e for e in events_of(ticket.id) if e.action == "clock.breached"]
    assert breach.data["due_at"] == US_DUE.isoformat()
    assert _breach_keys(ticket) == [
        f"clock.breached:{ticket.id}:{US_DUE.isoformat()}:{lead.user_id}"
    ]
    # The watch replayed at the old deadline finds nothing to add.
    assert clock_watch(US_DUE + timedelta(minutes=5)) == {"warned": 0, "escalated": 0}
    assert len(_breach_keys(ticket)) == 1


def test_an_in_progress_within_15_days_is_timely_and_rearms_the_watch(handler, profile):
    profile("US")
    ticket = make_ticket(handler, received_at=US_RECEIVED, assignee_id=handler.user_id)
    assert clock_watch(ticket.warn_at)["warned"] == 1
    with at(US_DUE - timedelta(hours=1)):
        clock_changes.extend_clock(handler, ticket.id, None, "Needs records", "")
    ticket = fresh(ticket.id)
    assert ticket.timely is True and ticket.warned_at is None
    assert clock_watch(ticket.warn_at)["warned"] == 1


def test_a_us_response_resolved_late_is_untimely_and_on_time_timely(handler, profile):
    profile("US")
    late = make_ticket(handler, received_at=US_RECEIVED)
    ok = make_ticket(handler, received_at=US_RECEIVED)
    for ticket, moment in ((late, US_DUE + timedelta(days=1)), (ok, US_DUE - timedelta(days=1))):
        with at(moment):
            services.change_status(
                handler,
                ticket.id,
                None,
                "in_progress",
            )
            services.change_status(
                handler,
                ticket.id,
                None,
                "resolved",
                resolution="Fee refunded.",
                company_response="Closed with monetary relief",
            )
    assert fresh(late.id).timely is False and fresh(ok.id).timely is True
    assert make_ticket(handler).timely is None  # not answered yet


# ---------------------------------------------------------------- 3-5. restarts


def test_a_restart_while_paused_ends_the_pause_as_a_resume_first(handler):
    customer = make_customer(email="mei@mail.example.com")
    ticket = make_ticket(handler, customer, received_at=CN_RECEIVED)
    with at(CN_RECEIVED + timedelta(days=3)):
        ticket = clock_changes.pause_clock(handler, ticket.id, None, "Appraisal", "Sent away")
    with at(CN_RECEIVED + timedelta(days=8)):
        ticket = clock_changes.restart_clock(
            handler, ticket.id, None, "Bank statements arrived", date(2026, 11, 9)
        )
    ticket = fresh(ticket.id)
    assert ticket.paused_since is None and ticket.paused_days == 0
    assert ticket.due_at == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # 9 Nov + 15 days
    clock_events = [a for a in actions(ticket) if a.startswith("clock.")]
    assert clock_events == ["clock.paused", "clock.resumed", "clock.restarted"]
    resumed = next(e for e in events_of(ticket.id) if e.action == "clock.resumed")
    assert resumed.data["ended_by"] == "clock.restarted"
    assert resumed.data["paused_days"] == 5 and resumed.reason == "Bank statements arrived"
    # The complainant is told the pause ended, as on a resume.
    assert outbox(ticket) == ["ticket_pause_cn", "ticket_resume_cn"]


def test_a_restart_earlier_than_the_last_one_is_refused(handler):
    ticket = make_ticket(handler, received_at=CN_RECEIVED)
    with at(CN_RECEIVED + timedelta(days=10)):
        ticket = clock_changes.restart_clock(
            handler, ticket.id, None, "Receipts", date(2026, 11, 9)
        )
        due = ticket.due_at
        message = refused(
            clock_changes.restart_clock, handler, ticket.id, None, "Older", date(2026, 11, 5)
        )
        assert "Nov 9, 2026" in message
        ticket = fresh(ticket.id)
        assert ticket.counting_from == date(2026, 11, 9) and ticket.due_at == due
        assert actions(ticket).count("clock.restarted") == 1
        # The same day or a later one restarts again.
        ticket = clock_changes.restart_clock(handler, ticket.id, None, "More", date(2026, 11, 11))
    assert ticket.due_at == datetime(2026, 11, 26, 16, 0, tzinfo=UTC)


def test_a_restart_counts_the_base_15_days_and_the_extension_is_asked_again(handler):
    ticket = make_ticket(handler, received_at=CN_RECEIVED)
    with at(CN_RECEIVED + timedelta(days=2)):
        ticket = clock_changes.extend_clock(handler, ticket.id, None, "Complex", "30 days")
    assert ticket.extensions == 1
    with at(CN_RECEIVED + timedelta(days=10)):
        ticket = clock_changes.restart_clock(
            handler, ticket.id, None, "Statements", date(2026, 11, 9)
        )
        assert ticket.extensions == 0
        assert ticket.due_at == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # 15, not 30
        (restart,) = [e for e in events_of(ticket.id) if e.action == "clock.restarted"]
        assert restart.data["extensions_before"] == 1
        # Asked again, with its reason and notice, it counts 30 days from the new facts.
        ticket = clock_changes.extend_clock(handler, ticket.id, None, "Still complex", "30 d")
    assert ticket.due_at == datetime(2026, 12, 9, 16, 0, tzinfo=UTC)


# ---------------------------------------------------------------- 6. handling ends, clocks stop


def test_resolving_a_paused_ticket_ends_the_pause_with_an_event(handler):
    ticket = make_ticket(handler, received_at=CN_RECEIVED)
    with at(CN_RECEIVED + timedelta(days=3)):
        ticket = clock_changes.pause_clock(handler, ticket.id, None, "Appraisal", "Sent away")
    with at(CN_RECEIVED + timedelta(days=7)):
        services.change_status(handler, ticket.id, None, "in_progress")
        services.change_status(handler, ticket.id, None, "resolved", resolution="Refunded.")
    ticket = fresh(ticket.id)
    assert ticket.paused_since is None and ticket.paused_days == 4
    assert ticket.due_at == datetime(2026, 11, 21, 16, 0, tzinfo=UTC)  # 17 Nov + 4 paused days
    (stopped,) = [e for e in events_of(ticket.id) if e.action == "clock.stopped"]
    assert stopped.data["paused_days"] == 4 and stopped.data["due_before"] == CN_DUE.isoformat()
    # Reopened, the clock runs on from there, not paused.
    with at(CN_RECEIVED + timedelta(days=8)):
        ticket = services.change_status(handler, ticket.id, None, "in_progress", reason="More")
    assert ticket.is_open and ticket.paused_since is None


def test_withdrawing_while_paused_and_waiting_stops_both_clocks(handler):
    ticket = make_ticket(handler, received_at=CN_RECEIVED)
    with at(CN_RECEIVED + timedelta(days=1)):
        services.change_status(handler, ticket.id, None, "acknowledged")
        services.change_status(handler, ticket.id, None, "waiting_on_customer")
        clock_changes.pause_clock(handler, ticket.id, None, "Appraisal", "Sent away")
    with at(CN_RECEIVED + timedelta(days=4)):
        services.change_status(handler, ticket.id, None, "withdrawn", reason="Withdrawn")
    ticket = fresh(ticket.id)
    assert ticket.paused_since is None and ticket.sla_paused_since is None
    assert "clock.stopped" in actions(ticket)


def test_a_repeat_merged_while_paused_and_waiting_stops_its_clocks(handler):
    customer = make_customer()
    keeper = make_ticket(handler, customer, received_at=CN_RECEIVED)
    repeat = make_ticket(handler, customer, received_at=CN_RECEIVED)
    with at(CN_RECEIVED + timedelta(days=1)):
        services.change_status(handler, repeat.id, None, "acknowledged")
        services.change_status(handler, repeat.id, None, "waiting_on_customer")
        clock_changes.pause_clock(handler, repeat.id, None, "Appraisal", "Sent away")
    with at(CN_RECEIVED + timedelta(days=2)):
        merging.merge(handler, keeper.id, repeat.reference, "Same complaint")
    repeat = fresh(repeat.id)
    assert not repeat.is_open
    assert repeat.paused_since is None and repeat.sla_paused_since is None
    (stopped,) = [e for e in events_of(repeat.id) if e.action == "clock.stopped"]
    assert stopped.data["sla_paused_since"] and stopped.data["paused_since"]


# ---------------------------------------------------------------- on the ticket page


def _problem(html: str, action: str) -> str:
    """The refusal's message shown beside the form of `action` (focused, role=alert)."""
    found = re.search(rf'<p [^>]*id="problem-{action}"[^>]*>(.*?)</p>', html, re.S)
    assert found, f"no message beside {action}"
    return found.group(1)


def _page_refusal(client, ticket, form, *, htmx):
    before = (ticket.version, ticket.due_at, ticket.extensions, ticket.counting_from)
    events = len(events_of(ticket.id))
    response = client.submit(
        f"/tickets/{ticket.id}/clock", {"version": str(ticket.version), **form}, htmx=htmx
    )
    assert response.status_code == 400, response.text
    after = fresh(ticket.id)
    assert (after.version, after.due_at, after.extensions, after.counting_from) == before
    assert len(events_of(ticket.id)) == events
    return response


def test_the_page_shows_a_late_extension_refused_beside_the_action(client, login_as):
    user = login_as("handler")
    ticket = make_ticket(actor_for(user), received_at=CN_RECEIVED)  # long breached by now
    form = {"action": "extend", "reason": "Needs the recordings", "notice": "We need 30 days."}
    response = _page_refusal(client, ticket, form, htmx=False)
    assert "The deadline ended with Nov 17, 2026" in _problem(response.text, "clock-extend")
    assert 'class="action-details" open' in response.text
    assert 'value="Needs the recordings"' in response.text
    assert "We need 30 days.</textarea>" in response.text
    # From htmx, the page as it now stands is swapped over the old one, the message in place.
    response = _page_refusal(client, ticket, form, htmx=True)
    assert response.headers["HX-Retarget"] == "#ticket-page"
    assert "The deadline ended with Nov 17, 2026" in _problem(response.text, "clock-extend")


def test_the_page_shows_a_late_pause_refused_beside_the_action(client, login_as):
    user = login_as("handler", locale="zh_Hans")
    ticket = make_ticket(actor_for(user), received_at=CN_RECEIVED)
    form = {"action": "pause", "reason": "鉴定", "notice": "已送鉴定", "told_via": "post"}
    response = _page_refusal(client, ticket, form, htmx=False)
    problem = _problem(response.text, "clock-pause")
    assert "2026年11月17日" in problem and "外部鉴定" in problem
    assert fresh(ticket.id).paused_since is None


def test_the_page_shows_an_earlier_restart_refused_beside_the_action(client, login_as):
    user = login_as("handler")
    actor = actor_for(user)
    ticket = make_ticket(actor, received_at=CN_RECEIVED)
    clock_changes.restart_clock(actor, ticket.id, None, "Receipts", date(2026, 11, 20))
    ticket = fresh(ticket.id)
    form = {"action": "restart", "reason": "Older letter", "new_facts_on": "2026-11-10"}
    response = _page_refusal(client, ticket, form, htmx=True)
    assert response.headers["HX-Retarget"] == "#ticket-page"
    assert "already counts from Nov 20, 2026" in _problem(response.text, "clock-restart")
    assert 'value="2026-11-10"' in response.text and 'value="Older letter"' in response.text


def test_a_closed_ticket_shows_no_running_or_paused_clock(client, login_as):
    user = login_as("handler")
    actor = actor_for(user)
    ticket = make_ticket(actor)
    clock_changes.pause_clock(actor, ticket.id, None, "Appraisal", "Sent away")
    page = client.get(f"/tickets/{ticket.id}").text
    assert "Paused since" in page
    services.change_status(actor, ticket.id, None, "in_progress")
    services.change_status(actor, ticket.id, None, "resolved", resolution="Refunded.")
    notices.record_notice(actor, ticket.id, None, "decision", "post", "Letter sent.")
    services.change_status(actor, ticket.id, None, "closed")
    page = client.get(f"/tickets/{ticket.id}").text
    assert "Paused since" not in page and "Clock stopped" in page
    assert not re.search(r"\b(left|overdue)</p>", page)
    assert "Resume the clock" not in page
    # A ticket closed while paused before this rule (its pause never ended) reads the same.
    legacy = make_ticket(actor)
    services.change_status(actor, legacy.id, None, "withdrawn", reason="Gone")
    legacy = fresh(legacy.id)
    legacy.paused_since = legacy.sla_paused_since = datetime.now(UTC)
    _db.session.commit()
    page = client.get(f"/tickets/{legacy.id}").text
    assert "Paused since" not in page and "Paused while waiting" not in page


def test_the_ticket_page_marks_an_untimely_us_response(client, login_as, profile):
    profile("US")
    user = login_as("handler")
    actor = actor_for(user)
    ticket = make_ticket(actor, received_at=US_RECEIVED)
    clock_changes.extend_clock(actor, ticket.id, None, "Needs records", "")  # now, long late
    page = client.get(f"/tickets/{ticket.id}").text
    assert "Untimely response: the first response came after the 15-day deadline." in page
    assert "Untimely response: given after the 15-day deadline" in page  # in the history
