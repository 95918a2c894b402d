"""Each role's home on day one, My day's one date format, names that link, counts in plural."""

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from sqlalchemy import select, update

from portal.core.audit import AuditEvent
from portal.core.extensions import db
from portal.core.i18n import last_day
from portal.core.timeutil import utc_now
from portal.customers.models import Customer, FollowUp
from portal.jobs.models import JobRun
from portal.tickets.models import Ticket
from portal.tickets.notifications import notify
from tests.factories import actor_for, make_customer, make_message, make_ticket, make_user
from tests.test_customers import contact_form


def visible_text(page: str) -> str:
    """The page's text as read on screen: no tags, no attribute values (no input values)."""
    body = page[page.index('<main class="container"') :]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", body))


def set_clock(ticket: Ticket, due_in: timedelta, warn_in: timedelta | None = None) -> None:
    now = utc_now()
    db.session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id)
        .values(due_at=now + due_in, warn_at=now + (warn_in if warn_in is not None else due_in))
    )
    db.session.commit()


def speak(client, locale: str) -> None:
    assert client.submit("/language", {"locale": locale, "next": "/"}).status_code == 303


# ---------------------------------------------------------------- homes


def test_an_rms_home_is_my_day(client, login_as) -> None:
    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id, name="Zhou Rui")
    db.session.add(FollowUp(customer_id=customer.id, owner_id=rm.id, due_on=utc_now().date()))
    db.session.commit()
    home = client.get("/")
    assert home.status_code == 200
    assert re.search(r"<h1>My day <small>", home.text)
    assert "Zhou Rui" in home.text and "Welcome" not in home.text
    assert client.get("/my-day").text.count("Zhou Rui") == home.text.count("Zhou Rui")


def test_a_handlers_home_lists_their_tickets_due_soon_and_unread_notifications(
    client, login_as
) -> None:
    handler = login_as("handler")
    other = make_user(role="handler")
    late = make_ticket(actor_for(handler), assignee_id=handler.id, subject="Late one")
    soon = make_ticket(actor_for(handler), assignee_id=handler.id, subject="Soon one")
    later = make_ticket(actor_for(handler), assignee_id=handler.id, subject="Later one")
    theirs = make_ticket(actor_for(other), assignee_id=other.id, subject="Not mine")
    set_clock(late, -timedelta(hours=3))
    set_clock(soon, timedelta(days=2))
    set_clock(later, timedelta(days=10))
    set_clock(theirs, timedelta(hours=5))
    notify(handler.id, "test:1", "email", soon)
    db.session.commit()

    page = client.get("/")
    assert page.status_code == 200 and f"Welcome, {handler.name}" in page.text
    due = page.text[
        page.text.index('id="home-due-soon"') : page.text.index('id="home-notifications"')
    ]
    assert due.index(late.reference) < due.index(soon.reference)
    assert later.reference not in due and theirs.reference not in due
    assert 'href="/tickets?assignee=me&amp;due_within=3"' in due
    notes = page.text[page.text.index('id="home-notifications"') :]
    assert f"{soon.reference}: the complainant wrote again." in notes
    assert f'href="/tickets/{soon.id}"' in notes

    login_as("handler")
    empty = client.get("/").text
    assert "Nothing of yours is due soon." in empty and "Nothing unread." in empty


def test_a_leads_home_lists_breaches_tickets_at_risk_and_unread_notifications(
    client, login_as
) -> None:
    lead = login_as("lead")
    handler = make_user(role="handler")
    actor = actor_for(handler)
    breached = make_ticket(actor, assignee_id=handler.id, subject="Past due")
    at_risk = make_ticket(actor, assignee_id=handler.id, subject="Most time used")
    fine = make_ticket(actor, assignee_id=handler.id, subject="On track")
    paused = make_ticket(actor, assignee_id=handler.id, subject="Paused")
    set_clock(breached, -timedelta(days=1), -timedelta(days=3))
    set_clock(at_risk, timedelta(days=2), -timedelta(hours=1))
    set_clock(fine, timedelta(days=9), timedelta(days=5))
    set_clock(paused, timedelta(days=2), -timedelta(hours=1))
    db.session.execute(update(Ticket).where(Ticket.id == paused.id).values(paused_since=utc_now()))
    notify(lead.id, "test:breach", "clock.breached", breached)
    db.session.commit()

    page = client.get("/").text
    sections = {
        name: page[page.index(f'id="home-{name}"') :].split("</article>")[0]
        for name in ("breached", "at-risk", "notifications")
    }
    assert breached.reference in sections["breached"]
    assert at_risk.reference not in sections["breached"]
    assert 'href="/tickets?breached=1"' not in sections["breached"]  # all are shown
    assert at_risk.reference in sections["at-risk"]
    for absent in (breached, fine, paused):
        assert absent.reference not in sections["at-risk"]
    assert f"{breached.reference} is past its deadline," in sections["notifications"]
    assert 'id="home-due-soon"' not in page and 'id="home-outbox"' not in page

    login_as("lead")  # another lead: the lists are everyone's, the notifications their own
    other = client.get("/").text
    assert breached.reference in other and "Nothing unread." in other


