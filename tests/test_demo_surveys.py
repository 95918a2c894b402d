"""The small demo seed's surveys: programmes, invitations and answers whose drivers tell a story."""

import re
from collections import defaultdict
from datetime import timedelta
from statistics import mean
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.accounts.models import User
from portal.core.extensions import db
from portal.core.timeutil import as_utc, utc_now
from portal.customers.models import Customer, Interaction
from portal.demo.surveys import (
    CES_NAME,
    CSAT_NAME,
    IMPORTED_NAME,
    NPS_NAME,
    VOLUMES,
)
from portal.surveys.models import ScoreGroup, SurveyAnswer, SurveyInvitation, SurveyProgramme
from portal.tickets.models import ReferenceCounter, Status, Ticket

POLICY_REASONS = {
    "no email address",
    "no consent for survey messages",
    "customer is deceased",
    "customer asked not to be contacted",
    "customer is flagged in arrears",
    "frequency cap survey: 1/30d reached",
}


@pytest.fixture(scope="module")
def app(demo_app: Flask) -> Flask:
    """The module reads one demo-seeded database (seeded once per run, copied per module)."""
    return demo_app


@pytest.fixture
def seeded(db: Any) -> None:
    """The seed is there; what a test adds to it is rolled back after the test."""


def programmes() -> dict[str, SurveyProgramme]:
    return {p.name: p for p in db.session.scalars(select(SurveyProgramme))}


def answers_of(name: str) -> list[SurveyAnswer]:
    return list(
        db.session.scalars(
            select(SurveyAnswer)
            .join(SurveyProgramme, SurveyProgramme.id == SurveyAnswer.programme_id)
            .where(SurveyProgramme.name == name)
        )
    )


def high_share(answers: list[SurveyAnswer]) -> float:
    return sum(a.score_group == ScoreGroup.HIGH for a in answers) / len(answers)


def test_four_programmes_with_invitations_of_every_status_and_thousands_of_answers(
    seeded,
) -> None:
    found = programmes()
    assert {(p.metric, p.trigger, p.active, p.route) for p in found.values()} == {
        ("csat", "ticket_closed", True, "queue"),
        ("ces", "rm_contact", True, "rm"),
        ("nps", "wave", True, "rm"),
        ("nps", "imported", False, "queue"),
    }
    assert found[CES_NAME].sample_rate == 0.2
    assert found[NPS_NAME].wave_months == 3
    total = db.session.scalar(select(func.count()).select_from(SurveyAnswer))
    assert 1_500 < total < 5_000
    statuses = dict(
        db.session.execute(
            select(SurveyInvitation.status, func.count()).group_by(SurveyInvitation.status)
        ).all()
    )
    assert set(statuses) == {"invited", "answered", "expired", "not_sent"}
    reasons = set(
        db.session.scalars(
            select(SurveyInvitation.reason).where(SurveyInvitation.status == "not_sent")
        )
    )
    assert reasons <= POLICY_REASONS and len(reasons) >= 3
    assert (
        db.session.scalar(
            select(func.count()).where(
                SurveyInvitation.status != "not_sent", SurveyInvitation.reason.is_not(None)
            )
        )
        == 0
    )
    # One answer per answered invitation, none for the others.
    answered = db.session.execute(
        select(SurveyInvitation.status, func.count(SurveyAnswer.id))
        .outerjoin(SurveyAnswer, SurveyAnswer.invitation_id == SurveyInvitation.id)
        .group_by(SurveyInvitation.status)
    ).all()
    assert {status: n for status, n in answered}["answered"] == statuses["answered"]
    assert sum(n for status, n in answered if status != "answered") == 0
    history = answers_of(IMPORTED_NAME)
    assert len(history) == VOLUMES["small"].imported
    assert all(a.source == "import" and a.import_key and a.invitation_id is None for a in history)
    oldest_live = min(a.answered_at for name in (CSAT_NAME, NPS_NAME) for a in answers_of(name))
    assert max(a.answered_at for a in history) <= oldest_live
    comments = [a.comment for a in history if a.comment]
    assert any("利息太高" in c for c in comments) and any("late fee" in c for c in comments)


