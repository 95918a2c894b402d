"""surveys.plan invites once per closed ticket, sampled RM contact and customer per wave, only
after the programme was switched on, through the contact policy with every held invitation's
reason; reminds once, expires, replays with --at, and the email carries working links."""

import email
import threading
from datetime import UTC, date, datetime, timedelta
from email import policy

import pytest
from sqlalchemy import select, update

from portal.core.extensions import db as _db
from portal.messaging.compose import content_of
from portal.messaging.delivery import deliver_due
from portal.messaging.models import Message
from portal.messaging.transports import SmtpTransport
from portal.surveys.models import SurveyInvitation
from portal.surveys.planner import next_local_hour, plan, sampled, wave_key
from portal.surveys.tokens import token_hash
from tests.factories import (
    make_customer,
    make_interaction,
    make_programme,
    make_ticket,
    make_user,
)
from tests.support.smtp_sink import SmtpSink

# 12:00 in Shanghai on 2 December 2026: no quiet hours for the customers made here.
NOON = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)


def invitations(programme=None):
    _db.session.expire_all()
    query = select(SurveyInvitation).order_by(SurveyInvitation.id)
    if programme is not None:
        query = query.where(SurveyInvitation.programme_id == programme.id)
    return list(_db.session.scalars(query))


def message_of(invitation):
    return _db.session.scalar(select(Message).where(Message.dedupe_key == invitation.message_key))


def closed_ticket(customer, closed_at):
    ticket = make_ticket(customer=customer)
    ticket.is_open = False
    ticket.status = "closed"
    ticket.closed_at = closed_at
    _db.session.commit()
    return ticket


# ---------------------------------------------------------------- closed tickets


def test_a_closed_ticket_is_invited_once_after_the_delay_and_never_before_switch_on(db):
    programme = make_programme(
        send_delay_hours=24, active_since=NOON - timedelta(days=5), name="After closing"
    )
    customer = make_customer(name="Wang Mei", locale="en")
    before_switch_on = closed_ticket(customer, NOON - timedelta(days=6))
    due = closed_ticket(customer, NOON - timedelta(hours=30))
    too_recent = closed_ticket(customer, NOON - timedelta(hours=3))
    open_ticket = make_ticket(customer=make_customer())

    summary = plan(NOON)

    invited = invitations(programme)
    assert [i.ticket_id for i in invited] == [due.id]
    assert {before_switch_on.id, too_recent.id, open_ticket.id}.isdisjoint(
        i.ticket_id for i in invited
    )
    invitation = invited[0]
    assert invitation.dedupe_key == f"p{programme.id}:ticket:{due.id}"
    assert invitation.subject_label == due.reference
    assert invitation.status == "invited" and invitation.customer_id == customer.id
    assert invitation.expires_at == NOON + timedelta(days=14)
    message = message_of(invitation)
    assert message.dedupe_key == f"survey:{invitation.dedupe_key}"
    assert message.purpose == "survey" and not message.transactional
    assert message.template_key == "survey_invite" and message.status == "queued"
    # The outbox keeps the nonce and scale, never the token or the link.
    assert message.context["survey_nonce"] == invitation.nonce
    assert message.context["survey_scale"] == [0, 10]
    assert "/s/" not in str(message.context)
    assert summary["invited"] == {"After closing": 1}

    again = plan(NOON + timedelta(minutes=10))
    assert len(invitations(programme)) == 1
    assert again["invited"] == {} and again["already_invited"] == {"After closing": 1}
    later = plan(NOON + timedelta(hours=22))  # the recent ticket's delay has passed
    assert {i.ticket_id for i in invitations(programme)} == {due.id, too_recent.id}
    # One survey email per customer in 30 days (the default caps): the second one says so.
    assert later["not_sent"] == {"After closing": 1}
    assert invitations(programme)[1].reason == "frequency cap survey: 1/30d reached"


def test_switching_on_never_invites_for_what_happened_while_off(client, login_as, db):
    login_as("lead")
    programme = make_programme(active=False, active_since=None, send_delay_hours=0)
    customer = make_customer()
    closed_ticket(customer, NOON - timedelta(hours=2))  # while the programme was off
    page = client.get(f"/surveys/programmes/{programme.id}/edit")
    assert "Switch on" in page.text
    switched = client.submit(
        f"/surveys/programmes/{programme.id}/toggle",
        {"active": "1", "version": str(programme.version)},
    )
    assert switched.status_code == 303
    _db.session.expire_all()
    assert programme.active and programme.active_since is not None
    plan(programme.active_since + timedelta(minutes=10))
    assert invitations(programme) == []
    later = closed_ticket(customer, programme.active_since + timedelta(minutes=5))
    plan(programme.active_since + timedelta(minutes=20))
    assert [i.ticket_id for i in invitations(programme)] == [later.id]