def test_an_admins_home_shows_users_the_outbox_and_the_jobs(client, login_as) -> None:
    login_as("admin")
    make_user(role="rm", active=False)
    now = utc_now()
    make_message(status="failed", last_error="550 mailbox unavailable", at=now)
    make_message(status="failed", last_error="old failure", at=now - timedelta(days=3))
    make_message(status="queued", at=now - timedelta(hours=2))
    for job_id, outcome, error in (
        ("tickets.clock_watch", "failed", "RuntimeError: the database went away"),
        ("messaging.deliver", "succeeded", None),
    ):
        db.session.add(
            JobRun(
                job_id=job_id,
                holder="test",
                as_of=now,
                started_at=now - timedelta(minutes=5),
                finished_at=now,
                outcome=outcome,
                error=error,
            )
        )
    db.session.commit()

    page = client.get("/").text
    users = page[page.index('id="home-users"') :].split("</article>")[0]
    assert 'href="/admin/users?role=rm&amp;status=active"' in users
    assert "1 deactivated account" in users
    outbox = page[page.index('id="home-outbox"') :].split("</article>")[0]
    assert 'href="/admin/outbox?status=failed"' in outbox
    assert "1 message failed in the last day." in outbox
    assert "550 mailbox unavailable" in outbox and "old failure" not in outbox
    assert "Oldest message waiting to be sent:" in outbox and "none, delivery" not in outbox
    jobs = page[page.index('id="home-jobs"') :].split("</article>")[0]
    clock_watch = jobs[jobs.index("tickets.clock_watch") :].split("</li>")[0]
    assert "failed" in clock_watch and "1 failed run in the last day" in clock_watch
    assert "the database went away" in clock_watch
    assert "succeeded" in jobs[jobs.index("messaging.deliver") :].split("</li>")[0]
    assert "never run" in jobs[jobs.index("care.plan") :].split("</li>")[0]
    assert 'id="home-breached"' not in page


def test_the_homes_speak_chinese(client, login_as) -> None:
    handler = login_as("handler")
    speak(client, "zh_Hans")
    page = client.get("/").text
    assert f"欢迎，{handler.name}" in page
    assert "我的 3 天内到期的工单" in page and "您没有即将到期的工单。" in page
    login_as("rm")
    assert "<h1>我的今日" in client.get("/").text


# ---------------------------------------------------------------- My day


def test_my_day_shows_every_date_in_one_format_per_language(app, client, login_as) -> None:
    zone = ZoneInfo(app.config["DEFAULT_TIMEZONE"])  # the viewer's: they chose none
    rm = login_as("rm")
    today = utc_now().astimezone(zone).date()
    overdue = today - timedelta(days=4)
    contacted = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)
    customer = make_customer(owner_id=rm.id, last_contact_at=contacted)
    db.session.add(FollowUp(customer_id=customer.id, owner_id=rm.id, due_on=overdue, note="x"))
    db.session.commit()
    complaint = make_ticket(customer=customer)

    for locale, babel_locale in (("en", "en"), ("zh_Hans", "zh_Hans_CN")):
        speak(client, locale)
        text = visible_text(client.get("/my-day").text)
        # a deadline reads as the last day of its period (stored as 24:00, the next midnight)
        for day in (overdue, date(2026, 3, 5), last_day(complaint.due_at)):
            assert format_date(day, "medium", locale=babel_locale) in text, (locale, day)
        assert not re.search(r"\d{4}-\d{2}-\d{2}", text), "an ISO date is shown"
        assert not re.search(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b", text), "a short date is shown"
        assert not re.search(r"\d{4}/\d{1,2}/\d{1,2}", text), "a short date is shown"


def test_the_quiet_customers_heading_counts_days_in_the_plural_they_take(client, login_as) -> None:
    login_as("rm")
    assert "Not contacted for 1 day or more" in client.get("/my-day?quiet=1").text
    assert "Not contacted for 30 days or more" in client.get("/my-day?quiet=30").text
    speak(client, "zh_Hans")
    assert "1 天及以上未联系的客户" in client.get("/my-day?quiet=1").text


def test_a_lead_has_no_my_day_and_is_refused_it(client, login_as) -> None:
    login_as("lead")
    assert client.get("/my-day").status_code == 403
    assert 'href="/my-day"' not in client.get("/").text


def test_my_day_follow_ups_stack_on_a_phone_with_every_action_in_the_row(client, login_as) -> None:
    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id)
    db.session.add(FollowUp(customer_id=customer.id, owner_id=rm.id, due_on=utc_now().date()))
    db.session.commit()
    page = client.get("/my-day").text
    assert '<table class="stack" id="follow-ups">' in page
    row = page[page.index('<tr id="follow-up-') :].split("</tr>")[0]
    for label in ("Due", "Customer", "Note", "Actions"):
        assert f'data-label="{label}"' in row
    assert ">Done</button>" in row and ">Reschedule</button>" in row


