"""The survey rollups never change a figure: results, funnel, drivers and filter lists are the same
before rolling, after, after a past answer is added and invalidated, and rolled again; the mark
never reaches yesterday, nor invitations that may still change; an answer changed near midnight
counts once; the import invalidates; the job and the command can run again and again."""

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select

from portal.core.audit import Actor
from portal.core.extensions import db as _db
from portal.core.i18n import firm_zone
from portal.core.timeutil import utc_now
from portal.core.transaction import transaction
from portal.messaging.models import Message
from portal.surveys import results as model
from portal.surveys import rollups
from portal.surveys.answers import AnswerInput, record_answer
from portal.surveys.drivers import drivers
from portal.surveys.importer import import_survey_responses
from portal.surveys.models import SurveyAnswer, SurveyInvitation, score_group
from portal.surveys.rollup_models import SurveyRollupFactor, SurveyRollupMark, SurveyRollupScore
from tests.factories import make_invitation, make_programme, make_ticket, make_user

CAUSES = ["C01", "C07", "C08"]
PRODUCTS = ["Credit card", "Car loan", "Mortgage"]


def zone() -> ZoneInfo:
    return firm_zone()


def local_today(now: datetime | None = None) -> date:
    return (now or utc_now()).astimezone(zone()).date()


def at_local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), zone())


def add_history(programme, days: int, handlers: list[int], seed: int = 3) -> None:
    """Answers on each of the last `days` local days (today included), with facts, and one
    invitation per answer plus unanswered ones, their messages sent or still queued."""
    rng = random.Random(seed)
    today = local_today()
    answers, invitations, messages = [], [], []
    number = 0
    for back in range(days):
        day = today - timedelta(days=back)
        for nth in range(rng.randint(2, 6)):
            number += 1
            created = at_local(day, rng.randint(0, 23), rng.randint(0, 59))
            if created > utc_now():
                created = utc_now() - timedelta(minutes=number)
            key = f"rollup-test:{programme.id}:{number}"
            answered = nth == 0 or rng.random() < 0.7  # every day has answers
            invitations.append(
                {
                    "programme_id": programme.id,
                    "dedupe_key": key,
                    "locale": "en",
                    "nonce": f"{number:032x}",
                    "token_hash": f"{programme.id:08x}{number:056x}",
                    "status": "answered" if answered else rng.choice(["invited", "not_sent"]),
                    "message_key": key,
                    "subject_label": "",
                    "created_at": created,
                    "send_at": created,
                    "expires_at": created + timedelta(days=programme.expiry_days),
                    "answered_at": created if answered else None,
                }
            )
            messages.append(_message(key, "sent" if rng.random() < 0.8 else "queued", created))
            if answered:
                point = rng.randint(0, 10)
                answers.append(
                    {
                        "programme_id": programme.id,
                        "score": point,
                        "score_group": score_group(programme.metric, point),
                        "comment": "",
                        "locale": "en",
                        "source": "web",
                        "answered_at": created,
                        "cause_code": rng.choice(CAUSES),
                        "channel_code": rng.choice(["A01", "A0303", None]),
                        "handler_id": rng.choice(handlers),
                        "resolve_days": rng.choice([None, 1, 5, 12, 40]),
                        "breached": rng.choice([None, True, False]),
                        "segment": rng.choice(["mass", "affluent"]),
                        "product": rng.choice(PRODUCTS),
                    }
                )
    _db.session.execute(insert(Message), messages)
    _db.session.execute(insert(SurveyInvitation), invitations)
    _db.session.execute(insert(SurveyAnswer), answers)
    _db.session.commit()


def _message(key: str, status: str, created: datetime) -> dict:
    return {
        "dedupe_key": key,
        "purpose": "survey",
        "kind": "survey",
        "transactional": False,
        "to_address": "someone@mail.example.com",
        "locale": "en",
        "subject": "How did we do?",
        "body_text": "",
        "body_html": "",
        "headers": {},
        "status": status,
        "attempts": 1 if status == "sent" else 0,
        "created_at": created,
    }


