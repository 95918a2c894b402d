"""Survey programmes: listing, creating, editing, switching on and off, and the email preview.

Leads and admins run programmes. A programme is saved under the version its editor read; a
save from an older page is refused naming who changed it last and when. The scale (metric) is
locked once anyone has answered: answers on two scales cannot be added up. Switching a
programme on stamps `active_since`, and the planner invites only for events after it, so
switching on (or back on) never floods customers with invitations about the past. The texts
may change while invitations are out: the answer page reads the programme's current texts.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from portal.accounts.services import user_names
from portal.core.access import Role
from portal.core.audit import Actor, AuditEvent, record_event
from portal.core.config import LANGUAGES
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal.core.extensions import db
from portal.core.timeutil import as_utc, utc_now
from portal.core.transaction import use_case
from portal.customers.models import Segment
from portal.messaging.templates import Rendered, render, sample_context
from portal.surveys.models import (
    SCALES,
    Metric,
    Route,
    SurveyAnswer,
    SurveyInvitation,
    SurveyProgramme,
    Trigger,
)
from portal.surveys.planner import contact_label

SUBJECT = "survey_programme"
NAME_MAX = 120
QUESTION_MAX = 500
PROMPT_MAX = 300
CHOICE_TEXT_MAX = 200
OPTION_MAX = 80
CHOICES_MAX = 3
OPTIONS_MIN, OPTIONS_MAX = 2, 6
DELAY_MAX_HOURS = 24 * 30
EXPIRY_MAX_DAYS = 90
WAVE_MONTHS = (1, 2, 3, 4, 6, 12)
RECENT_DAYS = 30
COUNT_CAP = 10_000  # the list counts up to here and says "10,000+" beyond


def require_lead(actor: Actor) -> None:
    if not (actor.is_system or actor.role in (Role.LEAD, Role.ADMIN)):
        raise PermissionDenied(_l("Only leads and admins run survey programmes."))


@dataclass(frozen=True)
class ChoiceInput:
    """One optional choice question as typed: its text and options in both languages."""

    text_en: str = ""
    text_zh: str = ""
    options_en: tuple[str, ...] = ()
    options_zh: tuple[str, ...] = ()

    @property
    def blank(self) -> bool:
        return not (self.text_en or self.text_zh or self.options_en or self.options_zh)


@dataclass(frozen=True)
class ProgrammeInput:
    """What a lead typed into the programme form, as plain values (None: left empty)."""

    name: str
    metric: str
    trigger: str
    question_en: str
    question_zh: str
    comment_prompt_en: str = ""
    comment_prompt_zh: str = ""
    choices: tuple[ChoiceInput, ...] = ()
    send_delay_hours: int | None = 24
    expiry_days: int | None = 14
    sample_percent: float | None = 100
    segment: str = ""
    wave_months: int | None = None
    wave_send_hour: int | None = 10
    remind_after_days: int | None = None
    route: str = Route.QUEUE.value


def _text(value: str, limit: int, name: str, *, required: bool) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationFailed(_l("This is required."), field=name)
    if len(value) > limit:
        raise ValidationFailed(_l("At most %(limit)d characters.", limit=limit), field=name)
    return value


def _whole(value: int | None, low: int, high: int, name: str) -> int:
    if value is None or not low <= value <= high:
        raise ValidationFailed(
            _l("A whole number from %(low)d to %(high)d.", low=low, high=high), field=name
        )
    return value


def _clean_choices(choices: tuple[ChoiceInput, ...]) -> list[dict[str, Any]]:
    if len(choices) > CHOICES_MAX:
        raise ValidationFailed(_l("At most three choice questions."), field="choices")
    cleaned = []
    for index, choice in enumerate(choices):
        if choice.blank:
            continue
        prefix = f"choices-{index}-"
        text_en = _text(choice.text_en, CHOICE_TEXT_MAX, prefix + "text_en", required=True)
        text_zh = _text(choice.text_zh, CHOICE_TEXT_MAX, prefix + "text_zh", required=True)
        options = {}
        for language in ("en", "zh"):
            name = prefix + f"options_{language}"
            typed = [o.strip() for o in getattr(choice, f"options_{language}") if o.strip()]
            if not OPTIONS_MIN <= len(typed) <= OPTIONS_MAX:
                raise ValidationFailed(
                    _l(
                        "Give from %(low)d to %(high)d options, one per line.",
                        low=OPTIONS_MIN,
                        high=OPTIONS_MAX,
                    ),
                    field=name,
                )
            if any(len(option) > OPTION_MAX for option in typed):
                raise ValidationFailed(
                    _l("An option has at most %(limit)d characters.", limit=OPTION_MAX),
                    field=name,
                )
            options[language] = typed
        if len(options["en"]) != len(options["zh"]):
            raise ValidationFailed(
                _l("Give as many Chinese options as English ones, in the same order."),
                field=prefix + "options_zh",
            )
        cleaned.append(
            {
                "key": f"q{len(cleaned) + 1}",
                "en": text_en,
                "zh": text_zh,
                "options": [
                    {"en": en, "zh": zh}
                    for en, zh in zip(options["en"], options["zh"], strict=True)
                ],
            }
        )
    return cleaned


def clean(data: ProgrammeInput) -> dict[str, Any]:
    """The programme's column values from what was typed; refused naming the field."""
    name = _text(data.name, NAME_MAX, "name", required=True)
    if data.metric not in {m.value for m in Metric}:
        raise ValidationFailed(_l("Choose a metric."), field="metric")
    if data.trigger not in {t.value for t in Trigger}:
        raise ValidationFailed(_l("Choose what invites a customer."), field="trigger")
    if data.route not in {r.value for r in Route}:
        raise ValidationFailed(_l("Choose where follow-ups go."), field="route")
    if data.segment and data.segment not in {s.value for s in Segment}:
        raise ValidationFailed(_l("Choose a segment."), field="segment")
    values: dict[str, Any] = {
        "name": name,
        "metric": data.metric,
        "trigger": data.trigger,
        "question_en": _text(data.question_en, QUESTION_MAX, "question_en", required=True),
        "question_zh": _text(data.question_zh, QUESTION_MAX, "question_zh", required=True),
        "comment_prompt_en": _text(
            data.comment_prompt_en, PROMPT_MAX, "comment_prompt_en", required=False
        ),
        "comment_prompt_zh": _text(
            data.comment_prompt_zh, PROMPT_MAX, "comment_prompt_zh", required=False
        ),
        "choices": _clean_choices(data.choices),
        "send_delay_hours": _whole(data.send_delay_hours, 0, DELAY_MAX_HOURS, "send_delay_hours"),
        "expiry_days": _whole(data.expiry_days, 1, EXPIRY_MAX_DAYS, "expiry_days"),
        "segment": data.segment or None,
        "route": data.route,
    }
    if bool(values["comment_prompt_en"]) != bool(values["comment_prompt_zh"]):
        missing = "comment_prompt_zh" if values["comment_prompt_en"] else "comment_prompt_en"
        raise ValidationFailed(
            _l("Give the comment prompt in both languages, or in neither."), field=missing
        )
    if data.sample_percent is None or not 0 <= data.sample_percent <= 100:
        raise ValidationFailed(_l("A percentage from 0 to 100."), field="sample_percent")
    values["sample_rate"] = round(data.sample_percent / 100, 4)
    if data.remind_after_days is not None:
        _whole(data.remind_after_days, 1, values["expiry_days"] - 1, "remind_after_days")
    values["remind_after_days"] = data.remind_after_days
    values["wave_send_hour"] = _whole(data.wave_send_hour, 0, 23, "wave_send_hour")
    if data.trigger == Trigger.WAVE:
        if data.wave_months not in WAVE_MONTHS:
            raise ValidationFailed(_l("Choose how often a wave goes out."), field="wave_months")
        values["wave_months"] = data.wave_months
    else:
        values["wave_months"] = None
    return values


