"""A deadline is shown as the last day of its period, end of day, in the firm's zone and the
reader's language — never as the next day, which is how it is stored (24:00 of the last day is
00:00 of the day after). Checked where people read it: every notice email (text and HTML) of
every profile in both languages, the reply templates' `{{ deadline }}`, the ticket page, the
queue, My day, the print view, the history and the clock watch's notifications."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select

from portal.accounts.models import User
from portal.accounts.services import actor_for
from portal.core.calendars import end_of_day
from portal.core.extensions import db as _db
from portal.core.i18n import format_deadline, last_day
from portal.core.timeutil import as_utc
from portal.messaging.compose import content_of
from portal.messaging.models import Message
from portal.tickets import clock_changes, clocks, jobs, services
from portal.tickets.channels import notices, replies
from portal.tickets.models import Notification, Ticket
from tests.factories import make_actor, make_customer, make_ticket, make_user

ZONES = {"CN": "Asia/Shanghai", "UK": "Europe/London", "US": "America/New_York"}
# Received at 10:00 in the firm's zone. CN: 15 days from Dec 16, 2025 end on Wed 31 Dec, a
# working day, so 24:00 that day (stored as Jan 1, 2026 00:00); 30 days after an extension end
# on Thu Jan 15, 2026. UK: the third business day after Mon Dec 22, 2025 is Mon 29 Dec (25 and
# 26 Dec are bank holidays, then a weekend); eight weeks end on Mon Feb 16, 2026. US: 15 days
# from Dec 16, 2025 end on 31 Dec; 60 days on Sat Feb 14, 2026 (US periods do not roll).
RECEIVED = {"CN": date(2025, 12, 16), "UK": date(2025, 12, 22), "US": date(2025, 12, 16)}
ISO_DAY = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
# The day after each deadline, as the defect showed it, in every pattern the portal might use.
NEXT_DAYS = (
    "Jan 1, 2026",
    "Jan 1, 2026",
    "2026年1月1日",
    "Jan 16, 2026",
    "2026年1月16日",
    "Dec 30, 2025",
    "2025年12月30日",
    "Feb 17, 2026",
    "2026年2月17日",
    "Feb 15, 2026",
    "2026年2月15日",
)


def received_at(profile: str) -> datetime:
    day = RECEIVED[profile]
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=ZoneInfo(ZONES[profile]))


@pytest.fixture
def firm(app: Flask) -> Iterator[Callable[[str], None]]:
    """Run the deployment under a profile, in that jurisdiction's zone, for one test."""
    original = app.config["COMPLAINT_PROFILE"], app.config["DEFAULT_TIMEZONE"]

    def use(profile: str) -> None:
        app.config["COMPLAINT_PROFILE"] = profile
        app.config["DEFAULT_TIMEZONE"] = ZONES[profile]

    yield use
    app.config["COMPLAINT_PROFILE"], app.config["DEFAULT_TIMEZONE"] = original


def fresh(ticket_id: int) -> Ticket:
    _db.session.expire_all()
    return _db.session.get(Ticket, ticket_id)


def resolved(actor: Any, ticket: Ticket, on: datetime | None = None) -> Ticket:
    ticket = services.change_status(actor, ticket.id, ticket.version, "in_progress")
    ticket = services.change_status(
        actor, ticket.id, ticket.version, "resolved", resolution="The late fee is refunded."
    )
    if on is not None:  # resolved back then (the summary resolution needs it in the window)
        ticket.resolved_at = on
        _db.session.commit()
    return fresh(ticket.id)


# ---------------------------------------------------------------- how each notice is given


def _acknowledgement(actor: Any, ticket: Ticket) -> None:
    notices.acknowledge(actor, ticket)
    _db.session.commit()


def within_the_period(ticket: Ticket) -> Any:
    """Run the clock use cases three days after receipt: an extension is decided in time."""
    moment = as_utc(ticket.received_at) + timedelta(days=3)
    return patch("portal.tickets.clock_changes.utc_now", return_value=moment)


def _extension(actor: Any, ticket: Ticket) -> None:
    with within_the_period(ticket):
        clock_changes.extend_clock(
            actor, ticket.id, ticket.version, "Needs the call recording", "We need more time."
        )