def figures(programme, now: datetime | None = None) -> dict:
    """Everything the results, drivers and comments pages show that rollups feed."""
    shown = {}
    today = local_today(now)
    asked = [
        {"period": "30d"},
        {"period": "90d"},
        {"period": "all"},
        {"period": "custom", "from": str(today - timedelta(days=9)), "to": str(today)},
        {"period": "custom", "from": str(today - timedelta(days=20)), "to": str(today)},
    ]
    for args in asked:
        period = model.parse_period(args, zone(), "90d", now=now)
        made = model.results(programme, period)
        found = drivers(programme, period, "en")
        shown[str(args)] = (
            made.score,
            made.distribution,
            [(point.label, point.score) for point in made.trend],
            made.funnel,
            made.closed_loop,
            found.overall,
            sorted((g.factor, g.value, g.score.n, g.score.high, g.score.low) for g in found.groups),
        )
    choices = model.filter_choices(programme, "en")
    shown["choices"] = (choices.products, choices.handlers)
    return shown


def live_figures(programme, now: datetime | None = None) -> dict:
    """The figures with no rollup at all (all live), rolled up again afterwards."""
    rollups.rebuild(programme.id)
    shown = figures(programme, now)
    rollups.roll_up(programme.id, now=now)
    return shown


def mark_of(programme) -> SurveyRollupMark:
    _db.session.expire_all()
    mark = _db.session.get(SurveyRollupMark, programme.id)
    assert mark is not None
    return mark


@pytest.fixture
def programme(app, db):
    with app.test_request_context(method="POST"):
        made = make_programme(send_delay_hours=0, expiry_days=5)
        handlers = [make_user(role="handler", name=f"Handler {n}").id for n in range(3)]
        add_history(made, 45, handlers)
        yield made


def test_figures_are_the_same_before_and_after_rolling_and_after_an_invalidated_past_answer(
    programme,
):
    before = figures(programme)
    done = rollups.roll_up(programme.id)
    assert done["answer_days"] >= 43 and done["invitation_days"] > 0
    assert mark_of(programme).answers_through == local_today() - timedelta(days=2)
    assert _db.session.scalar(select(func.count()).select_from(SurveyRollupFactor)) > 0
    assert figures(programme) == before

    past = local_today() - timedelta(days=12)
    ticket = make_ticket()
    with transaction():
        _db.session.execute(
            insert(SurveyAnswer),
            [
                {
                    "programme_id": programme.id,
                    "score": 0,
                    "score_group": -1,
                    "comment": "",
                    "locale": "en",
                    "source": "import",
                    "answered_at": at_local(past, 12),
                    "cause_code": "C99",
                    "product": "Overdraft",
                    "follow_up_ticket_id": ticket.id,
                }
            ],
        )
        rollups.invalidate(programme.id, past)
    assert mark_of(programme).answers_through == past - timedelta(days=1)
    added = figures(programme)
    assert added != before
    assert added["{'period': '30d'}"][0].n == before["{'period': '30d'}"][0].n + 1
    assert ("cause", "C99", 1, 0, 1) in added["{'period': '30d'}"][6]
    assert "Overdraft" in dict(added["choices"][0])
    rollups.roll_up(programme.id)
    assert mark_of(programme).answers_through == local_today() - timedelta(days=2)
    assert figures(programme) == added == live_figures(programme)


def test_the_mark_never_reaches_yesterday_or_today(programme):
    today = local_today()
    just_after_midnight = at_local(today, 0, 1)
    rollups.roll_up(programme.id, now=just_after_midnight)
    assert mark_of(programme).answers_through == today - timedelta(days=2)
    days = set(_db.session.scalars(select(SurveyRollupScore.day).distinct()))
    assert max(days) == today - timedelta(days=2)  # yesterday and today have answers too
    rollups.roll_up(programme.id, now=at_local(today, 23, 59))
    assert mark_of(programme).answers_through == today - timedelta(days=2)


def test_invitations_are_rolled_only_once_they_can_no_longer_change(programme):
    today = local_today()
    rollups.roll_up(programme.id)
    # Sent at once, five days to answer, three days' margin: created up to today − 8.
    assert mark_of(programme).invitations_through == today - timedelta(days=8)
    # An invitation made when the programme gave longer to answer is still open: its day and
    # the ones after it wait.
    rollups.rebuild(programme.id)
    longer, _token = make_invitation(programme)
    longer.created_at = at_local(today - timedelta(days=20), 9)
    longer.expires_at = utc_now() + timedelta(days=1)
    _db.session.commit()
    rollups.roll_up(programme.id)
    assert mark_of(programme).invitations_through == today - timedelta(days=21)
    assert figures(programme) == live_figures(programme)


