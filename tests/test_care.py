"""Care rules plan birthday, festival and reminder messages per local day, never for past days,
once each; campaigns preview exactly what sending then does."""

import threading
from calendar import isleap
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.accounts.services import actor_for
from portal.care import planner, services
from portal.care.festivals import FESTIVALS, festival_date, fits, region_of
from portal.care.models import Campaign, CareRule
from portal.care.planner import birthday_dates, plan_day
from portal.core.audit import Actor, AuditEvent
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal.core.extensions import db as _db
from portal.core.timeutil import utc_now
from portal.customers.models import CreditAccount
from portal.jobs.runner import build_scheduler
from portal.messaging.compose import content_of
from portal.messaging.models import Message
from tests.factories import make_customer, make_user

SYSTEM = Actor.system("test")
# 10:00 in Shanghai on 1 December 2026; 21:00 on 30 November in New York.
SHANGHAI_MORNING = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
CHRISTMAS = next(f for f in FESTIVALS if f.key == "christmas")


def rule(key, *, enabled_on=date(2026, 1, 1), send_hour=9, days_before="", template=None):
    stored = CareRule(
        key=key,
        enabled=True,
        enabled_on=enabled_on,
        template_key=template or key,
        send_hour=send_hour,
        days_before=days_before,
    )
    _db.session.add(stored)
    _db.session.commit()
    return stored


def greeted(customer=None, kind=None):
    query = select(Message).order_by(Message.id)
    if customer is not None:
        query = query.where(Message.customer_id == customer.id)
    if kind is not None:
        query = query.where(Message.kind == kind)
    return list(_db.session.scalars(query))


def keys(kind=None):
    return [m.dedupe_key for m in greeted(kind=kind)]


def account(customer, due_on, status="active", number=None):
    row = CreditAccount(
        customer_id=customer.id,
        number=number or f"CC{customer.id:09d}{due_on:%m%d}",
        product="credit_card",
        principal=Decimal("10000.00"),
        balance=Decimal("5000.00"),
        next_due_on=due_on,
        next_due_amount=Decimal("500.00"),
        status=status,
    )
    _db.session.add(row)
    _db.session.commit()
    return row


# ---------------------------------------------------------------- birthdays


def test_birthdays_follow_each_customers_own_date(db):
    rule("birthday")
    shanghai_today = make_customer(timezone="Asia/Shanghai", birthday=date(1990, 12, 1))
    new_york_today = make_customer(timezone="America/New_York", birthday=date(1985, 11, 30))
    shanghai_past = make_customer(timezone="Asia/Shanghai", birthday=date(1990, 11, 30))
    new_york_not_yet = make_customer(timezone="America/New_York", birthday=date(1985, 12, 1))
    for customer in (shanghai_today, new_york_today, shanghai_past, new_york_not_yet):
        customer.consent_care = True
    _db.session.commit()

    summary = plan_day(SHANGHAI_MORNING)

    assert summary["days"] == ["2026-11-30", "2026-12-01"]
    assert summary["birthday"] == {"queued": 2}
    assert sorted(keys("birthday")) == sorted(
        [f"birthday:{shanghai_today.id}:2026", f"birthday:{new_york_today.id}:2026"]
    )
    (shanghai,) = greeted(shanghai_today)
    # 09:00 in Shanghai has passed: it goes now, and is marked as an ad in Chinese.
    assert shanghai.next_attempt_at == SHANGHAI_MORNING
    subject = content_of(shanghai).subject  # rendered when sent; here, as it would be now
    assert subject.startswith("「广告」") and "生日快乐" in subject
    assert greeted(new_york_today)[0].next_attempt_at == SHANGHAI_MORNING  # 21:00 in New York


def test_a_plan_before_the_send_hour_waits_for_it(db):
    rule("birthday", send_hour=9)
    customer = make_customer(
        timezone="Asia/Shanghai", birthday=date(1990, 12, 1), consent_care=True
    )
    early = datetime(2026, 11, 30, 18, 30, tzinfo=UTC)  # 02:30 on 1 December in Shanghai
    plan_day(early)
    (message,) = greeted(customer)
    assert message.status == "queued"
    assert message.next_attempt_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 local