def snapshot(programme: SurveyProgramme) -> dict[str, Any]:
    """What an audit event records about a programme."""
    return {
        "name": programme.name,
        "metric": programme.metric,
        "trigger": programme.trigger,
        "active": programme.active,
        "active_since": programme.active_since.isoformat() if programme.active_since else None,
        "question_en": programme.question_en,
        "question_zh": programme.question_zh,
        "comment_prompt_en": programme.comment_prompt_en,
        "comment_prompt_zh": programme.comment_prompt_zh,
        "choices": programme.choices,
        "send_delay_hours": programme.send_delay_hours,
        "expiry_days": programme.expiry_days,
        "sample_rate": programme.sample_rate,
        "segment": programme.segment,
        "wave_months": programme.wave_months,
        "wave_send_hour": programme.wave_send_hour,
        "remind_after_days": programme.remind_after_days,
        "route": programme.route,
    }


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class ProgrammeRow:
    programme: SurveyProgramme
    invited: int  # in the last RECENT_DAYS, counted up to COUNT_CAP + 1
    answered: int


def _capped_count(query: Any) -> int:
    return db.session.scalar(
        select(func.count()).select_from(query.limit(COUNT_CAP + 1).subquery())
    )


def programmes(actor: Actor, now: datetime | None = None) -> list[ProgrammeRow]:
    """Every programme by name, with its invitations and answers of the last 30 days — each
    an index range of one programme, counted no further than 10,000."""
    require_lead(actor)
    since = (now or utc_now()) - timedelta(days=RECENT_DAYS)
    rows = []
    for programme in db.session.scalars(select(SurveyProgramme).order_by(SurveyProgramme.name)):
        invited = _capped_count(
            select(SurveyInvitation.id).where(
                SurveyInvitation.programme_id == programme.id,
                SurveyInvitation.created_at >= since,
            )
        )
        answered = _capped_count(
            select(SurveyAnswer.id).where(
                SurveyAnswer.programme_id == programme.id, SurveyAnswer.answered_at >= since
            )
        )
        rows.append(ProgrammeRow(programme, invited, answered))
    return rows