def _pause(actor: Any, ticket: Ticket) -> None:
    with within_the_period(ticket):
        clock_changes.pause_clock(actor, ticket.id, ticket.version, "Appraisal", "Sent out.")


def _resume(actor: Any, ticket: Ticket) -> None:
    """Paused and resumed at the same moment: no day is added to the deadline."""
    _pause(actor, ticket)
    ticket = fresh(ticket.id)
    with within_the_period(ticket):
        clock_changes.resume_clock(actor, ticket.id, ticket.version, "Report received")


def _holding(actor: Any, ticket: Ticket) -> None:
    if ticket.profile == "US":  # marked in progress: the 60-day response it promises
        clock_changes.extend_clock(actor, ticket.id, ticket.version, "Complex", "")
        ticket = fresh(ticket.id)
    notices.send_notice(actor, ticket.id, ticket.version, "holding", "We need more time.")


def _decision(actor: Any, ticket: Ticket) -> None:
    ticket = resolved(actor, ticket)
    notices.send_notice(actor, ticket.id, ticket.version, "decision")


def _summary(actor: Any, ticket: Ticket) -> None:
    ticket = resolved(actor, ticket, datetime(2025, 12, 23, 15, 0, tzinfo=UTC))
    notices.send_notice(actor, ticket.id, ticket.version, "summary_resolution")


@dataclass(frozen=True)
class Case:
    profile: str
    give: Callable[[Any, Ticket], None]
    # What the customer reads, per language; **…** is bold in the HTML part, plain in text.
    reads: dict[str, tuple[str, ...]]


CASES: dict[str, Case] = {
    "ticket_acknowledgement_cn": Case(
        "CN",
        _acknowledgement,
        {
            "en": (
                "We received your complaint on Dec 16, 2025 and have registered it",
                "within 15 days of receiving your complaint, that is by "
                "**Dec 31, 2025, end of day**.",
            ),
            "zh_Hans": (
                "我们已于2025年12月16日收到您的投诉",
                "自收到投诉之日起15日内（即**2025年12月31日24时前**）作出处理决定并告知您。",
            ),
        },
    ),
    "ticket_acknowledgement_uk": Case(
        "UK",
        _acknowledgement,
        {
            "en": (
                "We received your complaint on Dec 22, 2025 and have registered it",
                "If we resolve it to your satisfaction by Dec 29, 2025, end of day (the end of "
                "the third business day after we received it),",
                "within eight weeks of receiving your complaint, that is by "
                "**Feb 16, 2026, end of day**.",
            ),
            "zh_Hans": (
                "我们已于2025年12月22日收到您的投诉",
                "如我们能在2025年12月29日24时前（即收到投诉后的第三个工作日结束前）解决您的投诉",
                "在收到投诉之日起八周内（即**2026年2月16日24时前**）向您发送最终答复。",
            ),
        },
    ),
    "ticket_acknowledgement_us": Case(
        "US",
        _acknowledgement,
        {
            "en": (
                "We received your complaint on Dec 16, 2025 and have registered it",
                "respond within 15 days, by **Dec 31, 2025, end of day**.",
            ),
            "zh_Hans": ("2025年12月16日", "（即**2025年12月31日24时前**）答复您。"),
        },
    ),
    "ticket_extension_cn": Case(
        "CN",
        _extension,
        {
            "en": (
                "which we received on Dec 16, 2025.",
                "We will let you know our decision by **Jan 15, 2026, end of day**.",
            ),
            "zh_Hans": (
                "您于2025年12月16日提出的投诉",
                "我们将于**2026年1月15日24时前**作出处理决定并告知您。",
            ),
        },
    ),
    "ticket_pause_cn": Case(
        "CN",
        _pause,
        {
            "en": ("which we received on Dec 16, 2025.",),
            "zh_Hans": ("您于2025年12月16日提出的投诉",),
        },
    ),
    "ticket_resume_cn": Case(
        "CN",
        _resume,
        {
            "en": ("We will let you know our decision by **Dec 31, 2025, end of day**.",),
            "zh_Hans": ("我们将于**2025年12月31日24时前**作出处理决定并告知您。",),
        },
    ),
    "ticket_holding_uk": Case(
        "UK",
        _holding,
        {
            "en": (
                "which we received on Dec 22, 2025.",
                "within eight weeks of receiving your complaint, that is by "
                "Feb 16, 2026, end of day.",
            ),
            "zh_Hans": (
                "关于您于2025年12月22日提出的投诉",
                "八周内（即2026年2月16日24时前）向您作出最终答复。",
            ),
        },
    ),
    "ticket_holding_us": Case(
        "US",
        _holding,
        {
            "en": (
                "which we received on Dec 16, 2025, and need more time",
                "within 60 days of receiving your complaint, by **Feb 14, 2026, end of day**.",
            ),
            "zh_Hans": (
                "您于2025年12月16日提出的投诉",
                "60日内（即**2026年2月14日24时前**）向您发送最终答复。",
            ),
        },
    ),
    "ticket_decision_cn": Case(
        "CN",
        _decision,
        {
            "en": ("which we received on Dec 16, 2025.",),
            "zh_Hans": ("关于您于2025年12月16日提出的投诉",),
        },
    ),
    "ticket_decision_uk": Case(
        "UK",
        _decision,
        {
            "en": ("which we received on Dec 22, 2025.",),
            "zh_Hans": ("对您于2025年12月22日提出的投诉",),
        },
    ),
    "ticket_decision_us": Case(
        "US",
        _decision,
        {
            "en": ("which we received on Dec 16, 2025.",),
            "zh_Hans": ("关于您于2025年12月16日提出的投诉",),
        },
    ),
    "ticket_summary_resolution_uk": Case(
        "UK",
        _summary,
        {
            "en": ("which we received on Dec 22, 2025.",),
            "zh_Hans": ("对于您于2025年12月22日提出的投诉",),
        },
    ),
}
LOCALES = ("en", "zh_Hans")


