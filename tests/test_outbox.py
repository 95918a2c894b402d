"""The outbox and the contact policy: consent, flags, state, caps, quiet hours, dedupe."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.core.extensions import db as _db
from portal.messaging import services
from portal.messaging.compose import content_of
from portal.messaging.models import Message, Suppression
from portal.messaging.policy import Cap, next_allowed, parse_caps
from tests.factories import make_customer, make_ticket

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


def test_a_greeting_is_queued_with_its_template_and_renders_with_one_click_unsubscribe(app, db):
    customer = make_customer(name="王小明", consent_care=True, locale="zh_Hans")
    result = services.queue([draft(customer)], now=NOON_SHANGHAI)
    _db.session.commit()
    assert result.counts == {"queued": 1}
    (message,) = outbox(customer)
    # Queueing renders nothing and signs nothing: the row keeps what to render from.
    assert (message.template_key, message.locale, message.context) == ("birthday", "zh_Hans", {})
    assert (message.subject, message.body_text, message.body_html, message.headers) == (
        "",
        "",
        "",
        {},
    )
    content = content_of(message)  # what delivery renders when it sends it
    assert content.subject == "「广告」小明，生日快乐！"
    assert "小明" in content.body_text and "王" not in content.body_text  # the given name only
    assert content.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = content.headers["List-Unsubscribe"].split(">")[0].lstrip("<")
    assert url.startswith(app.config["PUBLIC_BASE_URL"] + "/u/") and url in content.body_text
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
    assert message.status == "queued" and "List-Unsubscribe" not in content_of(message).headers
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
    customer = make_customer(consent_care=True)
    make_ticket(customer=customer, subject="Fees", channel_code="A01", business_code="B01")
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


# ---------------------------------------------------------------- someone who is not a customer


def notice(**overrides):
    values = {
        "dedupe_key": "ticket:1:acknowledgement",
        "customer_id": None,
        "to_address": "complainant@mail.example.com",
        "recipient_name": "Sam",
        "purpose": "service",
        "kind": "notice",
        "template_key": "notice",
        "send_at": NOON_SHANGHAI,
        "transactional": True,
    }
    values.update(overrides)
    return services.Draft(**values)


def by_key(key):
    return _db.session.scalars(select(Message).where(Message.dedupe_key == key)).one()


def test_a_transactional_message_goes_to_someone_not_a_customer_threaded(db):
    threading = {"In-Reply-To": "<first@mail.example.com>", "Auto-Submitted": "auto-replied"}
    result = services.queue(
        [
            notice(
                locale="en",
                headers=threading,
                message_id="<ticket-1-ack@portal.test>",
                context={"firm": "Example Finance"},
            )
        ],
        now=NOON_SHANGHAI,
    )
    assert result.counts == {"queued": 1}
    message = by_key("ticket:1:acknowledgement")
    assert (message.customer_id, message.to_address, message.locale) == (
        None,
        "complainant@mail.example.com",
        "en",
    )
    assert message.message_id == "<ticket-1-ack@portal.test>"  # known before delivery
    assert message.headers == threading
    content = content_of(message)
    assert content.body_text.startswith("Dear Sam,") and "Example Finance" in content.body_text
    assert content.headers == threading  # transactional, no customer: no unsubscribe link


def test_without_a_customer_a_draft_must_be_transactional_and_addressed():
    with pytest.raises(ValueError, match="transactional"):
        notice(transactional=False, purpose="care")
    with pytest.raises(ValueError, match="to_address"):
        notice(to_address=None)
    with pytest.raises(ValueError, match="to_address"):
        notice(to_address="  ")
    for header in ("To", "bcc", "Message-ID", "List-Unsubscribe", "Bad Name"):
        with pytest.raises(ValueError, match="cannot set the header"):
            notice(headers={header: "x"})
    with pytest.raises(ValueError, match="line break"):
        notice(headers={"References": "<a@b>\r\nBcc: everyone@mail.example.com"})
    with pytest.raises(ValueError, match="Message-ID"):
        notice(message_id="no-angle-brackets@portal.test")


def test_someone_not_a_customer_gets_no_caps_but_the_suppression_list_and_quiet_hours(
    app, db, monkeypatch
):
    monkeypatch.setitem(app.config, "CONTACT_CAPS", "service!:1/7")
    monkeypatch.setitem(app.config, "DEFAULT_TIMEZONE", "Asia/Shanghai")
    # No cap: a second message to the same address the same day goes too.
    services.queue(
        [
            notice(dedupe_key="n:1"),
            notice(dedupe_key="n:2", to_address="COMPLAINANT@mail.example.com"),
        ],
        now=NOON_SHANGHAI,
    )
    assert [by_key(k).status for k in ("n:1", "n:2")] == ["queued", "queued"]
    # The suppression list holds it back, whatever the case of the address.
    _db.session.add(
        Suppression(
            address="gone@mail.example.com", reason="550 no such user", created_at=NOON_SHANGHAI
        )
    )
    services.queue(
        [notice(dedupe_key="n:3", to_address="Gone@Mail.Example.com")], now=NOON_SHANGHAI
    )
    assert by_key("n:3").held_reason == "address suppressed: 550 no such user"
    # Quiet hours are those of a customer who gave no zone: DEFAULT_TIMEZONE's.
    late = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    services.queue([notice(dedupe_key="n:4", send_at=late)], now=late)
    deferred = by_key("n:4")
    assert (deferred.status, deferred.held_reason) == ("deferred", "quiet hours")
    assert deferred.next_attempt_at == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # 08:00 there
    monkeypatch.setitem(app.config, "DEFAULT_TIMEZONE", "Europe/London")
    services.queue([notice(dedupe_key="n:5", send_at=late)], now=late)  # 15:30 in London
    assert by_key("n:5").status == "queued"


def test_a_customer_draft_may_name_its_address_language_and_headers(db):
    customer = make_customer(name="王小明", locale="zh_Hans", consent_service=True)
    services.queue(
        [
            notice(
                dedupe_key="ticket:2:decision",
                customer_id=customer.id,
                to_address="xiaoming.work@mail.example.com",
                recipient_name="ignored for a customer",
                locale="en",
                headers={"References": "<first@mail.example.com>"},
            )
        ],
        now=NOON_SHANGHAI,
    )
    message = by_key("ticket:2:decision")
    assert (message.customer_id, message.to_address, message.locale) == (
        customer.id,
        "xiaoming.work@mail.example.com",
        "en",
    )
    content = content_of(message)
    assert content.body_text.startswith("Dear 小明,")  # the customer's own given name
    assert content.headers == {"References": "<first@mail.example.com>"}
    # Without them, the customer's own address and language.
    services.queue(
        [notice(dedupe_key="ticket:2:ack", customer_id=customer.id, to_address=None)],
        now=NOON_SHANGHAI,
    )
    plain = by_key("ticket:2:ack")
    assert (plain.to_address, plain.locale) == (customer.email, "zh_Hans")
    # A customer's opt-out still holds a message to another address of theirs back.
    opted_out = make_customer(consent_service=False)
    services.queue(
        [
            notice(
                dedupe_key="ticket:3:ack", customer_id=opted_out.id, to_address="x@mail.example.com"
            )
        ],
        now=NOON_SHANGHAI,
    )
    assert by_key("ticket:3:ack").held_reason == "no consent for service messages"
    # The suppression list is read for the address the message goes to.
    _db.session.add(
        Suppression(address="old@mail.example.com", reason="550 gone", created_at=NOON_SHANGHAI)
    )
    services.queue(
        [
            notice(
                dedupe_key="ticket:4:ack",
                customer_id=customer.id,
                to_address="Old@mail.example.com",
            )
        ],
        now=NOON_SHANGHAI,
    )
    assert by_key("ticket:4:ack").held_reason == "address suppressed: 550 gone"