def test_a_ticket_closed_longer_ago_than_the_expiry_window_is_not_invited(db):
    # A planner stopped for weeks does not flood customers when it starts again.
    programme = make_programme(
        send_delay_hours=24, expiry_days=7, active_since=NOON - timedelta(days=60)
    )
    customer = make_customer()
    closed_ticket(customer, NOON - timedelta(days=9))
    inside = closed_ticket(customer, NOON - timedelta(days=7))
    plan(NOON)
    assert [i.ticket_id for i in invitations(programme)] == [inside.id]


def test_a_customer_held_back_by_the_policy_has_an_invitation_saying_why(client, login_as, db):
    programme = make_programme(name="Held")
    opted_out = make_customer(consent_survey=False, name="Opted Out")
    no_address = make_customer(email=None, name="No Address")
    fine = make_customer(name="Fine")
    for customer in (opted_out, no_address, fine):
        closed_ticket(customer, NOON - timedelta(hours=1))

    summary = plan(NOON)

    by_customer = {i.customer_id: i for i in invitations(programme)}
    assert by_customer[opted_out.id].status == "not_sent"
    assert by_customer[opted_out.id].reason == "no consent for survey messages"
    assert by_customer[no_address.id].status == "not_sent"
    assert by_customer[no_address.id].reason == "no email address"
    assert by_customer[fine.id].status == "invited" and by_customer[fine.id].reason is None
    assert summary["not_sent"] == {"Held": 2}
    assert summary["reasons"] == {"no consent for survey messages": 1, "no email address": 1}

    login_as("lead")
    page = client.get(f"/surveys/programmes/{programme.id}/invitations")
    assert page.status_code == 200
    assert "no consent for survey messages" in page.text and "Opted Out" in page.text
    assert "Not sent" in page.text
    held_only = client.get(f"/surveys/programmes/{programme.id}/invitations?status=not_sent")
    assert "Opted Out" in held_only.text and ">Fine<" not in held_only.text


def test_an_open_complaint_holds_a_survey_back(db):
    programme = make_programme()
    customer = make_customer()
    closed_ticket(customer, NOON - timedelta(hours=1))
    make_ticket(customer=customer)  # another complaint, still open
    plan(NOON)
    [invitation] = invitations(programme)
    assert invitation.status == "not_sent"
    assert invitation.reason == "customer has an open complaint"


# ---------------------------------------------------------------- RM contacts


def test_rm_contacts_are_sampled_the_same_way_on_every_run(db):
    rm = make_user(role="rm")
    handler = make_user(role="handler")
    programme = make_programme(trigger="rm_contact", metric="ces", sample_rate=0.5)
    customer = make_customer(owner_id=rm.id)
    contacts = [
        make_interaction(customer, author_id=rm.id, occurred_at=NOON - timedelta(hours=2 + n))
        for n in range(40)
    ]
    by_handler = make_interaction(
        customer, author_id=handler.id, occurred_at=NOON - timedelta(hours=1)
    )
    unanswered = make_interaction(
        customer, author_id=rm.id, outcome="no_answer", occurred_at=NOON - timedelta(hours=1)
    )

    plan(NOON)

    invited = {i.interaction_id for i in invitations(programme)}
    expected = {c.id for c in contacts if sampled(programme.id, f"contact:{c.id}", 0.5)}
    assert invited == expected
    assert 8 < len(invited) < 32  # about half of 40
    assert by_handler.id not in invited and unanswered.id not in invited
    label = invitations(programme)[0].subject_label
    assert label == "2026年12月2日的电话"  # in the customer's language
    plan(NOON + timedelta(minutes=10))
    assert {i.interaction_id for i in invitations(programme)} == expected
    assert message_of(invitations(programme)[0]).context["survey_scale"] == [1, 7]


# ---------------------------------------------------------------- waves


def test_wave_keys_name_each_period():
    day = date(2026, 11, 20)
    assert wave_key(day, 3) == "2026-Q4"
    assert wave_key(day, 6) == "2026-H2"
    assert wave_key(day, 12) == "2026"
    assert wave_key(day, 1) == "2026-11"
    assert wave_key(day, 4) == "2026-T3"
    assert wave_key(day, 2) == "2026-B6"