def test_every_notice_template_is_covered() -> None:
    from portal.messaging.templates import default_keys

    notices_shipped = {k for k in default_keys() if k.startswith("ticket_") and k != "ticket_reply"}
    assert notices_shipped == set(CASES)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("key", sorted(CASES))
def test_the_email_names_the_last_day_of_the_period(db, firm, key: str, locale: str) -> None:
    case = CASES[key]
    firm(case.profile)
    handler = make_actor("lead", name="Lena Lead")  # a lead may extend and approve
    customer = make_customer(email="mei@mail.example.com", locale=locale)
    ticket = make_ticket(handler, customer, received_at=received_at(case.profile))
    case.give(handler, fresh(ticket.id))
    message = _db.session.scalars(
        select(Message).where(Message.template_key == key, Message.source_id == str(ticket.id))
    ).one()
    assert message.locale == locale
    email = content_of(message)
    for words in case.reads[locale]:
        assert words.replace("**", "") in email.body_text, words
        assert re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", words) in email.body_html, words
    for part in (email.subject, email.body_text, email.body_html):
        assert not ISO_DAY.search(part), part
        for wrong in NEXT_DAYS:
            assert wrong not in part, (wrong, part)


@pytest.mark.parametrize(
    ("profile", "received", "english", "chinese"),
    [
        # The defect's own case: 24:00 on Jan 6, 2027, after the New Year holiday.
        ("CN", date(2026, 12, 22), "Jan 6, 2027, end of day", "2027年1月6日24时前"),
        # A year boundary: 24:00 on 31 Dec is 1 Jan 00:00, and must not read as next year.
        ("CN", date(2026, 12, 16), "Dec 31, 2026, end of day", "2026年12月31日24时前"),
        # The Spring Festival break (15–Feb 23, 2026) rolls day 15 to the first working day.
        ("CN", date(2026, 2, 1), "Feb 24, 2026, end of day", "2026年2月24日24时前"),
        ("UK", date(2026, 11, 5), "Dec 31, 2026, end of day", "2026年12月31日24时前"),
        ("US", date(2026, 12, 16), "Dec 31, 2026, end of day", "2026年12月31日24时前"),
    ],
)
def test_a_clock_deadline_reads_as_its_last_day(
    app, profile: str, received: date, english: str, chinese: str
) -> None:
    zone = ZoneInfo(ZONES[profile])
    start = datetime(received.year, received.month, received.day, 23, 30, tzinfo=zone)
    due = clocks.deadlines(clocks.ClockState(profile, start.astimezone(UTC)), zone).respond_by
    assert due is not None and due.astimezone(zone).hour == 0  # stored as the next midnight
    with app.app_context():
        app.config["DEFAULT_TIMEZONE"] = zone.key
        try:
            assert format_deadline(due, "en") == english
            assert format_deadline(due, "zh_Hans") == chinese
        finally:
            app.config["DEFAULT_TIMEZONE"] = "Asia/Shanghai"