def test_leap_day_birthdays_are_greeted_on_28_february_in_other_years(db):
    rule("birthday")
    leapling = make_customer(birthday=date(2000, 2, 29), consent_care=True)
    plan_day(datetime(2027, 2, 28, 4, 0, tzinfo=UTC))
    plan_day(datetime(2027, 3, 1, 4, 0, tzinfo=UTC))
    assert keys("birthday") == [f"birthday:{leapling.id}:2027"]
    plan_day(datetime(2028, 2, 28, 4, 0, tzinfo=UTC))
    assert len(keys("birthday")) == 1  # 2028 has a 29th
    plan_day(datetime(2028, 2, 29, 4, 0, tzinfo=UTC))
    assert keys("birthday")[-1] == f"birthday:{leapling.id}:2028"


def test_birthday_dates_cover_every_birth_year_and_the_leap_day():
    dates = birthday_dates(date(2027, 2, 28))
    assert date(2000, 2, 29) in dates and date(1999, 2, 28) in dates
    assert {d.year for d in dates if d.day == 29} == {y for y in range(1897, 2027) if isleap(y)}
    assert all(d.year < 2027 for d in dates) and min(dates).year == 2027 - 130
    assert date(2000, 2, 29) not in birthday_dates(date(2028, 2, 28))


def test_held_back_greetings_are_rows_with_the_reason(db):
    rule("birthday")
    born = date(1990, 12, 1)
    no_consent = make_customer(birthday=born, consent_care=False)
    hardship = make_customer(birthday=born, consent_care=True, hardship=True)
    summary = plan_day(SHANGHAI_MORNING)
    assert greeted(no_consent)[0].held_reason == "no consent for care messages"
    assert greeted(hardship)[0].held_reason == "customer is flagged hardship"
    assert summary["birthday"] == {"suppressed": 2}
    assert summary["reasons"] == {
        "no consent for care messages": 1,
        "customer is flagged hardship": 1,
    }


# ---------------------------------------------------------------- festivals


def test_festival_dates_and_who_they_fit():
    assert festival_date("spring_festival", 2027) == date(2027, 2, 6)
    assert festival_date("mid_autumn", 2026) == date(2026, 9, 25)
    assert festival_date("christmas", 2026) == date(2026, 12, 25)
    assert region_of("Asia/Shanghai") == "CN" and region_of("Europe/London") == "GB"


def test_lunar_festivals_greet_chinese_writers_and_christmas_english_ones_in_the_west(db):
    rule("festival")
    zh_shanghai = make_customer(locale="zh_Hans", timezone="Asia/Shanghai", consent_care=True)
    zh_london = make_customer(locale="zh_Hans", timezone="Europe/London", consent_care=True)
    en_shanghai = make_customer(locale="en", timezone="Asia/Shanghai", consent_care=True)
    en_london = make_customer(locale="en", timezone="Europe/London", consent_care=True)
    en_new_york = make_customer(locale="en", timezone="America/New_York", consent_care=True)

    plan_day(datetime(2027, 2, 6, 12, 0, tzinfo=UTC))  # Spring Festival in Shanghai and London
    spring = {m.customer_id: m for m in greeted(kind="festival")}
    assert set(spring) == {zh_shanghai.id, zh_london.id}
    assert spring[zh_shanghai.id].dedupe_key == f"festival:spring_festival:{zh_shanghai.id}:2027"
    assert content_of(spring[zh_london.id]).subject == "「广告」春节快乐"

    plan_day(datetime(2026, 12, 25, 14, 0, tzinfo=UTC))  # Christmas in London and New York
    christmas = [m for m in greeted(kind="festival") if "christmas" in m.dedupe_key]
    assert {m.customer_id for m in christmas} == {en_london.id, en_new_york.id}
    assert content_of(christmas[0]).subject == "Season's greetings for Christmas"
    assert not fits(CHRISTMAS, "en", "Asia/Shanghai") and not fits(
        CHRISTMAS, "zh_Hans", "Europe/London"
    )
    assert en_shanghai.id not in {m.customer_id for m in greeted(kind="festival")}