def programme(actor: Actor, programme_id: int) -> SurveyProgramme:
    require_lead(actor)
    found = db.session.get(SurveyProgramme, programme_id)
    if found is None:
        raise NotFound(_l("No such survey programme."))
    return found


def has_answers(programme_id: int) -> bool:
    return (
        db.session.scalar(
            select(SurveyAnswer.id).where(SurveyAnswer.programme_id == programme_id).limit(1)
        )
        is not None
    )


def has_invitations_out(programme_id: int, now: datetime | None = None) -> bool:
    """Whether some invitation of the programme can still be answered."""
    return (
        db.session.scalar(
            select(SurveyInvitation.id)
            .where(
                SurveyInvitation.programme_id == programme_id,
                SurveyInvitation.status == "invited",
                SurveyInvitation.expires_at > (now or utc_now()),
            )
            .limit(1)
        )
        is not None
    )


# ---------------------------------------------------------------- changing


def programme_changed(programme_id: int) -> Conflict:
    """The conflict naming who changed the programme last and when, in the viewer's zone."""
    last = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.subject_type == SUBJECT, AuditEvent.subject_id == str(programme_id))
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    if last is None:
        return Conflict(_l("Someone else changed this in the meantime. Reload and try again."))
    name = user_names([last.actor_id]).get(last.actor_id)
    return Conflict(
        _l(
            "%(who)s changed this programme at %(when)s while you were working on it. "
            "Check the change, then try again.",
            who=name or last.actor_label,
            when=format_datetime(as_utc(last.occurred_at), "medium"),
        )
    )


def _stale(_actor: Actor, programme_id: int, *_args: Any, **_kwargs: Any) -> Conflict:
    return programme_changed(programme_id)


def _name_taken(name: str, programme_id: int | None) -> None:
    query = select(SurveyProgramme.id).where(func.lower(SurveyProgramme.name) == name.lower())
    if programme_id is not None:
        query = query.where(SurveyProgramme.id != programme_id)
    if db.session.scalar(query.limit(1)) is not None:
        raise ValidationFailed(_l("Another programme has this name."), field="name")


def _name_race(*_args: Any, **_kwargs: Any) -> ValidationFailed:
    return ValidationFailed(_l("Another programme has this name."), field="name")