def test_the_last_day_is_named_in_the_firms_zone_whoever_reads_it(app) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    end = end_of_day(date(2026, 12, 31), shanghai)
    assert end == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert last_day(end, shanghai) == date(2026, 12, 31)
    assert last_day(end, ZoneInfo("Pacific/Auckland")) == date(2027, 1, 1)  # not the firm's
    with app.app_context():
        assert format_deadline(end, "en") == "Dec 31, 2026, end of day"


# ---------------------------------------------------------------- reply templates


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("en", "answer by Dec 31, 2025, end of day."), ("zh_Hans", "answer by 2025年12月31日24时前.")],
)
def test_a_reply_templates_deadline_is_the_last_day_in_its_language(
    db, firm, locale: str, expected: str
) -> None:
    firm("CN")
    admin = make_actor("admin")
    template = replies.save(
        admin,
        None,
        replies.ReplyTemplateInput(
            "Due", locale, None, "{{ reference }}: answer by {{ deadline }}."
        ),
    )
    handler = make_actor("handler")
    customer = make_customer(locale=locale)  # templates are offered in the customer's language
    ticket = make_ticket(handler, customer, received_at=received_at("CN"))
    assert replies.fill(ticket, template.id) == f"{ticket.reference}: {expected}"


def test_a_reply_template_promises_no_deadline_for_a_ticket_without_one(db, firm) -> None:
    firm("CN")
    template = replies.save(
        make_actor("admin"),
        None,
        replies.ReplyTemplateInput("Due", "en", None, "[{{ deadline }}] since {{ received_on }}"),
    )
    ticket = make_ticket(
        make_actor("handler"),
        make_customer(locale="en"),
        kind="inquiry",
        received_at=received_at("CN"),
    )
    assert replies.fill(ticket, template.id) == "[] since Dec 16, 2025"


# ---------------------------------------------------------------- staff pages


@dataclass(frozen=True)
class Complaint:
    ticket: Ticket
    rm: User


@pytest.fixture
def complaint(db, firm) -> Complaint:
    """A CN complaint due at 24:00 on Dec 31, 2025 (Shanghai), about an RM's customer."""
    firm("CN")
    rm = make_user(role="rm", name="Rita RM")
    customer = make_customer(owner_id=rm.id)
    ticket = make_ticket(make_actor("handler"), customer, received_at=received_at("CN"))
    return Complaint(ticket, rm)


STAFF = {"en": "Dec 31, 2025, end of day", "zh_Hans": "2025年12月31日24时前"}


@pytest.mark.parametrize("locale", LOCALES)
def test_the_ticket_page_shows_the_last_day_in_the_firms_zone(
    client, login_as, complaint, locale: str
) -> None:
    # Auckland is already in Jan 1, 2026 when Shanghai's 31 Dec ends: the firm's zone counts.
    login_as("handler", locale=locale, timezone="Pacific/Auckland")
    page = client.get(f"/tickets/{complaint.ticket.id}").text
    assert f'<strong id="regulatory-deadline">{STAFF[locale]}</strong>' in page
    assert "Jan 1, 2026" not in page and "2026年1月1日" not in page


