"""The messaging room over HTTP: the admin outbox, retry, suppressions, the template editor,
the public unsubscribe link, and messages on the customer 360 timeline."""

import re
from datetime import UTC, datetime, timedelta
from functools import partial
from html import unescape

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import select

from portal.core.audit import Actor, AuditEvent
from portal.core.extensions import db as _db
from portal.core.timeutil import utc_now
from portal.customers.models import Customer
from portal.messaging import routes, services
from portal.messaging.delivery import deliver_due
from portal.messaging.models import Message, MessageTemplate, Suppression
from portal.messaging.transports import FileTransport
from tests import factories
from tests.factories import actor_for, make_actor, make_customer

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'
# Outbox messages as the pages mostly meet them: sent, on the first attempt.
make_message = partial(factories.make_message, status="sent", attempts=1)


def events(action, subject_id=None):
    stmt = select(AuditEvent).where(AuditEvent.action == action)
    if subject_id is not None:
        stmt = stmt.where(AuditEvent.subject_id == str(subject_id))
    return list(_db.session.scalars(stmt.order_by(AuditEvent.id)))


def fresh(model, key):
    _db.session.expire_all()
    return _db.session.get(model, key)


@pytest.fixture
def no_quiet_hours(app, monkeypatch):
    monkeypatch.setitem(app.config, "QUIET_HOURS", "00:00-00:00")


# ---------------------------------------------------------------- the outbox


def test_the_outbox_filters_by_status_purpose_kind_and_customer(client, login_as):
    login_as("admin")
    mei, lei = make_customer(name="Mei Chen"), make_customer(name="Lei Wang")
    sent = make_message(mei, subject="Sent greeting")
    failed = make_message(mei, status="failed", subject="Failed greeting")
    survey = make_message(
        lei, purpose="survey", kind="nps", status="queued", subject="How did we do?"
    )
    held = make_message(
        lei,
        status="suppressed",
        held_reason="customer is flagged hardship",
        subject="Season greeting",
    )
    everything = client.get("/admin/outbox").text
    shown = [everything.index(m.subject) for m in (held, survey, failed, sent)]
    assert shown == sorted(shown), "newest first"
    assert "customer is flagged hardship" in everything

    def subjects(query):
        page = client.get(
            f"/admin/outbox?{query}", headers={"HX-Request": "true", "HX-Target": "outbox-results"}
        )
        assert page.status_code == 200 and "<html" not in page.text
        return {m.subject for m in (sent, failed, survey, held) if m.subject in page.text}

    assert subjects("status=failed") == {"Failed greeting"}
    assert subjects("purpose=survey") == {"How did we do?"}
    assert subjects("kind=nps") == {"How did we do?"}
    assert subjects(f"customer={mei.number.lower()}") == {"Sent greeting", "Failed greeting"}
    assert subjects("customer=NOBODY-HERE") == set()
    assert (
        "No customer has the number NOBODY-HERE"
        in client.get("/admin/outbox?customer=nobody-here").text
    )
    assert subjects("status=bogus&purpose=survey") == {
        "How did we do?"
    }  # an unknown status is dropped


def test_the_outbox_pages_with_a_key(client, login_as, monkeypatch):
    login_as("admin")
    monkeypatch.setattr(routes, "PAGE", 2)
    customer = make_customer()
    made = [make_message(customer, subject=f"Page test {i}") for i in range(3)]
    first = client.get(f"/admin/outbox?customer={customer.number}").text
    assert made[2].subject in first and made[1].subject in first
    assert made[0].subject not in first
    link = unescape(re.search(r'id="next-page" rel="next" href="([^"]+)"', first).group(1))
    second = client.get(link).text
    assert made[0].subject in second and made[1].subject not in second
    assert 'id="next-page"' not in second