def test_answers_carry_the_facts_of_their_ticket_or_contact(seeded) -> None:
    csat = answers_of(CSAT_NAME)
    tickets = {
        t.id: t
        for t in db.session.scalars(
            select(Ticket).where(Ticket.id.in_([a.ticket_id for a in csat]))
        )
    }
    segments = dict(db.session.execute(select(Customer.id, Customer.segment)).all())
    for answer in csat:
        ticket = tickets[answer.ticket_id]
        finished = as_utc(ticket.resolved_at or ticket.closed_at)
        assert ticket.status == Status.CLOSED.value
        assert answer.customer_id == ticket.customer_id
        assert answer.segment == segments[ticket.customer_id]
        assert (answer.product, answer.cause_code, answer.channel_code, answer.handler_id) == (
            ticket.product,
            ticket.cause_code,
            ticket.channel_code,
            ticket.assignee_id,
        )
        assert answer.resolve_days == (finished - as_utc(ticket.received_at)).days
        assert answer.breached == (finished > as_utc(ticket.due_at))
    ces = answers_of(CES_NAME)
    invitations = dict(
        db.session.execute(
            select(SurveyInvitation.id, SurveyInvitation.interaction_id).where(
                SurveyInvitation.id.in_([a.invitation_id for a in ces])
            )
        ).all()
    )
    contacts = {
        i.id: i
        for i in db.session.scalars(
            select(Interaction).where(Interaction.id.in_(list(invitations.values())))
        )
    }
    for answer in ces:
        contact = contacts[invitations[answer.invitation_id]]
        assert answer.contact_channel == contact.channel
        assert answer.customer_id == contact.customer_id
        previous = db.session.scalar(
            select(func.max(Interaction.occurred_at)).where(
                Interaction.customer_id == contact.customer_id,
                Interaction.occurred_at < contact.occurred_at,
            )
        )
        expected = (
            int((as_utc(contact.occurred_at) - as_utc(previous)).total_seconds() // 86_400)
            if previous
            else None
        )
        assert answer.days_since_contact == expected


def test_the_drivers_tell_the_story(seeded) -> None:
    # The small seed has some 65 CSAT answers and depends on the day it is made, so each gap is
    # asserted at about a third of what seeds made over three days showed at their smallest.
    csat = answers_of(CSAT_NAME)
    slow = [a.score for a in csat if a.breached or a.resolve_days >= 7]
    quick = [a.score for a in csat if not a.breached and a.resolve_days < 7]
    assert mean(slow) < mean(quick) - 0.15
    by_handler: dict[int | None, list[SurveyAnswer]] = defaultdict(list)
    for answer in csat:
        by_handler[answer.handler_id].append(answer)
    star = max((h for h in by_handler if h is not None), key=lambda h: len(by_handler[h]))
    others = [a for h, group in by_handler.items() if h != star for a in group]
    assert high_share(by_handler[star]) > high_share(others) + 0.05

    ces = answers_of(CES_NAME)
    spoken = [a for a in ces if a.contact_channel in ("call", "visit")]
    written = [a for a in ces if a.contact_channel in ("email", "sms")]
    assert high_share(spoken) > high_share(written) + 0.1

    nps = answers_of(NPS_NAME)
    wealthier = [a for a in nps if a.segment in ("affluent", "private")]
    mass = [a for a in nps if a.segment == "mass"]

    def net(group: list[SurveyAnswer]) -> float:
        return high_share(group) - sum(a.score_group == ScoreGroup.LOW for a in group) / len(group)

    assert net(wealthier) > net(mass) + 0.05

    everyone = [a for name in (CSAT_NAME, CES_NAME, NPS_NAME) for a in answers_of(name)]
    detractor_words = ("利息", "催收", "滞纳金", "late fee", "Nobody called back", "collection")
    praise_words = ("耐心", "quick", "helpful", "Quick", "很快")

    def mentioning(group: int, words: tuple[str, ...]) -> int:
        return sum(
            any(word in a.comment for word in words) for a in everyone if a.score_group == group
        )

    assert mentioning(ScoreGroup.LOW, detractor_words) > 3 * mentioning(
        ScoreGroup.HIGH, detractor_words
    )
    assert mentioning(ScoreGroup.HIGH, praise_words) > mentioning(ScoreGroup.LOW, praise_words)


def test_unhappy_answers_of_the_loop_window_have_their_follow_up_tickets(seeded) -> None:
    found = programmes()
    live = [p.id for p in found.values() if p.active]
    # The seed ran minutes ago: a day inside its closed-loop window.
    since = utc_now() - timedelta(days=VOLUMES["small"].loop_days - 1)
    recent = [
        a
        for a in db.session.scalars(select(SurveyAnswer).where(SurveyAnswer.programme_id.in_(live)))
        if as_utc(a.answered_at) >= since
    ]
    unhappy = [a for a in recent if a.score_group == ScoreGroup.LOW]
    assert len(unhappy) >= 10
    assert all(a.follow_up_ticket_id is not None for a in unhappy)
    assert all(a.follow_up_ticket_id is None for a in recent if a.score_group != ScoreGroup.LOW)
    follow_ups = {
        t.id: t
        for t in db.session.scalars(
            select(Ticket).where(Ticket.id.in_([a.follow_up_ticket_id for a in unhappy]))
        )
    }
    owners = dict(db.session.execute(select(Customer.id, Customer.owner_id)).all())
    routes = {p.id: p.route for p in found.values()}
    for answer in unhappy:
        ticket = follow_ups[answer.follow_up_ticket_id]
        assert (ticket.kind, ticket.source, ticket.customer_id) == (
            "feedback",
            "survey",
            answer.customer_id,
        )
        assert ticket.subject.startswith("Survey follow-up:")
        assert ticket.description == (answer.comment or "The customer left no comment.")
        expected = owners[answer.customer_id] if routes[answer.programme_id] == "rm" else None
        assert ticket.assignee_id == expected
    closed = [t for t in follow_ups.values() if t.status == Status.CLOSED.value]
    assert closed and all(t.resolution for t in closed)
    # Those still open are recent ones the clock watch had no warning for at the seed's moment
    # (staff beyond the demo accounts are created at it).
    seeded_at = as_utc(
        db.session.scalar(select(User.created_at).where(User.email.like("%@staff.example.com")))
    )
    assert all(as_utc(t.warn_at) > seeded_at for t in follow_ups.values() if t.is_open)
    # The next feedback ticket continues the numbering after the follow-ups.
    references = [t.reference for t in follow_ups.values()]
    last = {
        (c.prefix, c.year): c.last
        for c in db.session.scalars(
            select(ReferenceCounter).where(ReferenceCounter.prefix == "FBK")
        )
    }
    for reference in references:
        prefix, year, number = reference.split("-")
        assert int(number) <= last[(prefix, int(year))]


def test_seeding_the_surveys_again_is_refused(runner) -> None:
    before = db.session.scalar(select(func.count()).select_from(SurveyAnswer))

    result = runner.invoke(args=["demo", "seed", "--only", "surveys", "--quiet"])

    assert result.exit_code == 1
    assert "surveys already holds data" in result.output
    assert db.session.scalar(select(func.count()).select_from(SurveyAnswer)) == before


def test_each_invitation_has_its_email_sent_or_held_so_the_funnel_reads_delivered(
    seeded, client, login_as
) -> None:
    from portal.messaging.models import Message

    pairs = db.session.execute(
        select(
            SurveyInvitation.status, SurveyInvitation.reason, Message.status, Message.held_reason
        ).join(Message, Message.dedupe_key == SurveyInvitation.message_key)
    ).all()
    assert len(pairs) == db.session.scalar(select(func.count()).select_from(SurveyInvitation))
    for invitation_status, reason, message_status, held in pairs:
        if invitation_status == "not_sent":
            assert (message_status, held) == ("suppressed", reason)
        else:
            assert message_status == "sent"
    sent = db.session.scalars(
        select(Message).where(Message.kind == "survey", Message.status == "sent").limit(1)
    ).one()
    customer = db.session.get(Customer, sent.customer_id)
    assert customer.name.split()[0] in sent.body_text or customer.name[1:] in sent.body_text
    assert "/s/" in sent.body_text and sent.sent_at is not None
    login_as("lead")
    csat = programmes()[CSAT_NAME]
    page = client.get(f"/surveys/programmes/{csat.id}/results?period=all").get_data(as_text=True)
    cells = dict(re.findall(r'<td data-label="([^"]+)"[^>]*>([^<]*)</td>', page))
    delivered, answered = int(cells["Delivered"]), int(cells["Answered"])
    assert 0 < answered <= delivered <= int(cells["Invited"])
    assert cells["Response rate"].endswith("%")