def test_mid_autumn_is_greeted_on_its_lunar_date_only(db):
    rule("festival")
    customer = make_customer(locale="zh_Hans", consent_care=True)
    make_customer(locale="zh_Hans", consent_care=True, erased_at=datetime(2026, 1, 1, tzinfo=UTC))
    plan_day(datetime(2026, 9, 24, 4, 0, tzinfo=UTC))
    assert greeted(customer) == []
    plan_day(datetime(2026, 9, 25, 4, 0, tzinfo=UTC))
    (message,) = greeted()  # an erased customer is nobody's audience
    assert message.dedupe_key == f"festival:mid_autumn:{customer.id}:2026"
    assert "中秋节" in content_of(message).body_text


# ---------------------------------------------------------------- reminders


def test_reminders_go_the_chosen_days_before_each_due_date(db):
    rule("reminder", days_before="7,1", send_hour=10)
    customer = make_customer(consent_care=False)  # reminders need no greeting consent
    today = date(2026, 12, 1)
    week = account(customer, today + timedelta(days=7), number="CC0000000001234")
    tomorrow = account(customer, today + timedelta(days=1), number="CC0000000005678")
    account(customer, today + timedelta(days=3), number="CC0000000009999")
    account(customer, today + timedelta(days=1), status="closed", number="CC0000000004321")
    opted_out = make_customer(consent_service=False)
    opted_out_account = account(opted_out, today + timedelta(days=1))

    summary = plan_day(SHANGHAI_MORNING)

    assert sorted(keys("reminder")) == sorted(
        [
            f"reminder:{week.id}:2026-12-08:7",
            f"reminder:{tomorrow.id}:2026-12-02:1",
            f"reminder:{opted_out_account.id}:2026-12-02:1",
        ]
    )
    sent = {m.dedupe_key: m for m in greeted(kind="reminder")}
    first = sent[f"reminder:{week.id}:2026-12-08:7"]
    assert first.transactional and first.purpose == "service" and first.status == "queued"
    content = content_of(first)
    assert "1234" in content.body_text and "2026-12-08" in content.subject
    assert first.next_attempt_at == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 local
    assert sent[f"reminder:{opted_out_account.id}:2026-12-02:1"].held_reason == (
        "no consent for service messages"
    )
    assert summary["reminder"] == {"queued": 2, "suppressed": 1}


def test_reminders_are_capped_and_quiet_houred_like_everything_else(db):
    rule("reminder", days_before="1", send_hour=23)
    customer = make_customer()
    for position in range(7):
        account(customer, date(2026, 12, 2), number=f"PL00000000{position:05d}")
    plan_day(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))  # 09:00; the rule's 23:00 is quiet
    messages = greeted(customer)
    assert [(m.status, m.held_reason) for m in messages[:6]] == [("deferred", "quiet hours")] * 6
    assert messages[0].next_attempt_at == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # 08:00
    assert (messages[6].status, messages[6].held_reason) == (
        "suppressed",
        "frequency cap care+service+survey: 6/7d reached",
    )


# ---------------------------------------------------------------- re-runs and switching on


def test_planning_a_day_twice_adds_nothing(db):
    rule("birthday")
    rule("reminder", days_before="7,1")
    customer = make_customer(birthday=date(1990, 12, 1), consent_care=True)
    account(customer, date(2026, 12, 2))
    first = plan_day(SHANGHAI_MORNING)
    count = len(greeted())
    again = plan_day(SHANGHAI_MORNING + timedelta(hours=3))
    assert count == 2 and len(greeted()) == count
    assert first["already_planned"] == 0 and again["already_planned"] == count


