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
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.core.audit import Actor, record_event
from portal.core.errors import Conflict, NotFound, ServiceError, ValidationFailed
from portal.core.extensions import db
from portal.core.timeutil import as_utc, utc_now
from portal.core.transaction import use_case
from portal.customers.models import Customer
from portal.customers.pii import first_name
from portal.surveys.facts import facts_for
from portal.surveys.follow_up import needs_follow_up, open_follow_up
from portal.surveys.models import (
    InvitationStatus,
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


def texts_in(programme: SurveyProgramme, locale: str) -> dict[str, Any]:
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


def view_of(programme: SurveyProgramme, locale: str, **shown: Any) -> PageView:
    return PageView(
        locale=locale,
        metric=programme.metric,
        scale=programme.scale,
        **texts_in(programme, locale),
        **shown,
    )


def device_hash(device: str | None) -> str | None:
    return hashlib.sha256(device.encode()).hexdigest() if device else None


def may_change(answer: SurveyAnswer, device: str | None, now: datetime) -> bool:
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


def _locked(token: str) -> tuple[SurveyInvitation, SurveyProgramme] | None:
    """The invitation behind `token` and its programme, the invitation's row locked until the
    transaction ends (PostgreSQL; SQLite's write lock is already held)."""
    if not well_formed(token):
        return None
    row = db.session.execute(
        select(SurveyInvitation, SurveyProgramme)
        .join(SurveyProgramme, SurveyProgramme.id == SurveyInvitation.programme_id)
        .where(SurveyInvitation.token_hash == token_hash(token))
        .with_for_update(of=SurveyInvitation)
    ).first()
    return (row[0], row[1]) if row is not None else None


def answer_of(invitation_id: int) -> SurveyAnswer | None:
    return db.session.scalar(
        select(SurveyAnswer).where(SurveyAnswer.invitation_id == invitation_id)
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
    row = db.session.execute(
        select(SurveyInvitation, SurveyProgramme, Customer.name, Customer.erased_at, SurveyAnswer)
        .join(SurveyProgramme, SurveyProgramme.id == SurveyInvitation.programme_id)
        .outerjoin(Customer, Customer.id == SurveyInvitation.customer_id)
        .outerjoin(SurveyAnswer, SurveyAnswer.invitation_id == SurveyInvitation.id)
        .where(SurveyInvitation.token_hash == token_hash(token))
    ).first()
    if row is None:
        return None
    invitation, programme, name, erased_at, answer = row
    if invitation.status == InvitationStatus.NOT_SENT.value:
        return None
    now = now or utc_now()
    view = view_of(
        programme,
        invitation.locale,
        first_name=first_name(name) if name and erased_at is None else "",
        subject=invitation.subject_label,
    )
    if answer is not None:
        view.state = State.ANSWERED
        if may_change(answer, device, now):
            view.may_change = True
            view.score, view.comment = answer.score, answer.comment
            view.chosen = dict(answer.choices or {})
        return view
    if as_utc(invitation.expires_at) <= now or invitation.status == InvitationStatus.EXPIRED:
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
    answer: SurveyAnswer
    locale: str  # the page's language (read before the commit expires the answer)
    changed: bool  # True: an earlier answer from this browser was changed


def check_answer(programme: SurveyProgramme, data: AnswerInput) -> dict[str, Any]:
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
    found = _locked(token)
    if found is None or found[0].status == InvitationStatus.NOT_SENT.value:
        raise NotFound(_l("This survey link is not valid."))
    invitation, programme = found
    existing = answer_of(invitation.id)
    if existing is not None:
        if not (data.change and may_change(existing, device, now)):
            raise AlreadyAnswered()
        changed = _change(actor, existing, programme, check_answer(programme, data), now)
        return Recorded(changed, changed.locale, True)
    if as_utc(invitation.expires_at) <= now or invitation.status == InvitationStatus.EXPIRED:
        raise Expired()
    values = check_answer(programme, data)
    answer = SurveyAnswer(
        programme_id=programme.id,
        invitation_id=invitation.id,
        customer_id=invitation.customer_id,
        locale=invitation.locale,
        source="web",
        answered_at=now,
        device_hash=device_hash(device),
        **values,
        **facts_for(invitation),
    )
    db.session.add(answer)
    db.session.flush()  # a second answer to the invitation fails here: AlreadyAnswered
    invitation.status = InvitationStatus.ANSWERED.value
    invitation.answered_at = now
    if needs_follow_up(answer):
        open_follow_up(actor, answer, programme)
    record_event(
        actor,
        "survey.answered",
        "survey_answer",
        answer.id,
        after={"programme": programme.id, "score": answer.score},
        at=now,
    )
    return Recorded(answer, answer.locale, False)


def _change(
    actor: Actor,
    answer: SurveyAnswer,
    programme: SurveyProgramme,
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
