"""The public feedback and complaint form: what a visitor sends becomes a web ticket with its
acknowledgement; what the bot traps catch is kept as suspected spam, out of the queue, with the
same thank-you page; floods and bad input are turned away with nothing saved."""

import io
import logging
import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.core.audit import AuditEvent
from portal.core.extensions import db as _db
from portal.core.timeutil import utc_now
from portal.messaging.models import Message
from portal.tickets.channels import public_views, webform
from portal.tickets.contact_policy import customers_with_open_complaints
from portal.tickets.models import (
    HeldSubmission,
    Kind,
    Prospect,
    TaxonomyNode,
    Ticket,
    TicketEvent,
    TicketNotice,
)
from tests.factories import make_customer, make_user

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'
EMAIL = "lin.mei@mail.example.com"


def form(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "kind": "complaint",
        "about": "credit_card",
        "account_hint": "card ending 4321",
        "description": "Charged a late fee twice\nOn 3 March and again on 4 March.",
        "request": "Refund the second fee.",
        "name": "Lin Mei",
        "email": EMAIL,
        "phone": "",
        "customer_number": "",
        "website": "",
        # Served a minute ago: a person's pace.
        "started": public_views.started_token(at=time.time() - 60),
    }
    values.update(overrides)
    return values


def send(client, **overrides: object):
    return client.submit("/feedback", form(**overrides))


def count(model) -> int:
    return _db.session.scalar(select(func.count()).select_from(model))


def no_ticket() -> bool:
    """No ticket, prospect or acknowledgement."""
    return count(Ticket) == 0 and count(Prospect) == 0 and count(Message) == 0


def saved_nothing() -> bool:
    return no_ticket() and count(HeldSubmission) == 0


def only_ticket() -> Ticket:
    _db.session.expire_all()
    return _db.session.scalars(select(Ticket)).one()


def submission(**overrides: object) -> webform.WebSubmission:
    values: dict[str, object] = {
        "kind": "feedback",
        "about": "other",
        "description": "The app logs me out every minute.",
        "name": "Lin Mei",
        "email": EMAIL,
    }
    values.update(overrides)
    return webform.WebSubmission(**values)


# ---------------------------------------------------------------- a visitor's submission


@pytest.mark.parametrize(
    ("kind", "about", "ticket_kind", "business_code"),
    [
        ("complaint", "credit_card", Kind.COMPLAINT, "B0302"),
        ("feedback", "personal_loan", Kind.FEEDBACK, "B0201"),
        ("compliment", "mortgage", Kind.COMPLIMENT, "B0202"),
        ("question", "auto_loan", Kind.INQUIRY, "B0203"),
        ("question", "other", Kind.INQUIRY, "B99"),
    ],
)
def test_each_kind_becomes_a_web_ticket_with_its_reference_on_screen(
    client, kind, about, ticket_kind, business_code
):
    page = client.get("/feedback")
    assert page.status_code == 200
    response = send(client, kind=kind, about=about)
    assert response.status_code == 303, response.text
    assert response.headers["Location"] == "/feedback/thanks"
    ticket = only_ticket()
    assert ticket.source == "web"
    assert ticket.kind == ticket_kind
    assert (ticket.channel_code, ticket.business_code, ticket.cause_code) == (
        "A0304",
        business_code,
        "C99",
    )
    assert ticket.subject == "Charged a late fee twice"
    assert ticket.description == "Charged a late fee twice\nOn 3 March and again on 4 March."
    assert ticket.request == "Refund the second fee."
    assert ticket.product == "card ending 4321"
    assert ticket.customer_id is None and ticket.registered_by_id is None
    prospect = _db.session.get(Prospect, ticket.prospect_id)
    assert (prospect.name, prospect.email, prospect.locale) == ("Lin Mei", EMAIL, "en")
    created = _db.session.scalars(
        select(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.action == "created"
        )
    ).one()
    assert created.actor_label == "public form" and created.data["source"] == "web"
    thanks = client.get("/feedback/thanks")
    assert ticket.reference in thanks.text
    assert "l…@mail.example.com" in thanks.text and EMAIL not in thanks.text


def test_the_acknowledgement_is_queued_to_the_address_given(client):
    assert send(client).status_code == 303
    ticket = only_ticket()
    notice = _db.session.scalars(
        select(TicketNotice).where(TicketNotice.ticket_id == ticket.id)
    ).one()
    assert (notice.kind, notice.sent_via) == ("acknowledgement", "email")
    message = _db.session.get(Message, notice.outbox_id)
    assert message.dedupe_key.startswith(f"ticket:{ticket.id}:acknowledgement")
    assert message.to_address == EMAIL and message.customer_id is None
    assert message.status != "suppressed"