# Two leads creating programmes of one name at once both insert it: IntegrityError.
@use_case(stale=_name_race, conflicts=(IntegrityError,))
def create_programme(actor: Actor, data: ProgrammeInput) -> SurveyProgramme:
    """A new programme, switched off until a lead switches it on."""
    require_lead(actor)
    values = clean(data)
    _name_taken(values["name"], None)
    created = SurveyProgramme(**values, active=False, created_by_id=actor.user_id)
    db.session.add(created)
    db.session.flush()
    record_event(actor, "survey.programme_created", SUBJECT, created.id, after=snapshot(created))
    return created


@use_case(stale=_stale, conflicts=(StaleDataError, IntegrityError))
def update_programme(
    actor: Actor, programme_id: int, data: ProgrammeInput, version: int | None
) -> SurveyProgramme:
    """Save an edit made from `version`; the metric stays once the programme has answers."""
    current = programme(actor, programme_id)
    if version != current.version:
        raise programme_changed(programme_id)
    values = clean(data)
    _name_taken(values["name"], programme_id)
    if values["metric"] != current.metric and has_answers(programme_id):
        raise ValidationFailed(
            _l(
                "The metric cannot change: this programme has answers on its scale. "
                "Start a new programme for another metric."
            ),
            field="metric",
        )
    before = snapshot(current)
    if all(getattr(current, name) == value for name, value in values.items()):
        return current
    for name, value in values.items():
        setattr(current, name, value)
    db.session.flush()
    record_event(
        actor,
        "survey.programme_changed",
        SUBJECT,
        programme_id,
        before=before,
        after=snapshot(current),
    )
    return current


@use_case(stale=_stale)
def set_active(
    actor: Actor,
    programme_id: int,
    active: bool,
    version: int | None,
    now: datetime | None = None,
) -> SurveyProgramme:
    """Switch a programme on or off. Switching on stamps `active_since` with now: only what
    happens from then on is surveyed."""
    current = programme(actor, programme_id)
    if version != current.version:
        raise programme_changed(programme_id)
    if current.active == active:
        return current
    before = snapshot(current)
    current.active = active
    if active:
        current.active_since = now or utc_now()
    db.session.flush()
    record_event(
        actor,
        "survey.programme_switched_on" if active else "survey.programme_switched_off",
        SUBJECT,
        programme_id,
        before=before,
        after=snapshot(current),
    )
    return current


# ---------------------------------------------------------------- previews


def text_in(programme: SurveyProgramme, name: str, locale: str) -> str:
    """A programme text (question, comment_prompt) in `locale`'s language."""
    return getattr(programme, f"{name}_{'zh' if locale.startswith('zh') else 'en'}")


SAMPLE_SUBJECTS = {
    Trigger.TICKET_CLOSED.value: "CMP-2026-000123",
    Trigger.RM_CONTACT.value: "",  # filled in per language below
    Trigger.WAVE.value: "",
    Trigger.IMPORTED.value: "",
}


@dataclass(frozen=True)
class EmailPreview:
    locale: str
    rendered: Rendered
    score_links: list[tuple[int, str]] = field(default_factory=list)


def email_preview(actor: Actor, programme_id: int, locale: str) -> EmailPreview:
    """The invitation email as a customer writing `locale` would get it, with a sample first
    name, the programme's question and sample links; nothing is stored."""
    current = programme(actor, programme_id)
    if locale not in LANGUAGES:
        raise NotFound(_l("No such language."))
    base = f"{current_app.config['PUBLIC_BASE_URL']}/s/sample-link"
    low, high = SCALES[current.metric]
    links = [(score, f"{base}?score={score}") for score in range(low, high + 1)]
    subject_label = SAMPLE_SUBJECTS.get(current.trigger, "")
    if current.trigger == Trigger.RM_CONTACT:
        subject_label = contact_label("call", date(2026, 12, 2), locale)
    context = {
        **sample_context(locale),
        "question": text_in(current, "question", locale),
        "subject_label": subject_label,
        "survey_url": base,
        "score_urls": links,
    }
    return EmailPreview(locale, render("survey_invite", locale, context), links)