def test_a_message_is_shown_as_the_customer_sees_it_and_its_html_never_runs_here(client, login_as):
    login_as("admin")
    customer = make_customer()
    message = make_message(
        customer,
        body_text="Dear Mei,\n<b>not bold</b>",
        body_html=f'<p style="color: red">Dear Mei</p>{SCRIPT}',
        headers={"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        message_id="<abc@portal.invalid>",
    )
    page = client.get(f"/admin/outbox/{message.id}")
    assert page.status_code == 200
    assert "<script>" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;" in page.text  # the source, shown as text
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page.text  # the text part, in a <pre>
    assert re.search(
        rf'<iframe[^>]*sandbox=""[^>]*src="/admin/outbox/{message.id}/html"', page.text
    )
    assert "List-Unsubscribe=One-Click" in page.text and "&lt;abc@portal.invalid&gt;" in page.text
    assert customer.number in page.text

    part = client.get(f"/admin/outbox/{message.id}/html")
    assert part.status_code == 200 and part.text == message.body_html
    policy = part.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert re.search(r"(^|; )sandbox($|;)", policy)
    assert "frame-ancestors 'self'" in policy
    assert part.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_a_held_back_message_says_why(client, login_as):
    login_as("admin")
    message = make_message(
        make_customer(), status="suppressed", held_reason="no consent for care messages"
    )
    page = client.get(f"/admin/outbox/{message.id}").text
    assert "Held back by the contact policy: no consent for care messages" in page
    assert "Retry" not in page


def test_retry_queues_a_failed_message_again_with_an_event(client, login_as, no_quiet_hours):
    admin = login_as("admin")
    customer = make_customer(consent_care=True)
    message = make_message(
        customer, status="failed", attempts=5, last_error="550 mailbox unavailable"
    )
    page = client.get(f"/admin/outbox/{message.id}").text
    assert "550 mailbox unavailable" in page and "Retry" in page
    response = client.submit(f"/admin/outbox/{message.id}/retry")
    assert response.status_code == 303
    retried = fresh(Message, message.id)
    assert (retried.status, retried.attempts) == ("queued", 0)
    assert abs(retried.next_attempt_at - utc_now()) < timedelta(minutes=1)
    (event,) = events("message.retried", message.id)
    assert event.actor_id == admin.id
    assert (event.before["status"], event.after["status"]) == ("failed", "queued")
    assert (event.before["attempts"], event.after["attempts"]) == (5, 0)
    assert "Message queued again." in client.get(response.headers["Location"]).text

    again = client.submit(f"/admin/outbox/{message.id}/retry")  # no longer failed
    assert "Only a failed message can be retried" in client.get(again.headers["Location"]).text
    assert len(events("message.retried", message.id)) == 1


def test_retry_is_refused_when_the_policy_would_hold_the_message_now(
    client, login_as, no_quiet_hours
):
    login_as("admin")
    opted_out = make_message(make_customer(consent_care=False), status="failed")
    bounced_customer = make_customer(consent_care=True)
    bounced = make_message(bounced_customer, status="failed")
    _db.session.add(
        Suppression(address=bounced_customer.email, reason="550 no such user", created_at=utc_now())
    )
    _db.session.commit()
    for message, reason in (
        (opted_out, "no consent for care messages"),
        (bounced, "address suppressed: 550 no such user"),
    ):
        response = client.submit(f"/admin/outbox/{message.id}/retry")
        assert f"Not retried: {reason}." in client.get(response.headers["Location"]).text
        assert fresh(Message, message.id).status == "failed"
    assert events("message.retried") == []


def test_a_retry_in_the_customers_quiet_hours_waits_for_them(db):
    customer = make_customer(consent_care=True, timezone="Asia/Shanghai")
    message = make_message(customer, status="failed", attempts=3)
    late_evening = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    services.retry(Actor.system("test"), message.id, now=late_evening)
    retried = fresh(Message, message.id)
    assert (retried.status, retried.held_reason) == ("deferred", "quiet hours")
    assert retried.next_attempt_at == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # 08:00 there


def test_only_admins_reach_the_outbox_services(db):
    from portal.core.errors import PermissionDenied

    message = make_message(make_customer(), status="failed")
    with pytest.raises(PermissionDenied):
        services.retry(make_actor("handler"), message.id)


# ---------------------------------------------------------------- suppressions


def test_an_address_is_removed_from_the_suppression_list_with_an_event(client, login_as):
    admin = login_as("admin")
    _db.session.add(
        Suppression(address="gone@mail.example.com", reason="550 5.1.1", created_at=utc_now())
    )
    _db.session.commit()
    page = client.get("/admin/suppressions").text
    assert "gone@mail.example.com" in page and "550 5.1.1" in page
    response = client.submit("/admin/suppressions/remove", {"address": "gone@mail.example.com"})
    assert response.status_code == 303
    assert fresh(Suppression, "gone@mail.example.com") is None
    (event,) = events("mail.suppression_removed", "gone@mail.example.com")
    assert event.actor_id == admin.id and event.before["reason"] == "550 5.1.1"
    assert (
        client.submit(
            "/admin/suppressions/remove", {"address": "gone@mail.example.com"}
        ).status_code
        == 404
    )


# ---------------------------------------------------------------- templates


def textarea(name, page):
    return re.search(rf'<textarea[^>]*name="{name}"[^>]*>\r?\n?(.*?)</textarea>', page, re.S).group(
        1
    )


def template_form(client, url, **changes):
    page = client.get(url).text
    form = {
        "subject": unescape(re.search(r'name="subject"[^>]*value="([^"]*)"', page).group(1)),
        "body_text": unescape(textarea("body_text", page)),
        "body_html": unescape(textarea("body_html", page)),
        "version": re.search(r'name="version"[^>]*value="([^"]*)"', page).group(1),
    }
    if re.search(r'<input checked[^>]*name="ad_prefix"', page):
        form["ad_prefix"] = "y"
    form.update(changes)
    return form


def test_the_template_list_shows_every_kind_and_language(client, login_as):
    login_as("admin")
    page = client.get("/admin/templates").text
    for key in ("birthday", "festival", "reminder"):
        for locale in ("en", "zh_Hans"):
            assert f"/admin/templates/{key}/{locale}" in page
    assert "<strong>edited</strong>" not in page


def test_a_template_with_a_syntax_error_is_refused_with_its_line(client, login_as):
    login_as("admin")
    url = "/admin/templates/birthday/en"
    form = template_form(client, url, body_text="Dear {{ first_name }},\n\nHello\n{% if %}\n")
    response = client.submit(url, form)
    assert response.status_code == 400
    error = re.search(r'id="body_text-errors"[^>]*>(.*?)</small>', response.text, re.S).group(1)
    assert "Line 4" in error
    assert 'aria-invalid="true"' in response.text
    assert _db.session.get(MessageTemplate, ("birthday", "en")) is None
    assert events("message_template.saved") == []


def test_a_template_using_a_value_its_kind_never_gets_is_refused(client, login_as):
    login_as("admin")
    url = "/admin/templates/birthday/en"
    form = template_form(client, url, subject="Pay by {{ due_on }}")
    response = client.submit(url, form)
    assert response.status_code == 400
    error = re.search(r'id="subject-errors"[^>]*>(.*?)</small>', response.text, re.S).group(1)
    assert "Line 1: due_on is not available" in error and "first_name" in error


def test_saving_a_template_stores_it_with_an_event_and_unsent_messages_use_it(client, login_as):
    admin = login_as("admin")
    url = "/admin/templates/birthday/en"
    form = template_form(client, url, subject="Many happy returns, {{ first_name }}!")
    assert form["version"] == "0"
    response = client.submit(url, form)
    assert response.status_code == 303, response.text
    stored = fresh(MessageTemplate, ("birthday", "en"))
    assert (stored.subject, stored.version) == ("Many happy returns, {{ first_name }}!", 1)
    assert "\r" not in stored.body_text
    (event,) = events("message_template.saved", "birthday/en")
    assert event.actor_id == admin.id
    assert event.before["subject"] == "Happy birthday, {{ first_name }}!"
    assert event.after["subject"] == "Many happy returns, {{ first_name }}!"
    assert "Edited (version 1" in client.get(url).text
    assert "<strong>edited</strong>" in client.get("/admin/templates").text

    customer = make_customer(name="Mei Chen", locale="en", consent_care=True)
    services.queue(
        [
            services.Draft(
                dedupe_key=f"birthday:{customer.id}:test",
                customer_id=customer.id,
                purpose="care",
                kind="birthday",
                template_key="birthday",
                send_at=datetime(2026, 12, 1, 4, 0, tzinfo=UTC),
            )
        ],
        now=datetime(2026, 12, 1, 4, 0, tzinfo=UTC),
    )
    _db.session.commit()
    queued = _db.session.scalars(select(Message).where(Message.customer_id == customer.id)).one()
    page = client.get(f"/admin/outbox/{queued.id}").text
    assert "<h1>Many happy returns, Mei!</h1>" in page
    assert "Not sent yet: shown as its template renders it now." in page

    stale = client.submit(url, {**form, "version": "0", "subject": "Someone else's"})
    assert stale.status_code == 409 and "Someone else changed this template" in stale.text
    assert fresh(MessageTemplate, ("birthday", "en")).subject.startswith("Many happy returns")


def test_a_sent_message_keeps_the_text_it_was_sent_with_when_the_template_changes(
    app, client, login_as, tmp_path, no_quiet_hours
):
    login_as("admin")
    customer = make_customer(name="Mei Chen", locale="en", consent_care=True)
    now = utc_now()
    waiting = [
        services.Draft(
            dedupe_key=f"birthday:{customer.id}:{n}",
            customer_id=customer.id,
            purpose="care",
            kind="birthday",
            template_key="birthday",
            send_at=now + timedelta(days=n),
        )
        for n in (0, 1)
    ]
    services.queue(waiting, now=now)
    _db.session.commit()
    sent, later = _db.session.scalars(
        select(Message).where(Message.customer_id == customer.id).order_by(Message.id)
    ).all()
    assert deliver_due(now, transport=FileTransport(tmp_path)).sent == 1

    url = "/admin/templates/birthday/en"
    assert (
        client.submit(
            url, template_form(client, url, subject="New words, {{ first_name }}")
        ).status_code
        == 303
    )

    sent_page = client.get(f"/admin/outbox/{sent.id}").text
    assert "<h1>Happy birthday, Mei!</h1>" in sent_page and "Not sent yet" not in sent_page
    assert "List-Unsubscribe-Post" in sent_page  # the headers it was sent with
    assert "<h1>New words, Mei</h1>" in client.get(f"/admin/outbox/{later.id}").text
    listed = client.get(f"/admin/outbox?customer={customer.number}").text
    assert "Happy birthday, Mei!" in listed and "New words, Mei" in listed
    timeline = client.get(f"/customers/{customer.id}").text
    assert "Happy birthday, Mei!" in timeline and "New words, Mei" in timeline
    stored = fresh(Message, sent.id)
    assert stored.subject == "Happy birthday, Mei!" and "Dear Mei" in stored.body_text
    assert stored.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Dear Mei" in client.get(f"/admin/outbox/{sent.id}/html").text


def test_a_message_its_template_cannot_render_says_why(client, login_as):
    login_as("admin")
    customer = make_customer(name="Mei Chen", locale="en", consent_care=True)
    # Stored behind the editor's back (the editor refuses it): a value no message has.
    _db.session.add(
        MessageTemplate(
            key="birthday",
            locale="en",
            subject="Hello {{ nickname }}",
            body_text="Hi",
            body_html="<p>Hi</p>",
        )
    )
    services.queue(
        [
            services.Draft(
                dedupe_key=f"birthday:{customer.id}:broken",
                customer_id=customer.id,
                purpose="care",
                kind="birthday",
                template_key="birthday",
                send_at=utc_now(),
            )
        ]
    )
    _db.session.commit()
    message = _db.session.scalars(select(Message).where(Message.customer_id == customer.id)).one()
    page = client.get(f"/admin/outbox/{message.id}").text
    assert "This message cannot be rendered with its template as it is now" in page
    assert "cannot render the template birthday/en: &#39;nickname&#39; is undefined" in page
    assert client.get(f"/admin/outbox?customer={customer.number}").status_code == 200


def test_resetting_a_template_brings_the_shipped_one_back(client, login_as):
    login_as("admin")
    url = "/admin/templates/festival/zh_Hans"
    client.submit(url, template_form(client, url, subject="{{ festival }}快乐！"))
    stored = fresh(MessageTemplate, ("festival", "zh_Hans"))
    assert stored is not None
    page = client.get(url).text  # the reset asks for confirmation before it drops the edits
    step = page[
        page.index('<details id="confirm-reset">') : page.index(
            "</details>", page.index('id="confirm-reset"')
        )
    ]
    assert "Reset to default</summary>" in step and "Drop my edits and reset</button>" in step
    response = client.submit(f"{url}/reset", {"version": str(stored.version)})
    assert response.status_code == 303
    assert fresh(MessageTemplate, ("festival", "zh_Hans")) is None
    (event,) = events("message_template.reset", "festival/zh_Hans")
    assert event.before["subject"] == "{{ festival }}快乐！"
    assert "The shipped template (default)." in client.get(url).text
    again = client.submit(f"{url}/reset", {"version": "1"})
    assert "nothing to reset" in client.get(again.headers["Location"]).text


def test_the_preview_renders_both_parts_with_sample_values_and_the_html_sandboxed(client, login_as):
    login_as("admin")
    url = "/admin/templates/birthday/en"
    form = template_form(
        client, url, body_html=f"<p>Dear {{{{ first_name }}}}</p>{SCRIPT}", ad_prefix="y"
    )
    response = client.submit(f"{url}/preview", form, htmx=True)
    assert response.status_code == 200
    assert "<html" not in response.text  # the partial only
    assert "AD: Happy birthday, Mei!" in response.text
    assert "Everyone at Example Consumer Finance" in response.text  # the text part
    frame = re.search(r'<iframe[^>]*sandbox=""[^>]*srcdoc="([^"]*)"', response.text).group(1)
    assert unescape(frame) == f"<p>Dear Mei</p>{SCRIPT}"
    assert "<script>" not in response.text
    assert fresh(MessageTemplate, ("birthday", "en")) is None  # nothing stored
    # The srcdoc frame inherits the editor's policy: the email's inline styles, never a script.
    policy = client.get(url).headers["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy and "script-src 'self';" in policy
    assert "'unsafe-inline'" not in client.get("/admin/outbox").headers["Content-Security-Policy"]

    broken = client.submit(
        f"{url}/preview", {**form, "body_html": "<p>\n{{ first_name }\n"}, htmx=True
    )
    assert broken.status_code == 400 and "HTML part: Line 2" in broken.text

    page = client.submit(f"{url}/preview", form)  # without JavaScript: the whole page
    assert "<html" in page.text and "AD: Happy birthday, Mei!" in page.text


# ---------------------------------------------------------------- unsubscribing


@pytest.fixture
def stranger(app, db):
    """A mail client's one-click POST: no cookie, no session, no CSRF token."""
    return app.test_client(use_cookies=False)


def unsubscribed_events(customer):
    return events("customer.unsubscribed", customer.id)


def test_one_click_post_opts_out_at_once_and_a_second_click_is_harmless(stranger):
    customer = make_customer(consent_care=True, consent_survey=True, locale="en")
    token = services.unsubscribe_token(customer.id, "care")
    response = stranger.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200, response.text
    assert "Set-Cookie" not in response.headers
    assert "You will no longer receive" in response.text
    changed = fresh(Customer, customer.id)
    assert (changed.consent_care, changed.consent_survey) == (False, True)
    (event,) = unsubscribed_events(customer)
    assert event.actor_id is None and event.actor_label == "unsubscribe link"
    assert (event.before, event.after) == ({"consent_care": True}, {"consent_care": False})
    assert event.reason.startswith("one-click (RFC 8058)")

    again = stranger.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200 and "You will no longer receive" in again.text
    assert len(unsubscribed_events(customer)) == 1


def test_the_link_opened_in_a_browser_asks_first(stranger):
    customer = make_customer(name="Mei Chen", consent_survey=True, locale="en")
    token = services.unsubscribe_token(customer.id, "survey")
    page = stranger.get(f"/u/{token}")
    assert page.status_code == 200 and "Set-Cookie" not in page.headers
    assert "Stop survey emails from" in page.text
    assert f'<form method="post" action="/u/{token}">' in page.text
    assert "Mei" not in page.text and customer.email not in page.text
    assert fresh(Customer, customer.id).consent_survey is True  # a GET changes nothing
    assert unsubscribed_events(customer) == []

    confirmed = stranger.post(f"/u/{token}", data={"confirm": "page"})
    assert confirmed.status_code == 200
    assert fresh(Customer, customer.id).consent_survey is False
    (event,) = unsubscribed_events(customer)
    assert event.reason.startswith("confirmed on the unsubscribe page")


def test_a_tampered_link_gets_a_friendly_page_in_both_languages_and_changes_nothing(stranger):
    customer = make_customer(consent_care=True)
    token = services.unsubscribe_token(customer.id, "care")
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for response in (
        stranger.get(f"/u/{tampered}"),
        stranger.post(f"/u/{tampered}", data={"List-Unsubscribe": "One-Click"}),
        stranger.post(f"/u/{'x' * 300}", data={"List-Unsubscribe": "One-Click"}),
    ):
        assert response.status_code == 400
        assert "This link does not work" in response.text and "nothing was changed" in response.text
        assert 'lang="en"' in response.text and 'lang="zh-Hans"' in response.text
    assert fresh(Customer, customer.id).consent_care is True
    assert unsubscribed_events(customer) == []


def test_an_expired_link_changes_nothing(stranger, monkeypatch):
    customer = make_customer(consent_care=True)
    long_ago = int(utc_now().timestamp()) - services.UNSUBSCRIBE_MAX_AGE - 60
    with monkeypatch.context() as patched:
        patched.setattr(TimestampSigner, "get_timestamp", lambda self: long_ago)
        token = services.unsubscribe_token(customer.id, "care")
    response = stranger.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 400 and "has expired" in response.text
    assert fresh(Customer, customer.id).consent_care is True
    assert unsubscribed_events(customer) == []


def test_unsubscribing_holds_back_that_purposes_queued_messages(stranger):
    customer = make_customer(consent_care=True, consent_survey=True)
    queued = make_message(customer, status="queued")
    deferred = make_message(customer, status="deferred", held_reason="quiet hours")
    sent = make_message(customer, status="sent")
    survey = make_message(customer, purpose="survey", kind="nps", status="queued")
    other = make_message(make_customer(consent_care=True), status="queued")
    token = services.unsubscribe_token(customer.id, "care")
    stranger.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    _db.session.expire_all()
    assert [(m.status, m.held_reason) for m in (queued, deferred)] == [
        ("suppressed", "customer unsubscribed"),
        ("suppressed", "customer unsubscribed"),
    ]
    assert [m.status for m in (sent, survey, other)] == ["sent", "queued", "queued"]
    (event,) = unsubscribed_events(customer)
    assert event.reason.endswith("queued messages held back: 2")


# ---------------------------------------------------------------- the 360 timeline


def test_the_360_timeline_shows_messages_with_why_they_were_held_back(client, login_as):
    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id)
    make_message(
        customer,
        status="suppressed",
        held_reason="customer is flagged hardship",
        subject="Season's greetings",
    )
    make_message(customer, status="sent", subject="Happy birthday, Mei!")
    page = client.get(f"/customers/{customer.id}").text
    assert "Season&#39;s greetings" in page and "Why: customer is flagged hardship" in page
    assert "Happy birthday, Mei!" in page
    assert "/admin/outbox/" not in page  # the outbox is for admins
    login_as("admin")
    assert "/admin/outbox/" in client.get(f"/customers/{customer.id}").text


def test_message_entries_page_with_the_rest_of_the_timeline(client, login_as):
    login_as("admin")
    customer = make_customer()
    made = [make_message(customer, subject=f"Timeline message {i}") for i in range(25)]
    first = client.get(f"/customers/{customer.id}").text
    assert made[-1].subject in first and made[4].subject not in first
    link = unescape(re.search(r'<a href="([^"]*before=[^"]*)"', first).group(1))
    rest = client.get(link, headers={"HX-Request": "true"}).text
    assert made[4].subject in rest and made[-1].subject not in rest


def test_entries_of_every_kind_at_one_instant_page_without_loss_or_repeat(client, login_as):
    """Contacts, follow-ups and messages written in the same second, a few at other times:
    paged two at a time, every entry comes once, newest first, ties by kind then id."""
    from portal.customers.models import FollowUp, Interaction
    from portal.customers.services import customer_timeline

    admin = login_as("admin")
    customer = make_customer()
    instant = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    moments = [instant - timedelta(hours=1), instant, instant, instant + timedelta(hours=1)]
    expected = []
    for at in moments:
        contact = Interaction(
            customer_id=customer.id,
            author_id=admin.id,
            channel="call",
            direction="outbound",
            occurred_at=at,
            summary="tie",
            outcome="reached",
        )
        follow_up = FollowUp(
            customer_id=customer.id, owner_id=admin.id, due_on=at.date(), note="tie", created_at=at
        )
        _db.session.add_all([contact, follow_up])
        _db.session.flush()
        message = make_message(customer, created_at=at)
        expected += [(at, "contact", contact.id), (at, "follow_up", follow_up.id)]
        expected.append((at, "message", message.id))
    _db.session.commit()
    expected.sort(reverse=True)

    actor = actor_for(admin)
    seen, before = [], None
    for _ in range(len(expected)):
        page = customer_timeline(actor, customer.id, before, limit=2)
        seen += [(e.at, e.kind, e.key) for e in page.rows]
        if not page.next_key:
            break
        before = page.next_key
    assert seen == expected