def test_a_wave_invites_each_customer_of_the_segment_once_at_their_local_hour(db):
    programme = make_programme(
        trigger="wave", wave_months=3, wave_send_hour=10, segment="affluent", name="Wave"
    )
    shanghai = make_customer(segment="affluent", timezone="Asia/Shanghai")
    london = make_customer(segment="affluent", timezone="Europe/London", locale="en")
    refused = make_customer(segment="affluent", consent_survey=False)
    make_customer(segment="mass")
    make_customer(segment="affluent", erased_at=NOON - timedelta(days=1))

    plan(NOON)

    invited = {i.customer_id: i for i in invitations(programme)}
    assert set(invited) == {shanghai.id, london.id, refused.id}
    assert {i.wave for i in invited.values()} == {"2026-Q4"}
    # 12:00 in Shanghai: tomorrow's 10:00 there; 04:00 in London: today's 10:00 there.
    assert invited[shanghai.id].send_at == datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    assert invited[london.id].send_at == datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    assert message_of(invited[london.id]).next_attempt_at == datetime(
        2026, 12, 2, 10, 0, tzinfo=UTC
    )
    assert invited[refused.id].status == "not_sent"
    assert invited[refused.id].reason == "no consent for survey messages"

    late_joiner = make_customer(segment="affluent")
    plan(NOON + timedelta(days=20))  # the same quarter
    again = invitations(programme)
    assert len(again) == 4 and again[-1].customer_id == late_joiner.id
    plan(datetime(2027, 1, 5, 4, 0, tzinfo=UTC))  # next quarter: a new wave
    waves = [i.wave for i in invitations(programme) if i.customer_id == shanghai.id]
    assert waves == ["2026-Q4", "2027-Q1"]


def test_next_local_hour_is_today_or_tomorrow():
    assert next_local_hour(NOON, "Asia/Shanghai", 13) == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    assert next_local_hour(NOON, "Asia/Shanghai", 12) == NOON
    assert next_local_hour(NOON, "Asia/Shanghai", 9) == datetime(2026, 12, 3, 1, 0, tzinfo=UTC)


def test_an_imported_or_switched_off_programme_sends_nothing(db):
    make_programme(trigger="imported")
    make_programme(active=False)
    closed_ticket(make_customer(), NOON - timedelta(hours=1))
    plan(NOON)
    assert invitations() == []


# ---------------------------------------------------------------- reminders and expiry


def test_a_reminder_goes_once_to_non_responders_whose_email_went(app, db, monkeypatch):
    # The default caps allow one survey email in 30 days; this firm allows the reminder.
    monkeypatch.setitem(app.config, "CONTACT_CAPS", "survey:2/30")
    programme = make_programme(remind_after_days=3, expiry_days=10)
    answered_customer, silent, unsent = make_customer(), make_customer(), make_customer()
    for customer in (answered_customer, silent, unsent):
        closed_ticket(customer, NOON - timedelta(hours=1))
    plan(NOON)
    rows = {i.customer_id: i for i in invitations(programme)}
    sent_keys = [rows[answered_customer.id].message_key, rows[silent.id].message_key]
    _db.session.execute(
        update(Message).where(Message.dedupe_key.in_(sent_keys)).values(status="sent")
    )
    _db.session.execute(
        update(SurveyInvitation)
        .where(SurveyInvitation.id == rows[answered_customer.id].id)
        .values(status="answered", answered_at=NOON + timedelta(days=1))
    )
    _db.session.commit()

    plan(NOON + timedelta(days=2))
    assert _db.session.scalar(select(Message).where(Message.kind == "survey_reminder")) is None
    summary = plan(NOON + timedelta(days=3, minutes=1))
    reminders = list(_db.session.scalars(select(Message).where(Message.kind == "survey_reminder")))
    assert [m.customer_id for m in reminders] == [silent.id]
    assert reminders[0].dedupe_key == f"survey-reminder:{rows[silent.id].id}"
    assert reminders[0].template_key == "survey_reminder"
    assert summary["reminders"] == {"queued": 1}
    assert invitations(programme)[1].reminded_at is not None
    plan(NOON + timedelta(days=4))
    assert (
        len(list(_db.session.scalars(select(Message).where(Message.kind == "survey_reminder"))))
        == 1
    )


def test_invitations_past_their_expiry_expire_and_are_not_reminded(db):
    programme = make_programme(remind_after_days=2, expiry_days=3)
    closed_ticket(make_customer(), NOON - timedelta(hours=1))
    plan(NOON)
    summary = plan(NOON + timedelta(days=3))
    assert summary["expired"] == 1
    assert [i.status for i in invitations(programme)] == ["expired"]
    assert _db.session.scalar(select(Message).where(Message.kind == "survey_reminder")) is None


# ---------------------------------------------------------------- the command