def test_a_stopped_plan_keeps_the_pages_it_queued_and_the_next_run_adds_the_rest(db, monkeypatch):
    rule("birthday")
    first, second = (
        make_customer(timezone="Asia/Shanghai", birthday=date(1990, 12, 1), consent_care=True)
        for _ in range(2)
    )
    monkeypatch.setattr(planner, "BATCH", 1)  # one customer per page
    stop = threading.Event()
    queue = planner.messaging.queue

    def queue_then_stop(drafts, now):
        result = queue(drafts, now)
        stop.set()  # SIGTERM arrives while the first page is queued
        return result

    monkeypatch.setattr(planner.messaging, "queue", queue_then_stop)
    stopped = plan_day(SHANGHAI_MORNING, stop)
    assert stopped["stopped"] is True and stopped["birthday"] == {"queued": 1}
    assert keys("birthday") == [f"birthday:{first.id}:2026"]

    monkeypatch.setattr(planner.messaging, "queue", queue)
    again = plan_day(SHANGHAI_MORNING)
    assert "stopped" not in again and again["birthday"] == {"queued": 1}
    assert keys("birthday") == [f"birthday:{first.id}:2026", f"birthday:{second.id}:2026"]


def test_a_rule_switched_on_in_the_afternoon_sends_today_and_later_never_before(db):
    afternoon = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # 15:00 in Shanghai
    yesterday = make_customer(birthday=date(1990, 11, 30), consent_care=True)
    today = make_customer(birthday=date(1990, 12, 1), consent_care=True)
    tomorrow = make_customer(birthday=date(1990, 12, 2), consent_care=True)
    services.save_rule(
        SYSTEM,
        "birthday",
        enabled=True,
        template_key="birthday",
        send_hour=9,
        days_before="",
        version=0,
        now=afternoon,
    )
    assert _db.session.get(CareRule, "birthday").enabled_on == date(2026, 12, 1)

    plan_day(datetime(2026, 11, 30, 4, 0, tzinfo=UTC))  # a replay of yesterday: before enabled_on
    assert greeted() == []
    plan_day(afternoon)
    (message,) = greeted()
    assert message.customer_id == today.id and message.next_attempt_at == afternoon
    plan_day(datetime(2026, 12, 2, 4, 0, tzinfo=UTC))
    assert {m.customer_id for m in greeted()} == {today.id, tomorrow.id}
    assert yesterday.id not in {m.customer_id for m in greeted()}


def test_switching_a_rule_off_and_on_again_restarts_from_that_day(db):
    services.save_rule(
        SYSTEM,
        "birthday",
        enabled=True,
        template_key="birthday",
        send_hour=9,
        days_before="",
        version=0,
        now=datetime(2026, 11, 1, 4, 0, tzinfo=UTC),
    )
    services.save_rule(
        SYSTEM,
        "birthday",
        enabled=False,
        template_key="birthday",
        send_hour=9,
        days_before="",
        version=1,
        now=datetime(2026, 11, 2, 4, 0, tzinfo=UTC),
    )
    services.save_rule(
        SYSTEM,
        "birthday",
        enabled=True,
        template_key="birthday",
        send_hour=9,
        days_before="",
        version=2,
        now=datetime(2026, 12, 1, 4, 0, tzinfo=UTC),
    )
    make_customer(birthday=date(1990, 11, 15), consent_care=True)
    plan_day(datetime(2026, 11, 15, 4, 0, tzinfo=UTC))  # while it was off: nothing, ever
    assert greeted() == []
    actions = _db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.subject_type == "care_rule")
    )
    assert list(actions) == ["care.rule_changed"] * 3


def test_jobs_once_replays_any_day(runner, db):
    rule("birthday")
    customer = make_customer(birthday=date(1990, 3, 14), consent_care=True)
    result = runner.invoke(args=["jobs", "once", "care.plan", "--at", "2026-03-14T10:00+08:00"])
    assert result.exit_code == 0, result.output
    assert "'birthday': {'queued': 1}" in result.output
    assert keys() == [f"birthday:{customer.id}:2026"]
    again = runner.invoke(args=["jobs", "once", "care.plan", "--at", "2026-03-14T11:00+08:00"])
    assert again.exit_code == 0 and "'already_planned': 1" in again.output