def test_a_rescheduled_follow_up_says_its_day_in_the_users_format(client, login_as) -> None:
    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id)
    follow_up = FollowUp(customer_id=customer.id, owner_id=rm.id, due_on=utc_now().date())
    db.session.add(follow_up)
    db.session.commit()
    response = client.submit(
        f"/follow-ups/{follow_up.id}/reschedule", {"due_on": "2099-03-05"}, follow_redirects=True
    )
    assert "Follow-up moved to Mar 5, 2099." in response.text


# ---------------------------------------------------------------- customers


def test_a_customers_name_links_to_the_360_page_in_search_results(client, login_as) -> None:
    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id, name="Li Wenjing")
    link = f'<a href="/customers/{customer.id}">Li Wenjing</a>'
    assert link in client.get("/customers").text
    assert link in client.get("/customers?q=Wenjing", headers={"HX-Request": "true"}).text


def test_the_filter_form_reloads_on_its_own_controls_only(client, login_as) -> None:
    login_as("admin")
    page = client.get("/customers").text
    form = page[page.index('id="customer-filters"') :].split(">")[0]
    trigger = re.search(r'hx-trigger="([^"]+)"', form).group(1)
    assert "from:(#customer-filters select)" in trigger
    assert "from:select" not in trigger.replace("from:(#customer-filters select)", "")


@pytest.mark.parametrize(
    ("locale", "one", "three"),
    [
        ("en", "1 customer reassigned.", "3 customers reassigned."),
        ("zh_Hans", "已转移 1 名客户。", "已转移 3 名客户。"),
    ],
)
def test_reassigning_says_how_many_in_the_plural_it_takes(
    client, login_as, locale, one, three
) -> None:
    login_as("lead")
    speak(client, locale)
    old, new = make_user(role="rm"), make_user(role="rm")
    customers = [make_customer(owner_id=old.id) for _ in range(4)]
    for chosen, expected in ((customers[:1], one), (customers[1:], three)):
        response = client.submit(
            "/customers/reassign",
            {"owner_id": str(new.id), "customer_ids": [str(c.id) for c in chosen]},
            follow_redirects=True,
        )
        assert expected in response.text
    db.session.expire_all()
    assert {db.session.get(Customer, c.id).owner_id for c in customers} == {new.id}


def test_the_360_page_folds_account_columns_and_wraps_long_values(client, login_as) -> None:
    from portal.customers.models import CreditAccount

    rm = login_as("rm")
    email = "a.very.long.local.part.that.never.ends.anywhere@" + "sub." * 12 + "example.com"
    customer = make_customer(owner_id=rm.id, email=email, name="Supercalifragilistic" * 4)
    db.session.add(
        CreditAccount(
            customer_id=customer.id,
            number="6222000011112222",
            product="credit_card",
            status="active",
            principal=5000,
            balance=1234.5,
            currency="CNY",
            next_due_on=date(2026, 12, 20),
            next_due_amount=300,
        )
    )
    db.session.commit()
    page = client.get(f"/customers/{customer.id}").text
    assert '<hgroup class="wrap-anywhere">' in page
    assert f"<dd>{email}</dd>" in page  # in .facts dd, which wraps anywhere
    row = page[page.index("6222000011112222") :].split("</tr>")[0]
    assert '<small class="folded"><br>Credit card · 1,234.50 CNY</small>' in row
    assert row.count('class="fold"') == 2
    assert "Dec 20, 2026" in row and "Active" in row


def test_logging_a_contact_is_audited_and_its_summary_scrubbed_on_erasure(client, login_as) -> None:
    from portal.customers.privacy import erase_customer

    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id)
    response = client.submit(
        f"/customers/{customer.id}/contacts",
        contact_form(
            direction="inbound",
            occurred_at="2026-11-20T15:30",
            summary="Asked about the annual fee.",
            follow_up_on="2026-11-27",
        ),
    )
    assert response.status_code == 303
    [event] = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "interaction.logged")
    ).all()
    assert event.actor_id == rm.id and event.before is None
    assert event.after == {
        "channel": "call",
        "direction": "inbound",
        "occurred_at": "2026-11-20T07:30:00+00:00",
        "summary": "Asked about the annual fee.",
        "outcome": "reached",
        "customer_id": customer.id,
        "follow_up_on": "2026-11-27",
    }
    refused = client.submit(f"/customers/{customer.id}/contacts", {"summary": ""})
    assert refused.status_code == 400
    assert (
        db.session.scalar(
            select(AuditEvent.id).where(AuditEvent.action == "interaction.logged").offset(1)
        )
        is None
    )

    admin = make_user(role="admin")
    erase_customer(actor_for(admin), customer.id, "Asked to be forgotten", customer.number)
    db.session.expire_all()
    assert "Asked about" not in str(db.session.get(AuditEvent, event.id).after)
