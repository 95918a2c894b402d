"""Closing the loop: an unhappy answer opens one follow-up feedback ticket, routed to the RM or
the queue, with the comment as its text; a happy one opens none; answers show on the 360
timeline and on both tickets' pages; the loop counts as closed once the follow-up is resolved;
two submits racing leave one answer; erasure keeps only the score."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from portal import create_app
from portal.core.extensions import db as _db
from portal.core.timeutil import utc_now
from portal.customers.privacy import erase_customer, export_customer
from portal.surveys.follow_up import loop_status
from portal.surveys.models import SurveyAnswer, SurveyInvitation
from portal.tickets import services
from portal.tickets.models import Ticket, TicketEvent
from portal.tickets.taxonomy import ensure_default_taxonomy
from tests.conftest import PortalClient, config_for
from tests.factories import (
    make_actor,
    make_customer,
    make_interaction,
    make_invitation,
    make_programme,
    make_ticket,
    make_user,
)
from tests.support.databases import fresh_database

SCRIPT = '<script>alert("x")</script>'


def count(model: Any) -> int:
    return _db.session.scalar(select(func.count()).select_from(model))


def answer_as_customer(client, token: str, score: int, comment: str = "", **more: str):
    return client.submit(f"/s/{token}", {"score": str(score), "comment": comment, **more})


def the_answer() -> SurveyAnswer:
    answer = _db.session.scalar(select(SurveyAnswer))
    _db.session.refresh(answer)
    return answer


def follow_ups() -> list[Ticket]:
    return list(_db.session.scalars(select(Ticket).where(Ticket.source == "survey")))


@pytest.fixture
def rm():
    return make_user(role="rm", name="Rita Manager")


def ticket_invitation(programme, customer):
    ticket = make_ticket(customer=customer, product="Gold card")
    invitation, token = make_invitation(
        programme, customer, ticket_id=ticket.id, subject_label=ticket.reference
    )
    return ticket, invitation, token


# ---------------------------------------------------------------- who gets the follow-up


def test_a_detractor_opens_a_follow_up_for_the_rm_with_the_comment_as_its_text(client, rm) -> None:
    customer = make_customer(name="Bo Chen", locale="en", owner_id=rm.id)
    programme = make_programme(name="After-complaint NPS", route="rm")
    ticket, _invitation, token = ticket_invitation(programme, customer)
    answer_as_customer(client, token, 3, "Nobody called me back")
    answer = the_answer()
    (follow_up,) = follow_ups()
    assert answer.follow_up_ticket_id == follow_up.id
    assert follow_up.kind == "feedback" and follow_up.assignee_id == rm.id
    assert follow_up.customer_id == customer.id and follow_up.description == "Nobody called me back"
    assert follow_up.subject == (
        f"Survey follow-up: NPS 3 — After-complaint NPS ({ticket.reference})"
    )
    assert follow_up.cause_code == ticket.cause_code and follow_up.product == "Gold card"
    notes = {
        e.ticket_id: e.body
        for e in _db.session.scalars(select(TicketEvent).where(TicketEvent.action == "note"))
    }
    assert notes[follow_up.id] == f"Follows up a survey answer about {ticket.reference}."
    assert follow_up.reference in notes[ticket.id]


def test_an_inactive_rm_or_a_queue_programme_leaves_the_follow_up_in_the_queue(client, rm) -> None:
    rm.active = False
    _db.session.commit()
    customer = make_customer(locale="en", owner_id=rm.id)
    _i, token = make_invitation(make_programme(route="rm"), customer)
    answer_as_customer(client, token, 0, "Awful")
    active_rm = make_user(role="rm")
    owned = make_customer(locale="en", owner_id=active_rm.id)
    _j, queued = make_invitation(make_programme(route="queue"), owned)
    answer_as_customer(client.application.test_client(), queued, 6)
    tickets = follow_ups()
    assert len(tickets) == 2 and all(t.assignee_id is None for t in tickets)
    assert {t.description for t in tickets} == {"Awful", "The customer left no comment."}


@pytest.mark.parametrize(
    ("metric", "unhappy", "not_unhappy"),
    [("nps", 6, 7), ("csat", 2, 3), ("ces", 2, 3)],
)
def test_only_the_unhappy_end_of_each_scale_opens_a_ticket(
    app, db, metric, unhappy, not_unhappy
) -> None:
    programme = make_programme(metric=metric)
    for score, expected in ((not_unhappy, 0), (unhappy, 1)):
        _invitation, token = make_invitation(programme, make_customer(locale="en"))
        answer_as_customer(app.test_client(), token, score)
        assert len(follow_ups()) == expected, (metric, score)


def test_a_promoter_opens_no_ticket(client) -> None:
    _i, token = make_invitation(make_programme(), make_customer(locale="en"))
    answer_as_customer(client, token, 10, "Great")
    assert follow_ups() == [] and the_answer().follow_up_ticket_id is None


def test_a_change_to_unhappy_opens_a_follow_up_and_a_change_back_keeps_it(client) -> None:
    _i, token = make_invitation(make_programme(), make_customer(locale="en"))
    answer_as_customer(client, token, 9, "Fine")
    assert follow_ups() == []
    answer_as_customer(client, token, 2, "Actually, no", change="1")
    (follow_up,) = follow_ups()
    assert follow_up.description == "Actually, no"
    answer_as_customer(client, token, 10, "Sorted now", change="1")
    answer = the_answer()
    assert answer.score == 10 and answer.follow_up_ticket_id == follow_up.id
    assert len(follow_ups()) == 1


# ---------------------------------------------------------------- facts of an RM contact


def test_an_rm_contact_answer_copies_the_contact_channel_and_days_since_the_last(client) -> None:
    customer = make_customer(locale="en", segment="private")
    make_interaction(customer, occurred_at=datetime(2026, 10, 20, 9, 0, tzinfo=UTC))
    contact = make_interaction(
        customer, channel="visit", occurred_at=datetime(2026, 11, 1, 15, 0, tzinfo=UTC)
    )
    programme = make_programme(metric="ces", trigger="rm_contact")
    _i, token = make_invitation(programme, customer, interaction_id=contact.id)
    answer_as_customer(client, token, 6)
    answer = the_answer()
    assert (answer.contact_channel, answer.days_since_contact) == ("visit", 12)
    assert answer.segment == "private" and answer.ticket_id is None


# ---------------------------------------------------------------- where staff see it


def test_the_answer_shows_escaped_on_the_timeline_and_both_ticket_pages(client, login_as) -> None:
    customer = make_customer(name="Di Wang", locale="en")
    programme = make_programme(name="Complaint NPS")
    ticket, _invitation, token = ticket_invitation(programme, customer)
    answer_as_customer(client, token, 1, SCRIPT)
    (follow_up,) = follow_ups()
    login_as("admin")
    for url in (
        f"/customers/{customer.id}",
        f"/tickets/{ticket.id}",
        f"/tickets/{follow_up.id}",
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert SCRIPT not in page.text, url
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text, url
    timeline = client.get(f"/customers/{customer.id}").text
    assert "Survey answer" in timeline and "Complaint NPS" in timeline and "NPS 1" in timeline
    assert follow_up.reference in timeline and "Loop open" in timeline
    original = client.get(f"/tickets/{ticket.id}").text
    assert "Survey answers" in original and follow_up.reference in original
    assert "Satisfaction survey" in client.get(f"/tickets/{follow_up.id}").text
    audit = client.get("/admin/audit?subject_type=survey_answer")
    assert audit.status_code == 200 and "survey.answered" in audit.text


def test_resolving_the_follow_up_closes_the_loop_and_says_what_was_done(client, login_as) -> None:
    customer = make_customer(locale="en")
    programme = make_programme()
    start = utc_now() - timedelta(hours=1)
    ticket, _invitation, token = ticket_invitation(programme, customer)
    answer_as_customer(client, token, 2, "Fee still not refunded")
    _j, happy = make_invitation(programme, make_customer(locale="en"))
    answer_as_customer(client.application.test_client(), happy, 10)
    until = utc_now() + timedelta(hours=1)
    assert loop_status(programme.id, start, until).opened == 1
    assert loop_status(programme.id, start, until).closed == 0

    (follow_up,) = follow_ups()
    handler = make_actor("handler")
    services.change_status(handler, follow_up.id, None, "in_progress")
    services.change_status(
        handler, follow_up.id, None, "resolved", resolution="Refunded the fee and called her"
    )
    status = loop_status(programme.id, start, until)
    assert (status.opened, status.closed, status.rate) == (1, 1, 1.0)
    assert loop_status(programme.id, until, until + timedelta(days=1)).rate is None
    login_as("admin")
    page = client.get(f"/tickets/{ticket.id}").text
    assert "Loop closed" in page and "What was done: Refunded the fee and called her" in page


# ---------------------------------------------------------------- privacy


def test_erasure_blanks_the_comment_and_unlinks_the_answer_but_keeps_the_score(
    client,
) -> None:
    customer = make_customer(locale="en")
    programme = make_programme(name="Wave NPS")
    invitation, token = make_invitation(programme, customer)
    answer_as_customer(client, token, 8, "My husband handles the card")
    admin = make_actor("admin")
    exported = export_customer(admin, customer.id)["survey_answers"]
    assert exported == [
        {
            "programme": "Wave NPS",
            "about": None,
            "answered_at": exported[0]["answered_at"],
            "changed_at": None,
            "score": 8,
            "comment": "My husband handles the card",
            "choices": None,
            "language": "en",
            "source": "web",
        }
    ]
    erase_customer(admin, customer.id, "customer asked", customer.number)
    answer = the_answer()
    assert (answer.score, answer.comment, answer.customer_id, answer.device_hash) == (
        8,
        "",
        None,
        None,
    )
    assert _db.session.get(SurveyInvitation, invitation.id).customer_id is None
    assert export_customer(admin, customer.id)["survey_answers"] == []


# ---------------------------------------------------------------- two submits at once


def test_two_submits_at_once_leave_one_answer_and_one_follow_up(backend, tmp_path) -> None:
    """Two browsers (two tabs, or a double click) post the same invitation at the same instant
    against a real database; one answer and one ticket come out, the other is told it was
    already answered."""
    with fresh_database(backend, tmp_path) as url:
        app = create_app(config_for(url))
        app.test_client_class = PortalClient
        with app.app_context():
            _db.create_all()
            ensure_default_taxonomy()
            programme = make_programme()
            tokens = [make_invitation(programme, make_customer(locale="en"))[1] for _ in range(5)]
            _db.session.remove()
        try:
            for token in tokens:
                assert sorted(_race(app, token)) == [200, 409]
            with app.app_context():
                assert count(SurveyAnswer) == len(tokens)
                assert _db.session.scalar(
                    select(func.count()).select_from(Ticket).where(Ticket.source == "survey")
                ) == len(tokens)
                _db.session.remove()
        finally:
            with app.app_context():
                _db.engine.dispose()


def _race(app: Any, token: str) -> list[int]:
    """Two browsers that both opened the page post their answers at the same instant."""
    clients = [app.test_client() for _ in range(2)]
    for each in clients:
        assert each.get(f"/s/{token}").status_code == 200
    start = threading.Barrier(2)
    results: list[int] = []

    def post(each: PortalClient) -> None:
        form = {"score": "3", "comment": "Slow", "csrf_token": each.csrf_token()}
        start.wait()
        results.append(each.post(f"/s/{token}", data=form).status_code)

    threads = [threading.Thread(target=post, args=(each,)) for each in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
