"""The answer page's read model and its one use case: recording (or changing) an answer.

Opening the link only reads — mail scanners and link previews follow every link — and the
answer is recorded by the customer's POST. One invitation has one answer: the invitation row
is locked while the answer is checked and written, and the answer's unique invitation id
catches whatever the lock does not (two processes on SQLite queue on the write lock; on
PostgreSQL the second waits for the row), so a double click or two tabs leave one answer and
the second is told it was already answered. The browser that answered may change its answer
for an hour (a random cookie whose SHA-256 is kept on the answer); a change that makes the
answer unhappy opens the follow-up the first one did not, and no change ever removes one.
"""

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, Protocol

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from portal.core.audit import Actor, record_event
from portal.core.errors import Conflict, NotFound, ServiceError, ValidationFailed
from portal.core.extensions import db
from portal.core.timeutil import as_utc, utc_now
from portal.core.transaction import use_case
from portal.customers.models import Customer
from portal.customers.pii import first_name
from portal.surveys.facts import fact_columns, facts_in, join_facts
from portal.surveys.follow_up import needs_follow_up, open_follow_up
from portal.surveys.models import (
    SCALES,
    InvitationStatus,
    ScoreGroup,
    SurveyAnswer,
    SurveyInvitation,
    SurveyProgramme,
    score_group,
)
from portal.surveys.tokens import token_hash, well_formed

ACTOR = Actor.system("survey answer page")
COMMENT_MAX = 2000
CHANGE_WINDOW = timedelta(hours=1)
_DIGITS = re.compile(r"[0-9]{1,3}")


class AlreadyAnswered(Conflict):
    def __init__(self) -> None:
        super().__init__(_l("Already answered — thank you."))


class Expired(ServiceError):
    status = 410

    def __init__(self) -> None:
        super().__init__(_l("This survey has closed."))


