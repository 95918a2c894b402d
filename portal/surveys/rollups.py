"""Daily rollups of survey answers and invitations, so the results and drivers pages read a few
thousand small rows instead of 300,000 answers — and are never wrong for it.

What is rolled (rollup_models.py), per programme and local day in the firm's zone:
answers by score; answers by the value of each drivers factor, per score group; invitations
by status, delivery and answer. A programme's mark says how far: answers of the days up to
`answers_through`, invitations created up to `invitations_through`. Readers (results(),
funnel(), drivers counts(), the comments page's filter lists) add, in one statement, the rows
of the days up to the mark and the live query over the instants after the mark's day, so a
figure is never stale nor counted twice; a missing or older mark only makes the page slower.

When a day is rolled (`roll_up`)
    Answers of a day once it is at least two days old in the firm's zone (an answer can be
    changed within an hour of answering, so yesterday may still change just after midnight;
    today − 2 never does). Invitations of a creation day once every invitation of it has
    expired `INVITATION_MARGIN_DAYS` ago (created ≤ today − (send delay + expiry days + margin),
    and none created since the mark still open): their status, answer and delivery are final.
    One transaction per batch of days per programme, the mark's row locked first, so a
    roll-up and an invalidation never pass each other. The job `surveys.rollup` runs it
    hourly and as the scheduler starts; `flask surveys rollup [--rebuild]` by hand.

Writers' contract
    Whoever writes answers or invitations of days already rolled must, in the same
    transaction, `invalidate(programme_id, first_day)`: the rows from that day on are deleted
    and the mark moved back, and the next roll-up counts them again. The import does it per
    batch and rolls up at the end; the demo seed and the benchmark roll up after inserting.
    Answers recorded by the answer page, their changes within the hour, and new invitations
    all fall after the mark: nothing to do. Erasure keeps scores and facts (privacy.py) and
    the rollups keep no words: nothing to do. A follow-up ticket's state is never rolled.
    An invitation's message sent after the invitation expired is not counted as delivered
    once its day is rolled (the link no longer opens a survey).
"""

import math
import threading
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, delete, func, insert, literal, select, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.core.extensions import db, dialect_name
from portal.core.i18n import firm_zone
from portal.core.timeutil import as_utc, utc_now
from portal.core.transaction import transaction
from portal.surveys.drivers import FACTOR_LABELS, factor_selects
from portal.surveys.models import SurveyAnswer, SurveyInvitation, SurveyProgramme
from portal.surveys.results import funnel_select
from portal.surveys.rollup_models import (
    SurveyRollupFactor,
    SurveyRollupFunnel,
    SurveyRollupMark,
    SurveyRollupScore,
)

ANSWERS_FINAL_AFTER_DAYS = 2  # the last day rolled is today − 2
INVITATION_MARGIN_DAYS = 3
# An invitation that expired less than this ago, or has not, keeps its creation day live.
STILL_OPEN_WITHIN = timedelta(days=1)
BATCH_DAYS = 31  # days rolled per transaction
ROLLUP_TABLES = (SurveyRollupScore, SurveyRollupFactor, SurveyRollupFunnel)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), zone).astimezone(ZoneInfo("UTC"))


def _local_day(instant: datetime, zone: ZoneInfo) -> date:
    return as_utc(instant).astimezone(zone).date()


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# ---------------------------------------------------------------- the mark


def _upsert_mark(programme_id: int, zone: ZoneInfo, on_conflict: dict[str, Any] | None) -> None:
    """The programme's mark row, inserted empty when missing; on PostgreSQL the row stays
    locked until the transaction ends (also when it had to wait for another's insert)."""
    table = SurveyRollupMark.__table__
    dialect_insert = pg_insert if dialect_name() == "postgresql" else sqlite_insert
    statement = dialect_insert(table).values(programme_id=programme_id, zone=str(zone))
    if on_conflict:
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.programme_id], set_=on_conflict
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=[table.c.programme_id])
    db.session.execute(statement)