# ---------------------------------------------------------------- rules admin


def test_rules_exist_as_disabled_defaults_until_saved(db):
    shown = services.rules(SYSTEM)
    assert [(r.key, r.enabled, r.template_key) for r in shown] == [
        ("birthday", False, "birthday"),
        ("festival", False, "festival"),
        ("reminder", False, "reminder"),
    ]
    assert _db.session.scalars(select(CareRule)).all() == []


def test_saving_a_rule_checks_its_values(db):
    def save(**changes):
        values = {
            "enabled": True,
            "template_key": "reminder",
            "send_hour": 10,
            "days_before": "7,1",
            "version": 0,
        }
        values.update(changes)
        return services.save_rule(SYSTEM, "reminder", **values)

    with pytest.raises(ValidationFailed):
        save(send_hour=24)
    with pytest.raises(ValidationFailed):
        save(days_before="a week")
    with pytest.raises(ValidationFailed):
        save(template_key="festival")  # it needs a festival's name, which reminders lack
    saved = save(days_before=" 1, 7 ,7")
    assert saved.days_before == "7,1" and saved.lead_days() == [7, 1]
    with pytest.raises(Conflict):
        save(version=0)


def test_the_rule_use_cases_are_for_admins_and_refuse_a_lost_version(db):
    handler = actor_for(make_user(role="handler"))
    values = {
        "enabled": True,
        "template_key": "birthday",
        "send_hour": 9,
        "days_before": "",
    }
    with pytest.raises(PermissionDenied):
        services.rules(handler)
    with pytest.raises(PermissionDenied):
        services.save_rule(handler, "birthday", **values, version=0)
    with pytest.raises(NotFound):
        services.save_rule(SYSTEM, "anniversary", **values, version=0)
    with pytest.raises(Conflict):
        services.save_rule(SYSTEM, "birthday", **values, version=None)
    assert _db.session.scalars(select(CareRule)).all() == []


def test_saving_a_rule_unchanged_writes_and_records_nothing(db):
    values = {"enabled": True, "template_key": "birthday", "send_hour": 9, "days_before": ""}
    services.save_rule(SYSTEM, "birthday", **values, version=0)
    again = services.save_rule(SYSTEM, "birthday", **values, version=1)
    assert again.version == 1
    actions = _db.session.scalars(select(AuditEvent.action)).all()
    assert actions == ["care.rule_changed"]


def test_the_rules_page_switches_a_rule_on(client, login_as, db):
    login_as("admin")
    page = client.get("/admin/care")
    assert page.status_code == 200 and "Birthday greetings" in page.text
    response = client.submit(
        "/admin/care/birthday",
        {
            "birthday-enabled": "y",
            "birthday-template_key": "birthday",
            "birthday-send_hour": "8",
            "birthday-version": "0",
        },
    )
    assert response.status_code == 303
    stored = _db.session.get(CareRule, "birthday")
    assert stored.enabled and stored.send_hour == 8 and stored.enabled_on is not None
    refused = client.submit(
        "/admin/care/birthday",
        {"birthday-template_key": "birthday", "birthday-send_hour": "99", "birthday-version": "1"},
    )
    assert refused.status_code == 400 and "0 to 23" in refused.text


# ---------------------------------------------------------------- campaigns


