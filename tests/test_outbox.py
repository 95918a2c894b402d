"""The outbox and the contact policy: consent, flags, state, caps, quiet hours, dedupe."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.core.extensions import db as _db
from portal.messaging import services
from portal.messaging.models import Message, Suppression
from portal.messaging.policy import Cap, next_allowed, parse_caps
from tests.factories import make_customer

NOON_SHANGHAI = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def draft(customer, key="birthday", purpose="care", when=NOON_SHANGHAI, **extra):
    return services.Draft(
        dedupe_key=f"{key}:{customer.id}:{when.date()}",
        customer_id=customer.id,
        purpose=purpose,
        kind=key,
        template_key=extra.pop("template_key", "birthday"),
        send_at=when,
        **extra,
    )


def outbox(customer):
    return list(
        _db.session.scalars(
            select(Message).where(Message.customer_id == customer.id).order_by(Message.id)
        )
    )


def test_a_greeting_is_queued_rendered_and_carries_one_click_unsubscribe(app, db):
    customer = make_customer(name="王小明", consent_care=True, locale="zh_Hans")
    result = services.queue([draft(customer)], now=NOON_SHANGHAI)
    _db.session.commit()
    assert result.counts == {"queued": 1}
    (message,) = outbox(customer)
    assert message.subject == "「广告」小明，生日快乐！"
    assert "王" not in message.body_text  # the given name only
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message.headers["List-Unsubscribe"].split(">")[0].lstrip("<")
    assert url.startswith(app.config["PUBLIC_BASE_URL"] + "/u/") and url in message.body_text
    token = url.rsplit("/", 1)[1]
    assert services.read_unsubscribe_token(token) == (customer.id, "care")
    assert services.read_unsubscribe_token(token[:-2] + "xx") is None


def test_queueing_twice_writes_once(db):
    customer = make_customer(consent_care=True)
    services.queue([draft(customer), draft(customer)], now=NOON_SHANGHAI)
    services.queue([draft(customer)], now=NOON_SHANGHAI)
    _db.session.commit()
    assert len(outbox(customer)) == 1


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"consent_care": False}, "no consent for care messages"),
        ({"deceased": True}, "customer is deceased"),
        ({"do_not_contact": True}, "customer asked not to be contacted"),
        ({"hardship": True}, "customer is flagged hardship"),
        ({"email": None}, "no email address"),
    ],
)
def test_held_back_messages_say_why(db, overrides, reason):
    customer = make_customer(**{"consent_care": True, **overrides})
    services.queue([draft(customer)], now=NOON_SHANGHAI)
    _db.session.commit()
    (message,) = outbox(customer)
    assert (message.status, message.held_reason) == ("suppressed", reason)


def test_transactional_reminders_need_no_marketing_consent_but_honour_opt_out(db):
    customer = make_customer(consent_care=False, in_arrears=True)
    reminder = draft(
        customer,
        key="reminder",
        purpose="service",
        transactional=True,
        template_key="reminder",
        context={"due_on": "2026-12-15", "account_last4": "1234"},
    )
    services.queue([reminder], now=NOON_SHANGHAI)
    (message,) = outbox(customer)
    assert message.status == "queued" and "List-Unsubscribe" not in message.headers
    opted_out = make_customer(consent_service=False)
    reminder.customer_id, reminder.dedupe_key = opted_out.id, "reminder:other"
    services.queue([reminder], now=NOON_SHANGHAI)
    assert outbox(opted_out)[0].held_reason == "no consent for service messages"


def test_quiet_hours_defer_to_the_next_allowed_minute(db):
    customer = make_customer(consent_care=True, timezone="Asia/Shanghai")
    late = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    services.queue([draft(customer, when=late)], now=late)
    (message,) = outbox(customer)
    assert message.status == "deferred" and message.held_reason == "quiet hours"
    assert message.next_attempt_at == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # 08:00


def test_frequency_caps_count_across_purposes(db):
    customer = make_customer(consent_care=True, consent_survey=True)
    day = timedelta(days=1)
    drafts = [draft(customer, key=f"note{i}", when=NOON_SHANGHAI + i * day) for i in range(4)]
    services.queue(drafts, now=NOON_SHANGHAI)
    statuses = [(m.status, m.held_reason) for m in outbox(customer)]
    assert statuses[:3] == [("queued", None)] * 3
    assert statuses[3] == ("suppressed", "frequency cap care+survey: 3/7d reached")


def test_a_bounced_address_is_suppressed(db):
    customer = make_customer(consent_care=True)
    _db.session.add(
        Suppression(address=customer.email, reason="550 no such user", created_at=NOON_SHANGHAI)
    )
    services.queue([draft(customer)], now=NOON_SHANGHAI)
    assert outbox(customer)[0].held_reason == "address suppressed: 550 no such user"


def test_an_open_complaint_holds_greetings_back(db):
    from portal.accounts.services import actor_for
    from portal.tickets import services as tickets
    from tests.factories import make_user

    customer = make_customer(consent_care=True)
    tickets.create_ticket(
        actor_for(make_user(role="handler")),
        tickets.TicketInput(
            kind="complaint",
            subject="Fees",
            channel_code="A01",
            business_code="B01",
            cause_code="C07",
            customer_id=customer.id,
        ),
    )
    services.queue([draft(customer)], now=NOON_SHANGHAI)
    assert outbox(customer)[0].held_reason == "customer has an open complaint"


def test_cap_and_quiet_settings_parse_or_refuse():
    assert parse_caps("survey:1/30,care+survey+service!:6/7") == (
        Cap(frozenset({"survey"}), 1, 30),
        Cap(frozenset({"care", "survey", "service"}), 6, 7, True),
    )
    for bad in ("survey:1", "spam:1/7", "survey:x/7", "survey:1/0"):
        with pytest.raises(ValueError):
            parse_caps(bad)
    from zoneinfo import ZoneInfo

    from portal.messaging.policy import parse_quiet

    start, end = parse_quiet("22:00-08:00")
    zone = ZoneInfo("America/New_York")
    morning = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)  # 06:00 in New York
    assert next_allowed(morning, zone, start, end) == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