def _locked_mark(programme_id: int, zone: ZoneInfo, now: datetime) -> SurveyRollupMark:
    """The programme's mark, locked for this transaction: an invalidation waits for the batch
    to commit and then undoes what it must, or the batch waits and counts the new rows."""
    _upsert_mark(programme_id, zone, None)
    db.session.execute(
        update(SurveyRollupMark)
        .where(SurveyRollupMark.programme_id == programme_id)
        .values(rolled_at=now)
        .execution_options(synchronize_session=False)
    )
    mark = db.session.scalar(
        select(SurveyRollupMark)
        .where(SurveyRollupMark.programme_id == programme_id)
        .execution_options(populate_existing=True)
    )
    assert mark is not None
    if mark.zone != str(zone):  # the firm moved: rows of another zone's days are rebuilt
        _clear(programme_id)
        mark.zone = str(zone)
        mark.answers_through = mark.answers_until = None
        mark.invitations_through = mark.invitations_until = None
    return mark


def _clear(programme_id: int, from_day: date | None = None) -> None:
    for model in ROLLUP_TABLES:
        statement = delete(model).where(model.programme_id == programme_id)
        if from_day is not None:
            statement = statement.where(model.day >= from_day)
        db.session.execute(statement.execution_options(synchronize_session=False))


def invalidate(programme_id: int, from_day: date) -> None:
    """Forget the programme's rollups from `from_day` (a local day in the firm's zone) on, in
    the caller's transaction: for a writer that added or changed answers or invitations of
    days that may be rolled (module docstring). The mark row is written first, so it waits
    for a roll-up batch in progress, whose rows the delete then sees."""
    zone = firm_zone()
    before = from_day - timedelta(days=1)
    until = _midnight(from_day, zone)
    table = SurveyRollupMark.__table__
    moved: dict[str, Any] = {}
    for through, instant in (
        (table.c.answers_through, table.c.answers_until),
        (table.c.invitations_through, table.c.invitations_until),
    ):
        # Both read the row as it was: a mark already before `from_day` stays where it is.
        later = through > before
        moved[through.name] = case((later, literal(before, through.type)), else_=through)
        moved[instant.name] = case((later, literal(until, instant.type)), else_=instant)
    _upsert_mark(programme_id, zone, moved)
    _clear(programme_id, from_day)


def rebuild(programme_id: int | None = None) -> int:
    """Forget every rollup (of one programme, or of all); the next `roll_up` makes them again.
    Returns how many programmes were cleared."""
    zone = firm_zone()
    ids = _programme_ids(programme_id)
    for one in ids:
        with transaction():
            _upsert_mark(
                one,
                zone,
                {
                    "zone": str(zone),
                    "answers_through": None,
                    "answers_until": None,
                    "invitations_through": None,
                    "invitations_until": None,
                },
            )
            _clear(one)
    return len(ids)


# ---------------------------------------------------------------- rolling


def _programme_ids(programme_id: int | None) -> list[int]:
    if programme_id is not None:
        return [programme_id]
    return list(db.session.scalars(select(SurveyProgramme.id).order_by(SurveyProgramme.id)))