def test_a_campaign_preview_counts_exactly_what_sending_does(db):
    now = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai, 09:30 in New York
    make_customer(segment="affluent", consent_care=True, timezone="America/New_York")
    make_customer(segment="affluent", consent_care=True)  # quiet hours: deferred
    make_customer(segment="affluent", consent_care=False)
    make_customer(segment="affluent", consent_care=True, vulnerable=True)
    make_customer(segment="affluent", consent_care=True, email=None)
    make_customer(segment="mass", consent_care=True)
    campaign = services.create_campaign(SYSTEM, "Budgeting tips", "care", "education", "affluent")

    preview = services.preview(SYSTEM, campaign.id, now)
    assert _db.session.scalars(select(Message)).all() == []
    assert preview.audience == 5 and preview.receiving == 2
    assert dict(preview.counts) == {"queued": 1, "deferred": 1, "suppressed": 3}

    sent = services.send_campaign(SYSTEM, campaign.id, now)
    assert sent.as_json() == preview.as_json()
    assert len(greeted(kind="campaign")) == 5
    stored = _db.session.get(Campaign, campaign.id)
    assert stored.status == "queued" and stored.outcome == preview.as_json()
    with pytest.raises(Conflict):
        services.send_campaign(SYSTEM, campaign.id, now)


def test_a_service_notice_to_flagged_customers_needs_no_greeting_consent(db):
    in_arrears = make_customer(in_arrears=True, consent_care=False)
    make_customer(in_arrears=False)
    campaign = services.create_campaign(
        SYSTEM, "Hardship help", "service", "notice", flags=["in_arrears"]
    )
    outcome = services.send_campaign(SYSTEM, campaign.id, SHANGHAI_MORNING)
    assert outcome.audience == 1 and dict(outcome.counts) == {"queued": 1}
    (message,) = greeted(in_arrears)
    subject = content_of(message).subject
    assert message.transactional and subject and not subject.startswith("「广告」")


def test_a_campaigns_audience_is_checked_by_the_use_case(db):
    with pytest.raises(ValidationFailed):
        services.create_campaign(SYSTEM, "Tips", "care", "education", segment="nobody")
    with pytest.raises(ValidationFailed):
        services.create_campaign(SYSTEM, "Tips", "care", "education", flags=["famous"])
    with pytest.raises(PermissionDenied):
        services.create_campaign(actor_for(make_user(role="rm")), "Tips", "care", "education")
    assert _db.session.scalars(select(Campaign)).all() == []


def test_only_a_draft_campaign_is_previewed_and_sending_leaves_two_events(db):
    make_customer(segment="affluent", consent_care=True)
    campaign = services.create_campaign(SYSTEM, "Tips", "care", "education", "affluent")
    services.send_campaign(SYSTEM, campaign.id, SHANGHAI_MORNING)
    with pytest.raises(Conflict):
        services.preview(SYSTEM, campaign.id, SHANGHAI_MORNING)
    page = services.campaign_page(SYSTEM, campaign.id, with_preview=True)
    assert page.preview is None and page.outcome.audience == 1
    events = _db.session.scalars(
        select(AuditEvent).where(AuditEvent.subject_type == "campaign").order_by(AuditEvent.id)
    ).all()
    assert [e.action for e in events] == ["campaign.created", "campaign.queued", "campaign.sent"]
    assert (events[1].before, events[1].after["status"]) == ({"status": "draft"}, "queued")


def test_campaign_pages_create_preview_and_send(client, login_as, db):
    login_as("admin")
    make_customer(segment="private", consent_care=True, timezone="America/New_York")
    created = client.submit(
        "/admin/campaigns",
        {
            "name": "Rate change",
            "purpose": "service",
            "template_key": "notice",
            "segment": "private",
        },
    )
    assert created.status_code == 303
    url = created.headers["Location"]
    assert "Preview" in client.get(url).text
    preview = client.get(f"{url}/preview", headers={"HX-Request": "true"})
    assert preview.status_code == 200 and "Customers in the audience" in preview.text
    sent = client.submit(f"{url}/send")
    assert sent.status_code == 303
    page = client.get(url)
    assert "Outcome when it was sent" in page.text and 'action="' + url + '/send"' not in page.text
    assert client.submit(f"{url}/send").status_code == 409
    bad = client.submit("/admin/campaigns", {"name": "", "purpose": "care"})
    assert bad.status_code == 400


def test_the_scheduler_plans_as_it_starts_then_every_ten_minutes(app):
    job = build_scheduler(app).get_job("care.plan")
    assert job.next_run_time <= utc_now()
    assert job.trigger.interval == timedelta(minutes=10)