def test_a_known_customer_is_matched_by_email(client):
    customer = make_customer(email="wang.fang@mail.example.com")
    assert send(client, email="Wang.Fang@mail.example.com").status_code == 303
    ticket = only_ticket()
    assert ticket.customer_id == customer.id and ticket.prospect_id is None
    assert count(Prospect) == 0


def test_a_customer_number_matches_together_with_that_customers_email(client):
    customer = make_customer(email="shared@mail.example.com")
    make_customer(email="shared@mail.example.com")  # the address alone is ambiguous
    response = send(client, email="shared@mail.example.com", customer_number=customer.number)
    assert response.status_code == 303
    ticket = only_ticket()
    assert ticket.customer_id == customer.id and ticket.prospect_id is None


def test_a_customer_number_with_another_email_gives_a_prospect_and_a_note(client):
    customer = make_customer(email="owner@mail.example.com")
    assert send(client, customer_number=customer.number).status_code == 303
    ticket = only_ticket()
    assert ticket.customer_id is None and ticket.prospect_id is not None
    note = _db.session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.action == "note")
    ).one()
    assert customer.number in note.body and "does not match" in note.body


def test_a_second_message_from_a_prospect_reuses_the_prospect(client):
    assert send(client).status_code == 303
    assert send(client, kind="question").status_code == 303
    assert count(Ticket) == 2 and count(Prospect) == 1


def test_a_long_first_line_is_cut_to_a_subject():
    assert webform.subject_of("\n  " + "x" * 300 + "\nmore") == "x" * 199 + "…"
    assert webform.subject_of("  short  \nmore") == "short"


def test_a_retired_channel_code_falls_back_to_other(db):
    _db.session.get(TaxonomyNode, "A0304").active = False
    _db.session.commit()
    ticket = webform.submit(submission())
    assert ticket.channel_code == "A99"


# ---------------------------------------------------------------- bots


def held() -> list[HeldSubmission]:
    _db.session.expire_all()
    return list(_db.session.scalars(select(HeldSubmission).order_by(HeldSubmission.id)))


def test_a_filled_trap_field_is_kept_as_suspected_spam_behind_the_same_thank_you(client, caplog):
    with caplog.at_level(logging.INFO, logger="portal.tickets.public"):
        response = send(client, website="http://spam.example")
    assert response.status_code == 303 and response.headers["Location"] == "/feedback/thanks"
    thanks = client.get("/feedback/thanks")
    assert thanks.status_code == 200 and "-20" not in thanks.text
    assert "Thank you: we have received your message" in thanks.text
    assert "as suspected spam (trap_field)" in caplog.text
    assert no_ticket()
    (row,) = held()
    assert (row.status, row.trap, row.seconds) == ("held", "trap_field", None)
    assert (row.kind, row.about, row.name, row.email) == (
        "complaint",
        "credit_card",
        "Lin Mei",
        EMAIL,
    )
    assert row.description == "Charged a late fee twice\nOn 3 March and again on 4 March."
    assert row.request == "Refund the second fee." and row.account_hint == "card ending 4321"
    event = _db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "web_form.held")
    ).one()
    assert (event.subject_type, event.subject_id, event.actor_label) == (
        "held_submission",
        str(row.id),
        "public form",
    )


@pytest.mark.parametrize(
    ("started", "trap"),
    [
        ("now", "too_fast"),
        ("", "time_stamp"),
        ("not-a-token", "time_stamp"),
        ("future", "too_fast"),
    ],
    ids=["too-fast", "missing", "tampered", "from-the-future"],
)
def test_a_form_sent_too_fast_or_without_its_time_stamp_is_kept_as_suspected_spam(
    client, started, trap
):
    token = {
        "now": public_views.started_token(at=time.time() - 1),
        "future": public_views.started_token(at=time.time() + 3600),
    }.get(started, started)
    response = send(client, started=token)
    assert response.status_code == 303 and response.headers["Location"] == "/feedback/thanks"
    assert "-20" not in client.get("/feedback/thanks").text
    assert no_ticket()
    (row,) = held()
    assert (row.status, row.trap) == ("held", trap)
    if started == "now":
        assert 0.5 <= row.seconds < public_views.MIN_SECONDS
    elif started == "future":
        assert row.seconds == 0.0
    else:
        assert row.seconds is None