def roll_up(
    programme_id: int | None = None,
    now: datetime | None = None,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """Advance the marks of one programme (or all) as far as their days are final (module
    docstring), a batch of days per transaction. Idempotent; returns what it rolled."""
    now = as_utc(now or utc_now())
    zone = firm_zone()
    today = _local_day(now, zone)
    done = {"programmes": 0, "answer_days": 0, "invitation_days": 0}
    for one in _programme_ids(programme_id):
        if stop is not None and stop.is_set():
            break
        done["answer_days"] += _roll_answers(one, today, zone, now, stop)
        done["invitation_days"] += _roll_invitations(one, today, zone, now, stop)
        done["programmes"] += 1
    return done


def rollup_job(as_of: datetime, stop: threading.Event | None = None) -> dict[str, int]:
    """The `surveys.rollup` job: roll up every programme as of `as_of`."""
    return roll_up(now=as_of, stop=stop)


def _first_answer_day(programme_id: int, zone: ZoneInfo) -> date | None:
    first = db.session.scalar(
        select(func.min(SurveyAnswer.answered_at)).where(SurveyAnswer.programme_id == programme_id)
    )
    return None if first is None else _local_day(first, zone)


def _roll_answers(
    programme_id: int, today: date, zone: ZoneInfo, now: datetime, stop: threading.Event | None
) -> int:
    last_final = today - timedelta(days=ANSWERS_FINAL_AFTER_DAYS)
    rolled = 0
    while stop is None or not stop.is_set():
        with transaction():
            mark = _locked_mark(programme_id, zone, now)
            if mark.answers_through is not None:
                first = mark.answers_through + timedelta(days=1)
            else:
                first = _first_answer_day(programme_id, zone) or last_final + timedelta(days=1)
            last = min(first + timedelta(days=BATCH_DAYS - 1), last_final)
            if last < first:
                return rolled
            for day in _days(first, last):
                _roll_answer_day(programme_id, day, zone)
            mark.answers_through = last
            mark.answers_until = _midnight(last + timedelta(days=1), zone)
            rolled += (last - first).days + 1
    return rolled


def _roll_answer_day(programme_id: int, day: date, zone: ZoneInfo) -> None:
    answer = SurveyAnswer
    of_day = (
        answer.programme_id == programme_id,
        answer.answered_at >= _midnight(day, zone),
        answer.answered_at < _midnight(day + timedelta(days=1), zone),
    )
    scores = db.session.execute(
        select(answer.score, answer.score_group, func.count())
        .where(*of_day)
        .group_by(answer.score, answer.score_group)
    ).all()
    if not scores:
        return
    db.session.execute(
        insert(SurveyRollupScore),
        [
            {"programme_id": programme_id, "day": day, "score": s, "score_group": g, "answers": n}
            for s, g, n in scores
        ],
    )
    factors = db.session.execute(union_all(*factor_selects(list(FACTOR_LABELS), *of_day))).all()
    if factors:
        db.session.execute(
            insert(SurveyRollupFactor),
            [
                {
                    "programme_id": programme_id,
                    "day": day,
                    "factor": name,
                    "value": str(value),
                    "low": low,
                    "middle": middle,
                    "high": high,
                }
                for name, value, low, middle, high in factors
            ],
        )


def _invitations_final_through(
    programme: SurveyProgramme, first: date, today: date, zone: ZoneInfo, now: datetime
) -> date:
    """The last creation day whose invitations are all final: past the programme's send delay,
    expiry and the margin, and before the first day since `first` with an invitation still
    open or only just expired (one made when the expiry was longer, or sent later)."""
    waited = math.ceil(programme.send_delay_hours / 24) + programme.expiry_days
    last = today - timedelta(days=waited + INVITATION_MARGIN_DAYS)
    if last < first:
        return last
    still_open = db.session.scalar(
        select(func.min(SurveyInvitation.created_at)).where(
            SurveyInvitation.programme_id == programme.id,
            SurveyInvitation.created_at >= _midnight(first, zone),
            SurveyInvitation.created_at < _midnight(last + timedelta(days=1), zone),
            SurveyInvitation.expires_at > now - STILL_OPEN_WITHIN,
        )
    )
    if still_open is not None:
        last = min(last, _local_day(still_open, zone) - timedelta(days=1))
    return last


def _roll_invitations(
    programme_id: int, today: date, zone: ZoneInfo, now: datetime, stop: threading.Event | None
) -> int:
    rolled = 0
    last_final: date | None = None
    while stop is None or not stop.is_set():
        with transaction():
            mark = _locked_mark(programme_id, zone, now)
            programme = db.session.get(SurveyProgramme, programme_id)
            if programme is None:
                return rolled
            if mark.invitations_through is not None:
                first = mark.invitations_through + timedelta(days=1)
            else:
                created = db.session.scalar(
                    select(func.min(SurveyInvitation.created_at)).where(
                        SurveyInvitation.programme_id == programme_id
                    )
                )
                if created is None:
                    return rolled
                first = _local_day(created, zone)
            if last_final is None:
                last_final = _invitations_final_through(programme, first, today, zone, now)
            last = min(first + timedelta(days=BATCH_DAYS - 1), last_final)
            if last < first:
                return rolled
            for day in _days(first, last):
                _roll_invitation_day(programme_id, day, zone)
            mark.invitations_through = last
            mark.invitations_until = _midnight(last + timedelta(days=1), zone)
            rolled += (last - first).days + 1
    return rolled


def _roll_invitation_day(programme_id: int, day: date, zone: ZoneInfo) -> None:
    rows = db.session.execute(
        funnel_select(
            SurveyInvitation.programme_id == programme_id,
            SurveyInvitation.created_at >= _midnight(day, zone),
            SurveyInvitation.created_at < _midnight(day + timedelta(days=1), zone),
        )
    ).all()
    if rows:
        db.session.execute(
            insert(SurveyRollupFunnel),
            [
                {
                    "programme_id": programme_id,
                    "day": day,
                    "status": status,
                    "delivered": bool(delivered),
                    "answered": bool(answered),
                    "invitations": n,
                }
                for status, delivered, answered, n in rows
            ],
        )