@pytest.mark.parametrize("locale", LOCALES)
def test_the_queue_and_the_print_view_show_the_same_last_day(
    client, login_as, complaint, locale: str
) -> None:
    login_as("handler", locale=locale, timezone="Pacific/Auckland")
    queue = client.get("/tickets").text
    assert complaint.ticket.reference in queue and STAFF[locale] in queue
    printed = client.get(f"/tickets/{complaint.ticket.id}/print").text
    assert f'<td id="due">{STAFF[locale]}</td>' in printed


@pytest.mark.parametrize("locale", LOCALES)
def test_my_day_shows_the_same_last_day(client, login_as, complaint, locale: str) -> None:
    complaint.rm.locale = locale
    _db.session.commit()
    login_as(user=complaint.rm)
    my_day = client.get("/my-day").text
    assert complaint.ticket.reference in my_day
    assert ("Deadline: " if locale == "en" else "处理时限：") + STAFF[locale] in my_day


def test_an_internal_target_keeps_its_time_of_day(client, login_as, db, firm) -> None:
    firm("CN")
    login_as("handler", locale="en")
    # 40 business hours (09:00–18:00) from Tue Dec 16, 2025 10:00: 8 + 9 + 9 + 9 hours to Fri,
    # then 5 more on Mon 22 Dec, so 14:00 that day.
    inquiry = make_ticket(
        make_actor("handler"), make_customer(), kind="inquiry", received_at=received_at("CN")
    )
    assert inquiry.due_at == datetime(2025, 12, 22, 6, 0, tzinfo=UTC)
    queue = client.get("/tickets").text
    assert inquiry.reference in queue
    assert "12/22/25, 2:00\u202fPM" in queue
    assert "end of day" not in queue


def test_the_history_and_print_name_the_deadline_before_and_after_an_extension(
    client, login_as, complaint
) -> None:
    ticket = complaint.ticket
    with within_the_period(ticket):
        clock_changes.extend_clock(
            make_actor("lead"), ticket.id, ticket.version, "Complex", "Told."
        )
    login_as("handler", locale="en")
    change = "Dec 31, 2025, end of day → Jan 15, 2026, end of day"
    assert change in client.get(f"/tickets/{ticket.id}").text
    assert change in client.get(f"/tickets/{ticket.id}/print").text


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", "has used 80 % of its time: due Dec 31, 2025, end of day."),
        ("zh_Hans", "的办理时限已用去 80%，截止：2025年12月31日24时前。"),
    ],
)
def test_the_clock_watch_names_the_last_day(
    client, login_as, db, firm, locale: str, expected: str
) -> None:
    firm("CN")
    assignee = make_user(role="handler", locale=locale, timezone="Pacific/Auckland")
    ticket = make_ticket(
        actor_for(assignee),
        make_customer(),
        received_at=received_at("CN"),
        assignee_id=assignee.id,
    )
    jobs.clock_watch(as_of=datetime(2025, 12, 29, 12, 0, tzinfo=UTC))  # past 80 %, not due
    (note,) = _db.session.scalars(
        select(Notification).where(Notification.user_id == assignee.id)
    ).all()
    assert note.message == f"{ticket.reference} {expected}"
    login_as(user=assignee)
    assert f"{_label(locale)}: {STAFF[locale]}" in client.get(f"/tickets/{ticket.id}").text


def _label(locale: str) -> str:
    return "Due" if locale == "en" else "到期日"


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", "that is by Dec 15, 2026, end of day."),
        ("zh_Hans", "（即2026年12月15日24时前）"),
    ],
)
def test_the_template_preview_shows_sample_dates_as_the_customer_reads_them(
    client, login_as, db, locale: str, expected: str
) -> None:
    from tests.test_messaging_pages import template_form

    login_as("admin")
    url = f"/admin/templates/ticket_acknowledgement_cn/{locale}"
    preview = client.submit(f"{url}/preview", template_form(client, url), htmx=True)
    assert preview.status_code == 200
    assert expected in preview.text
    assert "2026-12-15" not in preview.text


def test_a_language_the_portal_does_not_speak_reads_english(app) -> None:
    end = end_of_day(date(2026, 12, 31), ZoneInfo("Asia/Shanghai"))
    with app.app_context():
        assert format_deadline(end, "xx_Nowhere") == "Dec 31, 2026, end of day"