def test_surveys_plan_replays_an_instant_and_adds_nothing_the_second_time(runner, db):
    programme = make_programme(active_since=datetime(2026, 11, 1, tzinfo=UTC))
    closed_ticket(make_customer(), datetime(2026, 11, 20, 3, 0, tzinfo=UTC))
    result = runner.invoke(args=["surveys", "plan", "--at", "2026-11-20T12:00+08:00"])
    assert result.exit_code == 0, result.output
    assert "Planned" in result.output and len(invitations(programme)) == 1
    assert invitations(programme)[0].created_at == datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
    again = runner.invoke(args=["surveys", "plan", "--at", "2026-11-20T12:00+08:00"])
    assert again.exit_code == 0 and len(invitations(programme)) == 1
    assert "'already_invited'" in again.output
    wrong = runner.invoke(args=["surveys", "plan", "--at", "yesterday"])
    assert wrong.exit_code != 0 and "ISO-8601" in wrong.output


# ---------------------------------------------------------------- the email


def test_the_email_greets_by_first_name_and_links_each_score(app, db):
    make_programme(
        question_en="How satisfied are you with how we handled <b>it</b>?", metric="csat"
    )
    customer = make_customer(name="Li Wei", locale="en")
    ticket = closed_ticket(customer, NOON - timedelta(hours=1))
    plan(NOON)
    [invitation] = invitations()
    content = content_of(message_of(invitation))
    assert "Li" in content.subject
    assert "Dear Li" in content.body_text and ticket.reference in content.body_text
    assert "How satisfied are you with how we handled <b>it</b>?" in content.body_text
    assert "&lt;b&gt;it&lt;/b&gt;" in content.body_html and "<b>it</b>" not in content.body_html
    base = app.config["PUBLIC_BASE_URL"]
    for score in range(1, 6):
        assert f'href="{base}/s/' in content.body_html
        assert f"?score={score}" in content.body_html
    assert "?score=0" not in content.body_html and "?score=6" not in content.body_html
    assert "/u/" in content.body_text  # the unsubscribe link
    assert not content.subject.startswith("「广告」")


def test_a_chinese_customer_gets_the_chinese_email_without_the_ad_prefix(db):
    make_programme()
    customer = make_customer(name="王小明", locale="zh_Hans")
    closed_ticket(customer, NOON - timedelta(hours=1))
    plan(NOON)
    content = content_of(message_of(invitations()[0]))
    assert not content.subject.startswith("「广告」")
    assert "尊敬的" in content.body_text and "您有多大可能向朋友推荐我们" in content.body_text


@pytest.fixture
def sink():
    server = SmtpSink().start()
    yield server
    server.stop()


def test_an_invitation_delivered_over_smtp_carries_a_link_that_finds_it(app, db, sink):
    make_programme()
    customer = make_customer(name="Chen Jing", locale="en")
    closed_ticket(customer, NOON - timedelta(hours=1))
    plan(NOON)
    report = deliver_due(NOON, transport=SmtpTransport(sink.host, sink.port, timeout=5))
    assert report.sent == 1
    [received] = sink.handler.received
    mail = email.message_from_bytes(received.content, policy=policy.default)
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    base = app.config["PUBLIC_BASE_URL"]
    link = next(line.strip() for line in text.splitlines() if line.strip().startswith(f"{base}/s/"))
    token = link.rsplit("/", 1)[1]
    assert f"{link}?score=10" in html
    found = _db.session.scalar(
        select(SurveyInvitation).where(SurveyInvitation.token_hash == token_hash(token))
    )
    assert found is not None and found.customer_id == customer.id
    assert mail["List-Unsubscribe"]


# ---------------------------------------------------------------- two planners at once


@pytest.fixture
def committed(app):
    """Rows committed for real, so that two planners on connections of their own see them;
    deleted after the test."""
    from sqlalchemy import delete

    from portal.customers.models import Customer, CustomerSearchTerm
    from portal.surveys.models import SurveyProgramme

    with app.app_context():
        yield _db
        _db.session.rollback()
        for table in (Message, SurveyInvitation, SurveyProgramme, CustomerSearchTerm, Customer):
            _db.session.execute(delete(table))
        _db.session.commit()
        _db.session.remove()


def test_two_planners_at_once_invite_each_customer_once_with_a_working_link(app, committed):
    make_programme(trigger="wave", wave_months=3, wave_send_hour=10)
    customers = [make_customer(locale="en") for _ in range(30)]
    start = threading.Barrier(2)
    failures = []

    def planner_process():
        with app.app_context():
            try:
                start.wait(timeout=10)
                plan(NOON)
            except Exception as error:  # reported below, not lost in the thread
                failures.append(error)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=planner_process) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    rows = invitations()
    assert sorted(i.customer_id for i in rows) == sorted(c.id for c in customers)
    messages = list(_db.session.scalars(select(Message)))
    assert len(messages) == len(customers)
    by_key = {m.dedupe_key: m for m in messages}
    for invitation in rows:  # the email carries the nonce of the invitation that was stored
        assert by_key[invitation.message_key].context["survey_nonce"] == invitation.nonce