class State(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    EXPIRED = "expired"


@dataclass(frozen=True)
class ChoiceQuestion:
    key: str
    text: str
    options: list[tuple[int, str]]


@dataclass
class PageView:
    """What the answer page shows, in the invitation's language; nothing else about the
    customer than the first name reaches it."""

    locale: str
    metric: str
    scale: tuple[int, int]
    question: str
    comment_prompt: str
    choices: list[ChoiceQuestion]
    first_name: str = ""
    subject: str = ""
    state: State = State.OPEN
    score: int | None = None  # chosen (a per-score link, what was sent, the answer to change)
    comment: str = ""
    chosen: dict[str, int] = field(default_factory=dict)
    may_change: bool = False  # this browser may still change its answer
    disabled: bool = False  # a preview: nothing can be sent

    @property
    def scores(self) -> range:
        low, high = self.scale
        return range(low, high + 1)


class ProgrammeTexts(Protocol):
    """What the answer page reads of a programme: a `SurveyProgramme`, or the `Programme` the
    page's own queries select."""

    metric: str
    question_en: str
    question_zh: str
    comment_prompt_en: str
    comment_prompt_zh: str
    choices: list[dict[str, Any]]


@dataclass(frozen=True)
class Programme:
    """The columns of a programme the answer page and the recording of an answer read, selected
    alongside the invitation rather than loaded as an entity (one query, fewer columns)."""

    id: int
    name: str
    metric: str
    route: str
    question_en: str
    question_zh: str
    comment_prompt_en: str
    comment_prompt_zh: str
    choices: list[dict[str, Any]]

    @property
    def scale(self) -> tuple[int, int]:
        return SCALES[self.metric]


_PROGRAMME_FIELDS = tuple(Programme.__dataclass_fields__)


def _programme_columns() -> list[Any]:
    table = SurveyProgramme.__table__
    return [table.c[name].label(f"programme_{name}") for name in _PROGRAMME_FIELDS]


def _programme_of(row: Any) -> Programme:
    columns = row._mapping
    return Programme(*(columns[f"programme_{name}"] for name in _PROGRAMME_FIELDS))


def texts_in(programme: ProgrammeTexts, locale: str) -> dict[str, Any]:
    """The programme's question, comment prompt and choice questions in `locale`."""
    chinese = locale == "zh_Hans"

    def pick(item: dict[str, Any]) -> str:
        text = item.get("zh") if chinese else item.get("en")
        return str(text or item.get("en") or item.get("zh") or "")

    return {
        "question": (programme.question_zh if chinese else programme.question_en)
        or programme.question_en,
        "comment_prompt": (programme.comment_prompt_zh if chinese else programme.comment_prompt_en)
        or "",
        "choices": [
            ChoiceQuestion(
                str(question.get("key") or index),
                pick(question),
                [(number, pick(option)) for number, option in enumerate(question["options"])],
            )
            for index, question in enumerate((programme.choices or [])[:3])
            if question.get("options")
        ],
    }


def view_of(programme: ProgrammeTexts, locale: str, **shown: Any) -> PageView:
    return PageView(
        locale=locale,
        metric=programme.metric,
        scale=SCALES[programme.metric],
        **texts_in(programme, locale),
        **shown,
    )


def device_hash(device: str | None) -> str | None:
    return hashlib.sha256(device.encode()).hexdigest() if device else None


class GivenAnswer(Protocol):
    device_hash: str | None
    answered_at: datetime


def may_change(answer: GivenAnswer, device: str | None, now: datetime) -> bool:
    """Whether the browser holding `device` gave `answer` less than an hour ago."""
    mine = device_hash(device)
    return bool(
        mine
        and answer.device_hash
        and hmac.compare_digest(mine, answer.device_hash)
        and now < as_utc(answer.answered_at) + CHANGE_WINDOW
    )


def find_invitation(token: str) -> SurveyInvitation | None:
    """The invitation whose link carries `token`; a malformed token is refused unasked."""
    if not well_formed(token):
        return None
    return db.session.scalar(
        select(SurveyInvitation).where(SurveyInvitation.token_hash == token_hash(token))
    )


# The answer page's statements are built once: building a select costs more than running it
# from SQLAlchemy's compiled cache, and the token's hash is their one parameter. They select
# table columns, not entities: psycopg describes every result column on every fetch and the
# ORM would build four objects per page.
_invitations = SurveyInvitation.__table__
_answers = SurveyAnswer.__table__


@cache
def _page_query() -> Select[Any]:
    customers = Customer.__table__
    programmes = SurveyProgramme.__table__
    return (
        select(
            _invitations.c.status,
            _invitations.c.locale,
            _invitations.c.subject_label,
            _invitations.c.expires_at,
            *_programme_columns(),
            customers.c.name,
            customers.c.erased_at,
            _answers.c.id.label("answer_id"),
            _answers.c.score,
            _answers.c.comment,
            _answers.c.choices,
            _answers.c.device_hash,
            _answers.c.answered_at,
        )
        .select_from(
            _invitations.join(programmes, programmes.c.id == _invitations.c.programme_id)
            .outerjoin(customers, customers.c.id == _invitations.c.customer_id)
            .outerjoin(_answers, _answers.c.invitation_id == _invitations.c.id)
        )
        .where(_invitations.c.token_hash == bindparam("token_hash"))
    )


@cache
def _lock_query() -> Select[Any]:
    """The invitation behind a token's hash, its row locked until the transaction ends
    (PostgreSQL; SQLite's write lock is already held), with all that recording reads: the
    programme, the answer already given if any, and the facts to copy (`join_facts`)."""
    programmes = SurveyProgramme.__table__
    invitation_columns = (
        _invitations.c.id,
        _invitations.c.status,
        _invitations.c.locale,
        _invitations.c.expires_at,
        _invitations.c.customer_id,
    )
    return (
        select(
            *invitation_columns,
            *_programme_columns(),
            _answers.c.id.label("answer_id"),
            *fact_columns(),
        )
        .select_from(
            join_facts(
                _invitations.join(
                    programmes, programmes.c.id == _invitations.c.programme_id
                ).outerjoin(_answers, _answers.c.invitation_id == _invitations.c.id),
                _invitations,
            )
        )
        .where(_invitations.c.token_hash == bindparam("token_hash"))
        .with_for_update(of=_invitations)
    )


@cache
def _insert_answer() -> Any:
    return insert(_answers).returning(_answers.c.id)


@cache
def _mark_answered() -> Any:
    return (
        update(_invitations)
        .where(_invitations.c.id == bindparam("invitation"))
        .values(status=InvitationStatus.ANSWERED.value, answered_at=bindparam("at"))
    )


def invitation_locale(token: str) -> str | None:
    """The language of the invitation behind `token`, when there is one (for error pages)."""
    invitation = find_invitation(token)
    return invitation.locale if invitation is not None else None


def answer_page(
    token: str, *, device: str | None = None, score: str | None = None, now: datetime | None = None
) -> PageView | None:
    """The page the link opens, or None for a token no invitation has; reads only, in one
    query. `score` (a per-score link's) is chosen beforehand when it is on the scale."""
    if not well_formed(token):
        return None
    row = db.session.execute(_page_query(), {"token_hash": token_hash(token)}).first()
    if row is None or row.status == InvitationStatus.NOT_SENT.value:
        return None
    now = now or utc_now()
    view = view_of(
        _programme_of(row),
        row.locale,
        first_name=first_name(row.name) if row.name and row.erased_at is None else "",
        subject=row.subject_label,
    )
    if row.answer_id is not None:
        view.state = State.ANSWERED
        if may_change(row, device, now):
            view.may_change = True
            view.score, view.comment = row.score, row.comment
            view.chosen = dict(row.choices or {})
        return view
    if as_utc(row.expires_at) <= now or row.status == InvitationStatus.EXPIRED:
        view.state = State.EXPIRED
        return view
    view.score = parse_score(score, view)
    return view


def parse_score(raw: str | None, view: PageView) -> int | None:
    """A score sent back or given in a link, when it is on the page's scale."""
    text = (raw or "").strip()
    return int(text) if _DIGITS.fullmatch(text) and int(text) in view.scores else None


def parse_choices(raw: dict[str, str]) -> dict[str, int]:
    """The choice options sent back, to keep them chosen on a form shown again."""
    return {key: int(value) for key, value in raw.items() if _DIGITS.fullmatch(value or "")}


def preview_view(programme_id: int, locale: str, first: str, subject: str) -> PageView | None:
    """The answer page of `programme_id` as a customer would read it, with a sample name and
    subject and nothing to send."""
    programme = db.session.get(SurveyProgramme, programme_id)
    if programme is None:
        return None
    return view_of(programme, locale, first_name=first, subject=subject, disabled=True)


# ---------------------------------------------------------------- recording


@dataclass
class AnswerInput:
    """What the form sent, as text: the use case checks every value."""

    score: str | None
    comment: str = ""
    choices: dict[str, str] = field(default_factory=dict)
    change: bool = False  # the form was the "change your answer" one


@dataclass(frozen=True)
class Recorded:
    answer_id: int
    locale: str  # the page's language
    changed: bool  # True: an earlier answer from this browser was changed


def check_answer(programme: SurveyProgramme | Programme, data: AnswerInput) -> dict[str, Any]:
    """The answer's score, comment and choices, or `ValidationFailed` naming the field."""
    low, high = programme.scale
    raw = (data.score or "").strip()
    if not raw:
        raise ValidationFailed(_l("Choose a score."), field="score")
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise ValidationFailed(
            _l("Choose a score from %(low)d to %(high)d.", low=low, high=high), field="score"
        )
    comment = (data.comment or "").replace("\r\n", "\n").strip()
    if len(comment) > COMMENT_MAX:
        raise ValidationFailed(
            _l(
                "Your comment has %(count)d characters; shorten it to %(limit)d or fewer.",
                count=len(comment),
                limit=COMMENT_MAX,
            ),
            field="comment",
        )
    chosen: dict[str, int] = {}
    for question in texts_in(programme, "en")["choices"]:
        picked = (data.choices.get(question.key) or "").strip()
        if not picked:
            continue
        if not _DIGITS.fullmatch(picked) or int(picked) >= len(question.options):
            raise ValidationFailed(
                _l("Choose one of the answers offered."), field=f"choice-{question.key}"
            )
        chosen[question.key] = int(picked)
    score = int(raw)
    return {
        "score": score,
        "score_group": score_group(programme.metric, score),
        "comment": comment,
        "choices": chosen or None,
    }


def _already_answered(*_args: Any, **_kwargs: Any) -> Exception:
    return AlreadyAnswered()


@use_case(conflicts=(IntegrityError,), stale=_already_answered)
def record_answer(
    actor: Actor,
    token: str,
    data: AnswerInput,
    *,
    device: str,
    now: datetime | None = None,
) -> Recorded:
    """Record the customer's answer to the invitation behind `token`, with the facts it is
    about and, when it is unhappy, its follow-up ticket; or change the answer `device` gave
    within the hour. Refuses an unknown token (`NotFound`), an expired one (`Expired`), a
    second answer (`AlreadyAnswered`) and bad values (`ValidationFailed`), saving nothing."""
    now = now or utc_now()
    found = (
        db.session.execute(_lock_query(), {"token_hash": token_hash(token)}).first()
        if well_formed(token)
        else None
    )
    if found is None or found.status == InvitationStatus.NOT_SENT.value:
        raise NotFound(_l("This survey link is not valid."))
    programme = _programme_of(found)
    answered_id = found.answer_id
    if answered_id is None and found.status == InvitationStatus.ANSWERED.value:
        # Answered while this request waited for the lock: PostgreSQL re-reads only the locked
        # row after the wait, not the rows joined to it, so the answer is looked for again.
        answered_id = db.session.scalar(
            select(_answers.c.id).where(_answers.c.invitation_id == found.id)
        )
    if answered_id is not None:
        existing = db.session.get(SurveyAnswer, answered_id)
        if existing is None or not (data.change and may_change(existing, device, now)):
            raise AlreadyAnswered()
        changed = _change(actor, existing, programme, check_answer(programme, data), now)
        return Recorded(changed.id, changed.locale, True)
    if as_utc(found.expires_at) <= now or found.status == InvitationStatus.EXPIRED:
        raise Expired()
    values = check_answer(programme, data)
    # A second answer to the invitation fails here on the unique invitation id: AlreadyAnswered.
    answer_id = db.session.execute(
        _insert_answer(),
        {
            "programme_id": programme.id,
            "invitation_id": found.id,
            "customer_id": found.customer_id,
            "locale": found.locale,
            "source": "web",
            "answered_at": now,
            "device_hash": device_hash(device),
            **values,
            **facts_in(found),
        },
    ).scalar_one()
    db.session.execute(_mark_answered(), {"invitation": found.id, "at": now})
    if values["score_group"] == ScoreGroup.LOW:
        open_follow_up(actor, db.session.get(SurveyAnswer, answer_id), programme)
    record_event(
        actor,
        "survey.answered",
        "survey_answer",
        answer_id,
        after={"programme": programme.id, "score": values["score"]},
        at=now,
    )
    return Recorded(answer_id, found.locale, False)


def _change(
    actor: Actor,
    answer: SurveyAnswer,
    programme: Programme,
    values: dict[str, Any],
    now: datetime,
) -> SurveyAnswer:
    before = {"score": answer.score}
    for name, value in values.items():
        setattr(answer, name, value)
    answer.changed_at = now
    if needs_follow_up(answer):
        open_follow_up(actor, answer, programme)
    record_event(
        actor,
        "survey.answer_changed",
        "survey_answer",
        answer.id,
        before=before,
        after={"score": answer.score},
        at=now,
    )
    return answer