def test_an_answer_changed_within_the_hour_near_midnight_counts_once(app, db):
    with app.test_request_context(method="POST"):
        programme = make_programme(send_delay_hours=0, expiry_days=30)
        invitation, token = make_invitation(programme, at=utc_now() - timedelta(days=10))
        invitation.created_at = utc_now() - timedelta(days=10)
        _db.session.commit()
        day = local_today() - timedelta(days=5)
        midnight = at_local(day + timedelta(days=1), 0)
        record_answer(
            Actor.system("test"),
            token,
            AnswerInput(score="9"),
            device="phone",
            now=midnight - timedelta(minutes=10),
        )
        record_answer(
            Actor.system("test"),
            token,
            AnswerInput(score="3", change=True),
            device="phone",
            now=midnight + timedelta(minutes=20),
        )
        rollups.roll_up(programme.id, now=midnight + timedelta(minutes=30))
        assert mark_of(programme).answers_through is None or (
            mark_of(programme).answers_through < day
        )
        period = model.parse_period(
            {"period": "custom", "from": str(day), "to": str(day + timedelta(days=1))},
            zone(),
            "90d",
        )
        made = model.results(programme, period)
        assert dict(made.distribution)[3] == 1 and made.score.n == 1
        rollups.roll_up(programme.id, now=midnight + timedelta(days=1, hours=1))
        assert mark_of(programme).answers_through == day
        made = model.results(programme, period)
        assert dict(made.distribution)[3] == 1 and made.score.n == 1
        assert dict(made.distribution)[9] == 0


def test_the_import_invalidates_the_days_it_adds_to(programme):
    rollups.roll_up(programme.id)
    before = figures(programme)
    old = local_today() - timedelta(days=30)
    data = f"date,score\n{old.isoformat()} 10:00,2\n".encode()
    report = import_survey_responses(
        Actor.system("test"), data, "old.csv", programme=programme.name
    )
    assert report.imported == 1
    assert mark_of(programme).answers_through == old - timedelta(days=1)
    added = figures(programme)
    assert added["{'period': '90d'}"][0].n == before["{'period': '90d'}"][0].n + 1
    assert added == live_figures(programme)


def test_the_import_command_rolls_up_at_the_end(programme, runner, tmp_path):
    rollups.roll_up(programme.id)
    old = local_today() - timedelta(days=30)
    path = tmp_path / "old.csv"
    path.write_text(f"date,score\n{old.isoformat()} 10:00,2\n")
    result = runner.invoke(
        args=["import", "survey-responses", str(path), "--quiet", "--programme", programme.name]
    )
    assert result.exit_code == 0, result.output
    assert mark_of(programme).answers_through == local_today() - timedelta(days=2)


def test_the_job_and_the_command_can_run_again_and_again(programme, runner):
    at = utc_now().isoformat()
    first = runner.invoke(args=["jobs", "once", "surveys.rollup", "--at", at])
    assert first.exit_code == 0, first.output
    rows = _db.session.scalar(select(func.count()).select_from(SurveyRollupFactor))
    shown = figures(programme)
    again = runner.invoke(args=["jobs", "once", "surveys.rollup", "--at", at])
    assert again.exit_code == 0, again.output
    assert _db.session.scalar(select(func.count()).select_from(SurveyRollupFactor)) == rows
    assert rollups.roll_up(programme.id) == {
        "programmes": 1,
        "answer_days": 0,
        "invitation_days": 0,
    }
    rebuilt = runner.invoke(args=["surveys", "rollup", "--rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "Forgot the rollups" in rebuilt.output and "day(s) of answers" in rebuilt.output
    assert _db.session.scalar(select(func.count()).select_from(SurveyRollupFactor)) == rows
    assert figures(programme) == shown


def test_rollups_of_another_zone_are_ignored_and_rebuilt(app, programme):
    rollups.roll_up(programme.id)
    shown = figures(programme)
    original = app.config["DEFAULT_TIMEZONE"]
    try:
        app.config["DEFAULT_TIMEZONE"] = "America/New_York"
        assert figures(programme) == live_figures(programme)
        assert mark_of(programme).zone == "America/New_York"
    finally:
        app.config["DEFAULT_TIMEZONE"] = original
    rollups.roll_up(programme.id)
    assert figures(programme) == shown