def test_a_held_submission_is_outside_the_queue_its_counts_and_the_contact_policy(client, login_as):
    customer = make_customer(email=EMAIL)
    assert send(client, started=public_views.started_token()).status_code == 303
    assert len(held()) == 1 and no_ticket()
    assert customers_with_open_complaints([customer.id]) == set()
    login_as(user=make_user(role="handler"))
    queue_page = client.get("/tickets?status=all")
    assert "Charged a late fee twice" not in queue_page.text
    counts = client.get("/tickets/counts?status=all").text
    assert re.search(r"All open</a> <span class=\"count\">0<", counts)
    assert "This filter: <strong>0</strong>" in counts
    assert re.search(r'Suspected spam to review</a> <span class="count count-alert">1<', counts)


def test_a_trapped_submission_with_bad_input_is_shown_the_form_and_kept_nowhere(client):
    response = send(client, website="http://spam.example", email="not-an-email")
    assert response.status_code == 400
    assert "Enter a valid email address." in response.text
    assert held() == [] and saved_nothing()


def test_a_trapped_submission_counts_under_the_senders_daily_cap(client):
    for _ in range(4):
        webform.submit(submission(), now=utc_now())
    assert send(client, website="x").status_code == 303  # the fifth: held
    refused = send(client, website="x", description="A sixth, trapped")
    assert refused.status_code == 429
    assert "already received 5 messages from this address today" in refused.text
    assert len(held()) == 1
    real = send(client, description="A sixth, typed slowly")
    assert real.status_code == 429 and count(Ticket) == 4


def test_a_trapped_submission_does_not_show_an_earlier_reference(client):
    assert send(client).status_code == 303
    reference = only_ticket().reference
    assert send(client, website="x").status_code == 303
    assert reference not in client.get("/feedback/thanks").text


def test_the_thank_you_page_shows_no_reference_without_a_submission(client, db):
    webform.submit(submission())
    page = client.get("/feedback/thanks")
    assert page.status_code == 200 and only_ticket().reference not in page.text


# ---------------------------------------------------------------- limits


def test_a_senders_sixth_message_of_the_day_is_refused_with_a_clear_429(client):
    for _ in range(5):
        webform.submit(submission(), now=utc_now())
    before = (count(Ticket), count(Prospect), count(Message))
    response = send(client, description="My sixth message today")
    assert response.status_code == 429
    assert "already received 5 messages from this address today" in response.text
    assert "My sixth message today" in response.text  # what was typed is kept
    assert (count(Ticket), count(Prospect), count(Message)) == before
    tomorrow = utc_now() + timedelta(days=1, minutes=1)
    assert webform.submit(submission(), now=tomorrow).id


def test_the_per_ip_limit_answers_429_with_the_form_kept(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_FORM_LIMIT", "2 per hour")
    assert send(client, email="").status_code == 400  # a form to correct does not count
    assert send(client, website="bot").status_code == 303
    assert send(client).status_code == 303
    blocked = send(client, description="Third message from here")
    assert blocked.status_code == 429
    assert "several messages from this connection" in blocked.text
    assert "Third message from here" in blocked.text
    assert int(blocked.headers["Retry-After"]) > 0
    assert count(Ticket) == 1
    elsewhere = client.submit("/feedback", form(), environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert elsewhere.status_code == 303 and count(Ticket) == 2


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kind", "", "Choose what you are sending."),
        ("kind", "refund", "Choose what you are sending."),
        ("about", "savings", "Not a valid choice"),
        ("description", "", "Tell us what happened."),
        ("description", "x" * 20_001, "At most 20000 characters."),
        ("description", "before\x00after", "Text cannot contain NUL characters."),
        ("request", "x" * 20_001, "At most 20000 characters."),
        ("account_hint", "x" * 121, "At most 120 characters."),
        ("name", "", "Enter your name."),
        ("name", "x" * 121, "At most 120 characters."),
        ("name", "Lin\x00Mei", "Text cannot contain NUL characters."),
        ("email", "", "Enter your email."),
        ("email", "not-an-email", "Enter a valid email address."),
        ("email", "a@b@example.com", "Enter a valid email address."),
        ("phone", "call me maybe", "Enter a phone number of 5 to 15 digits."),
        ("customer_number", "x" * 33, "At most 32 characters."),
    ],
)
def test_bad_input_reshows_the_form_with_the_message_by_its_field(client, field, value, message):
    kept = "description" if field == "request" else "request"
    response = send(client, **{field: value, kept: "Keep what I typed here"})
    assert response.status_code == 400, response.text
    assert message in response.text
    assert f'id="{field}-errors"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert "Keep what I typed here" in response.text
    assert saved_nothing()


def test_markup_is_kept_as_text_and_never_runs(client, login_as):
    refused = send(client, description=SCRIPT, email="not-an-email")
    assert refused.status_code == 400
    assert SCRIPT not in refused.text and "&lt;script&gt;" in refused.text
    assert send(client, description=SCRIPT, request=SCRIPT, name=SCRIPT).status_code == 303
    ticket = only_ticket()
    assert ticket.description == SCRIPT and ticket.request == SCRIPT
    login_as(user=make_user(role="handler"))
    page = client.get(f"/tickets/{ticket.id}")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text


def test_a_choice_that_echoes_markup_is_escaped(client):
    response = send(client, about=SCRIPT)
    assert response.status_code == 400
    assert "<script>alert" not in response.text


@pytest.mark.parametrize(
    ("data", "status", "kept"),
    [
        ({"description": "x" * (2 * 1024 * 1024)}, 400, 0),
        ({"started": 12345, "unknown": "field"}, 303, 1),  # an unsigned time stamp: held
        ({"kind": {"nested": "value"}}, 400, 0),
        ({"about": ""}, 400, 0),
    ],
    ids=["two-megabytes", "unsigned-stamp", "odd-type", "empty-choice"],
)
def test_garbage_never_gives_a_500_or_a_ticket(client, data, status, kept):
    response = client.submit("/feedback", form(**data))
    assert response.status_code == status
    assert no_ticket() and count(HeldSubmission) == kept


@pytest.mark.parametrize("field", ["description", "name"])
def test_an_uploaded_file_is_not_taken_for_text(client, field):
    upload = {field: (io.BytesIO(b"a file"), "complaint.txt")}
    response = client.submit("/feedback", form(**upload), content_type="multipart/form-data")
    assert response.status_code == 400
    assert saved_nothing()


def test_a_json_body_with_its_csrf_header_is_not_read_into_the_form(client):
    response = client.post(
        "/feedback",
        json={
            "kind": {"a": 1},
            "description": ["x"],
            "started": public_views.started_token(at=1.0),
        },
        headers={"X-CSRFToken": client.csrf_token()},
    )
    assert response.status_code < 500
    assert saved_nothing()


def test_a_repeated_field_counts_once(client):
    response = client.submit("/feedback", form(kind=["feedback", "complaint"]))
    assert response.status_code == 303
    assert only_ticket().kind == "feedback"


def test_a_post_without_its_csrf_token_keeps_what_was_typed(client):
    values = form(description="Typed before my session ran out")
    values["csrf_token"] = ""
    response = client.post("/feedback", data=values)
    assert response.status_code == 400
    assert "Typed before my session ran out" in response.text
    assert "form had expired" in response.text
    assert saved_nothing()


def test_a_json_body_is_refused_without_a_500(client):
    response = client.post("/feedback", json={"kind": "complaint"})
    assert response.status_code == 400 and count(Ticket) == 0


# ---------------------------------------------------------------- the page


def test_the_form_is_accessible_and_has_no_staff_navigation(client):
    page = client.get("/feedback").text
    assert "<fieldset>" in page and "<legend>" in page
    assert 'autocomplete="name"' in page and 'autocomplete="email"' in page
    assert 'autocomplete="tel"' in page
    assert 'class="trap" aria-hidden="true"' in page and 'tabindex="-1"' in page
    assert "/customers" not in page and "sign-out" not in page


def test_the_page_speaks_chinese_when_the_browser_asks_and_stores_the_language(client):
    page = client.get("/feedback", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert '<html lang="zh-Hans">' in page.text
    assert "姓名" in page.text and "发送" in page.text
    assert 'value="en"' in page.text  # the switch back to English
    response = client.submit("/feedback", form(), headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert response.status_code == 303
    assert _db.session.get(Prospect, only_ticket().prospect_id).locale == "zh_Hans"


def test_the_language_buttons_switch_an_anonymous_visitor(client):
    response = client.submit("/language", {"locale": "zh_Hans", "next": "/feedback"})
    assert response.status_code == 303 and response.headers["Location"] == "/feedback"
    assert '<html lang="zh-Hans">' in client.get("/feedback").text


def test_the_sign_in_page_links_to_the_form(client):
    assert 'href="/feedback"' in client.get("/login").text
