"""What a programme's results pages read: the period asked for, the invitation funnel, the score
with its margin, the distribution, the trend, the closed-loop rate, the comments and the export.

Every figure is an aggregate computed by the database over the answers' own columns (the facts
are copied onto each answer when it is recorded, models.py). The score, the distribution and
the trend, and the invitation funnel, are read in one statement each: the daily rollups of the
days the programme's mark covers (rollups.py) plus the live GROUP BY over what came after the
mark (at most a few days of answers, the expiry window of invitations), so a period of 300,000
answers returns at most a few thousand small rows, summed here into weeks or months. One
statement reads the mark and both parts, so the figure is never stale nor counted twice even
while a roll-up or an invalidation commits. Periods are whole days in the firm's zone.
"""

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    select,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.types import Date, Integer, String

from portal.accounts.services import user_names
from portal.core.csvfiles import csv_safe
from portal.core.errors import NotFound, ValidationFailed
from portal.core.extensions import db, dialect_name
from portal.core.i18n import format_day, reader_language
from portal.core.models import UTCDateTime
from portal.core.requests import parse_id
from portal.core.timeutil import as_utc, utc_now
from portal.customers.forms import CHANNEL_LABELS, SEGMENT_LABELS
from portal.messaging.models import Message, MessageStatus
from portal.surveys.follow_up import loop_status
from portal.surveys.models import (
    SCALES,
    InvitationStatus,
    Metric,
    ScoreGroup,
    SurveyAnswer,
    SurveyInvitation,
    SurveyProgramme,
    Trigger,
    score_group,
)
from portal.surveys.rollup_models import (
    SurveyRollupFactor,
    SurveyRollupFunnel,
    SurveyRollupMark,
    SurveyRollupScore,
)
from portal.surveys.scores import Score, score
from portal.tickets.models import TaxonomyNode

PERIODS = ("30d", "90d", "quarter", "year", "all", "custom")
PERIOD_LABELS = {
    "30d": _l("Last 30 days"),
    "90d": _l("Last 90 days"),
    "quarter": _l("This quarter"),
    "year": _l("This year"),
    "all": _l("All answers"),
    "custom": _l("From … to …"),
}
GROUPS = {"low": ScoreGroup.LOW, "middle": ScoreGroup.MIDDLE, "high": ScoreGroup.HIGH}
GROUP_LABELS = {
    Metric.NPS.value: {
        "low": _l("Detractors (0–6)"),
        "middle": _l("Passives (7–8)"),
        "high": _l("Promoters (9–10)"),
    },
    Metric.CSAT.value: {
        "low": _l("Dissatisfied (1–2)"),
        "middle": _l("Neutral (3)"),
        "high": _l("Satisfied (4–5)"),
    },
    Metric.CES.value: {
        "low": _l("High effort (1–2)"),
        "middle": _l("Middle (3–4)"),
        "high": _l("Low effort (5–7)"),
    },
}
LANGUAGE_LABELS = {"en": _l("English"), "zh_Hans": _l("Chinese")}
METRIC_LABELS = {
    Metric.NPS.value: _l("NPS"),
    Metric.CSAT.value: _l("CSAT"),
    Metric.CES.value: _l("CES"),
}
PAGE_SIZE = 50
EXPORT_BATCH = 5000
WEEKLY_UP_TO_DAYS = 120  # longer periods are charted by month
CUSTOM_MAX_DAYS = 3660
MINUS = "\u2212"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the live part's start when nothing is rolled


# ---------------------------------------------------------------- the programme and the period


def programme(programme_id: int) -> SurveyProgramme:
    found = db.session.get(SurveyProgramme, programme_id)
    if found is None:
        raise NotFound(_l("There is no such survey programme."))
    return found


@dataclass(frozen=True)
class Period:
    """Whole days in the firm's zone: [start, end) as UTC instants, and how they were asked."""

    key: str
    start: datetime | None  # None: from the programme's first answer
    end: datetime
    first_day: date | None
    last_day: date
    zone: ZoneInfo
    raw_from: str = ""
    raw_to: str = ""

    def query(self) -> dict[str, str]:
        if self.key == "custom":
            return {"period": "custom", "from": self.raw_from, "to": self.raw_to}
        return {"period": self.key}


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(UTC)


def _iso_day(raw: str, field_name: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError as error:
        raise ValidationFailed(_l("Enter dates as YYYY-MM-DD."), field=field_name) from error


def parse_period(args: Any, zone: ZoneInfo, default: str, now: datetime | None = None) -> Period:
    """The period a query string asks for; a clear refusal for an unknown one or bad dates."""
    key = (args.get("period") or default).strip()
    if key not in PERIODS:
        raise ValidationFailed(_l("Choose a period from the list."), field="period")
    today = as_utc(now or utc_now()).astimezone(zone).date()
    end = _midnight(today + timedelta(days=1), zone)
    first: date | None
    if key == "30d":
        first = today - timedelta(days=29)
    elif key == "90d":
        first = today - timedelta(days=89)
    elif key == "quarter":
        first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    elif key == "year":
        first = date(today.year, 1, 1)
    elif key == "all":
        first = None
    else:
        raw_from = (args.get("from") or "").strip()[:20]
        raw_to = (args.get("to") or "").strip()[:20]
        if not raw_from or not raw_to:
            raise ValidationFailed(_l("Give both the first and the last day."), field="from")
        first, last = _iso_day(raw_from, "from"), _iso_day(raw_to, "to")
        if last < first:
            raise ValidationFailed(_l("The last day comes before the first."), field="to")
        if (last - first).days > CUSTOM_MAX_DAYS:
            raise ValidationFailed(_l("Choose at most ten years."), field="from")
        return Period(
            key,
            _midnight(first, zone),
            _midnight(last + timedelta(days=1), zone),
            first,
            last,
            zone,
            raw_from,
            raw_to,
        )
    return Period(key, _midnight(first, zone) if first else None, end, first, today, zone)


def default_period(found: SurveyProgramme) -> str:
    """Imported history is usually older than 90 days: it opens on all its answers."""
    return "all" if found.trigger == Trigger.IMPORTED.value else "90d"


def in_period(column: Any, period: Period) -> Any:
    if period.start is None:
        return column < period.end
    return and_(column >= period.start, column < period.end)


# ---------------------------------------------------------------- figures


def format_score(value: float | None, metric: str) -> str:
    """ "−24.7" for NPS points, "82.0 %" for CSAT and CES; a typographic minus."""
    if value is None:
        return "—"
    text = f"{value:.1f}".replace("-", MINUS)
    if text == f"{MINUS}0.0":
        text = "0.0"
    return text if metric == Metric.NPS.value else f"{text} %"


def format_margin(margin: float | None) -> str:
    return "" if margin is None else f"± {margin:.1f}"


def format_share(part: int, whole: int) -> str:
    return "—" if whole == 0 else f"{100 * part / whole:.1f} %"


@dataclass(frozen=True)
class Funnel:
    invited: int
    not_sent: int
    delivered: int
    answered: int

    @property
    def response_rate(self) -> str:
        return format_share(self.answered, self.delivered)


@dataclass(frozen=True)
class TrendPoint:
    label: str
    score: Score


@dataclass(frozen=True)
class ClosedLoop:
    opened: int
    closed: int

    @property
    def rate(self) -> str:
        return format_share(self.closed, self.opened)


@dataclass
class Results:
    programme: SurveyProgramme
    period: Period
    imported: bool
    funnel: Funnel | None
    score: Score
    distribution: list[tuple[int, int]]  # (score point, answers)
    trend: list[TrendPoint]
    trend_by: str  # "week" or "month"
    closed_loop: ClosedLoop
    chart: dict[str, Any] = field(default_factory=dict)


def _mark_where(programme_id: int, zone: ZoneInfo | None) -> tuple[Any, ...]:
    """The programme's mark, when it was made in the zone the period is counted in (any zone
    for `None`)."""
    if zone is None:
        return (SurveyRollupMark.programme_id == programme_id,)
    return (SurveyRollupMark.programme_id == programme_id, SurveyRollupMark.zone == str(zone))


def rolled_through(programme_id: int, zone: ZoneInfo, column: Any) -> Any:
    """The last rolled day (`column`: the mark's answers_through or invitations_through) as a
    scalar subquery of the reading statement; NULL, so no rolled row, without a mark."""
    return select(column).where(*_mark_where(programme_id, zone)).scalar_subquery()


def live_from(programme_id: int, zone: ZoneInfo | None, column: Any) -> Any:
    """The instant the live part starts (`column`: answers_until or invitations_until), in the
    reading statement; the epoch without a mark, so the live part is then everything."""
    mark = select(column).where(*_mark_where(programme_id, zone)).scalar_subquery()
    return func.coalesce(mark, literal(EPOCH, UTCDateTime()))


def live_in_period(column: Any, programme_id: int, period: Period, mark: Any) -> tuple[Any, ...]:
    """`column` within the period and after the mark (`mark`: answers_until or
    invitations_until) as ONE lower bound, the later of the two: given two, the planner may
    range over the period and filter by the mark, reading the whole period from the table."""
    start = literal(period.start or EPOCH, UTCDateTime())
    after_mark = live_from(programme_id, period.zone, mark)
    later = func.greatest if dialect_name() == "postgresql" else func.max
    return (column >= later(start, after_mark), column < period.end)


def rolled_days(column: Any, period: Period, through: Any) -> tuple[Any, ...]:
    """The rollup rows' days within the period and the mark."""
    conditions = [column <= period.last_day, column <= through]
    if period.first_day is not None:
        conditions.append(column >= period.first_day)
    return tuple(conditions)


def answers_mark(programme_id: int, zone: ZoneInfo) -> date | None:
    """The programme's last rolled day of answers, read on its own (for the trend's origin
    only: the figures read the mark within their own statement)."""
    return db.session.scalar(
        select(SurveyRollupMark.answers_through).where(*_mark_where(programme_id, zone))
    )


def funnel_select(*conditions: Any) -> Select[Any]:
    """(status, delivered, answered, invitations) of the invitations matching `conditions`:
    delivered when the outbox row was sent (SurveyInvitation.message_key = Message.dedupe_key)."""
    sent = Message.status == MessageStatus.SENT.value
    delivered = case((sent, True), else_=False).label("delivered")
    answered = SurveyInvitation.answered_at.is_not(None).label("answered")
    return (
        select(SurveyInvitation.status, delivered, answered, func.count())
        .select_from(SurveyInvitation)
        .outerjoin(Message, Message.dedupe_key == SurveyInvitation.message_key)
        .where(*conditions)
        .group_by(SurveyInvitation.status, delivered, answered)
    )


def funnel(found: SurveyProgramme, period: Period) -> Funnel:
    """The invitations made in the period, and how far they went: queued to be sent, the
    outbox row sent, answered. Rolled days plus the live invitations after the mark."""
    rolled = SurveyRollupFunnel
    through = rolled_through(found.id, period.zone, SurveyRollupMark.invitations_through)
    rolled_rows = (
        select(rolled.status, rolled.delivered, rolled.answered, func.sum(rolled.invitations))
        .where(rolled.programme_id == found.id, *rolled_days(rolled.day, period, through))
        .group_by(rolled.status, rolled.delivered, rolled.answered)
    )
    live_rows = funnel_select(
        SurveyInvitation.programme_id == found.id,
        *live_in_period(
            SurveyInvitation.created_at, found.id, period, SurveyRollupMark.invitations_until
        ),
    )
    invited = not_sent = delivered = answered = 0
    for status, was_delivered, was_answered, count in db.session.execute(
        union_all(rolled_rows, live_rows)
    ).all():
        count = int(count)
        if status == InvitationStatus.NOT_SENT.value:
            not_sent += count
            continue
        invited += count
        delivered += count if was_delivered else 0
        answered += count if was_answered else 0
    return Funnel(invited, not_sent, delivered, answered)


def _day_number(column: Any, origin: datetime) -> Any:
    """Whole days from `origin` (a midnight in the firm's zone) to the instant in `column`,
    counted in 24-hour steps (exact in zones without daylight saving)."""
    if dialect_name() == "sqlite":
        stamp = origin.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        return cast(func.julianday(column) - func.julianday(literal(stamp)), Integer)
    seconds = func.extract("epoch", column - literal(origin))
    return cast(func.floor(seconds / 86400), Integer)


def first_answer_day(found: SurveyProgramme, zone: ZoneInfo) -> date | None:
    first = db.session.scalar(
        select(func.min(SurveyAnswer.answered_at)).where(SurveyAnswer.programme_id == found.id)
    )
    return None if first is None else as_utc(first).astimezone(zone).date()


def results(found: SurveyProgramme, period: Period) -> Results:
    first_day = period.first_day or first_answer_day(found, period.zone) or period.last_day
    # The live rows are counted in days from the first day after the mark: a few days, so the
    # 24-hour steps of _day_number stay exact even across a change of daylight saving.
    mark = answers_mark(found.id, period.zone)
    live_first = max(first_day, mark + timedelta(days=1)) if mark else first_day
    day = _day_number(SurveyAnswer.answered_at, _midnight(live_first, period.zone)).label("day")
    rolled = SurveyRollupScore
    through = rolled_through(found.id, period.zone, SurveyRollupMark.answers_through)
    rolled_rows = select(
        rolled.day, cast(null(), Integer).label("offset"), rolled.score, rolled.answers
    ).where(rolled.programme_id == found.id, *rolled_days(rolled.day, period, through))
    live_rows = (
        select(cast(null(), Date), day, SurveyAnswer.score, func.count())
        .where(
            SurveyAnswer.programme_id == found.id,
            *live_in_period(
                SurveyAnswer.answered_at, found.id, period, SurveyRollupMark.answers_until
            ),
        )
        .group_by(day, SurveyAnswer.score)
    )
    rows = db.session.execute(union_all(rolled_rows, live_rows)).all()
    low, high = SCALES[found.metric]
    points = dict.fromkeys(range(low, high + 1), 0)
    days = (period.last_day - first_day).days + 1
    trend_by = "week" if days <= WEEKLY_UP_TO_DAYS else "month"
    buckets: dict[date, list[int]] = {}
    for rolled_day, day_number, point, count in rows:
        points[point] = points.get(point, 0) + count
        when = rolled_day or live_first + timedelta(days=max(0, int(day_number)))
        start = when - timedelta(days=when.weekday()) if trend_by == "week" else when.replace(day=1)
        groups = buckets.setdefault(start, [0, 0, 0])
        groups[score_group(found.metric, point) + 1] += count
    overall = _score_of(found.metric, points)
    trend = [
        TrendPoint(_bucket_label(start, trend_by), score(found.metric, g[2], g[1], g[0]))
        for start, g in sorted(buckets.items())
    ]
    imported = found.trigger == Trigger.IMPORTED.value
    made = Results(
        programme=found,
        period=period,
        imported=imported,
        funnel=None if imported else funnel(found, period),
        score=overall,
        distribution=sorted(points.items()),
        trend=trend,
        trend_by=trend_by,
        closed_loop=closed_loop(found, period),
    )
    made.chart = _chart_data(made)
    return made


def _score_of(metric: str, points: dict[int, int]) -> Score:
    groups = [0, 0, 0]
    for point, count in points.items():
        groups[score_group(metric, point) + 1] += count
    return score(metric, groups[2], groups[1], groups[0])


def _bucket_label(start: date, trend_by: str) -> str:
    if trend_by == "week":
        return format_day(start)
    return format_date(start, "yyyy-MM", locale=reader_language())


def closed_loop(found: SurveyProgramme, period: Period) -> ClosedLoop:
    """Follow-up tickets opened by the period's answers, and how many of them are closed."""
    status = loop_status(found.id, period.start, period.end)
    return ClosedLoop(status.opened, status.closed)


def _chart_data(made: Results) -> dict[str, Any]:
    """What surveys-charts.js draws; the page's tables hold the same numbers."""
    return {
        "distribution": {
            "labels": [str(point) for point, _count in made.distribution],
            "counts": [count for _point, count in made.distribution],
            "groups": [score_group(made.programme.metric, p) for p, _c in made.distribution],
        },
        "trend": {
            "labels": [p.label for p in made.trend],
            "values": [_rounded(p.score.value) for p in made.trend],
            "lower": [_rounded(_bound(p.score, -1)) for p in made.trend],
            "upper": [_rounded(_bound(p.score, 1)) for p in made.trend],
            "percent": made.programme.metric != Metric.NPS.value,
        },
    }


def _bound(found: Score, sign: int) -> float | None:
    if found.value is None or found.margin is None:
        return None
    return found.value + sign * found.margin


def _rounded(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 1)


# ---------------------------------------------------------------- labels of the facts


def taxonomy_labels(codes: set[str], locale: str) -> dict[str, str]:
    if not codes:
        return {}
    nodes = db.session.scalars(select(TaxonomyNode).where(TaxonomyNode.code.in_(sorted(codes))))
    return {node.code: node.label(locale) for node in nodes}


def segment_label(code: str | None) -> str:
    return str(SEGMENT_LABELS.get(code, code or ""))  # type: ignore[call-overload]


def contact_channel_label(code: str | None) -> str:
    return str(CHANNEL_LABELS.get(code, code or ""))  # type: ignore[call-overload]


# ---------------------------------------------------------------- comments


@dataclass
class CommentFilters:
    group: str = ""  # low, middle, high
    segment: str = ""
    product: str = ""
    cause: str = ""
    handler: str = ""
    language: str = ""
    phrase: str = ""
    after: str = ""

    @classmethod
    def from_args(cls, args: Any) -> "CommentFilters":
        """Filters from a query string; values that cannot match anything are refused."""
        values = {f.name: " ".join((args.get(f.name) or "").split())[:120] for f in fields(cls)}
        made = cls(**values)
        if made.group and made.group not in GROUPS:
            raise ValidationFailed(_l("Choose a score group from the list."), field="group")
        if made.language and made.language not in LANGUAGE_LABELS:
            raise ValidationFailed(_l("Choose a language from the list."), field="language")
        if made.handler and parse_id(made.handler) is None:
            raise ValidationFailed(_l("Choose a handler from the list."), field="handler")
        if made.after and _decode_key(made.after) is None:
            made.after = ""
        return made

    def query(self, period: Period, **changes: str) -> str:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        if "after" not in changes:
            values["after"] = ""
        kept = {**period.query(), **{k: v for k, v in values.items() if v}}
        return urlencode(kept)


def _encode_key(answer: SurveyAnswer) -> str:
    return f"{as_utc(answer.answered_at).strftime('%Y%m%d%H%M%S%f')}.{answer.id}"


def _decode_key(raw: str) -> tuple[datetime, int] | None:
    stamp, _dot, number = raw.partition(".")
    answer_id = parse_id(number)
    if answer_id is None:
        return None
    try:
        return datetime.strptime(stamp, "%Y%m%d%H%M%S%f").replace(tzinfo=UTC), answer_id
    except ValueError:
        return None


def _like(phrase: str) -> str:
    escaped = phrase.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filtered(found: SurveyProgramme, period: Period, filters: CommentFilters) -> Select[Any]:
    """The programme's answers in the period matching `filters`, newest first."""
    conditions = [
        SurveyAnswer.programme_id == found.id,
        in_period(SurveyAnswer.answered_at, period),
    ]
    if filters.group:
        conditions.append(SurveyAnswer.score_group == GROUPS[filters.group])
    for name, column in (
        ("segment", SurveyAnswer.segment),
        ("product", SurveyAnswer.product),
        ("cause", SurveyAnswer.cause_code),
        ("language", SurveyAnswer.locale),
    ):
        if getattr(filters, name):
            conditions.append(column == getattr(filters, name))
    if filters.handler:
        conditions.append(SurveyAnswer.handler_id == parse_id(filters.handler))
    if filters.phrase:
        conditions.append(SurveyAnswer.comment.ilike(_like(filters.phrase), escape="\\"))
    return (
        select(SurveyAnswer)
        .where(*conditions)
        .order_by(SurveyAnswer.answered_at.desc(), SurveyAnswer.id.desc())
    )


@dataclass
class CommentRow:
    answer: SurveyAnswer
    group: str
    cause: str
    handler: str


@dataclass
class CommentsPage:
    rows: list[CommentRow]
    next_key: str | None


def comments(
    found: SurveyProgramme,
    period: Period,
    filters: CommentFilters,
    locale: str,
    size: int = PAGE_SIZE,
) -> CommentsPage:
    """One keyset page of the answers that carry a comment, newest first."""
    query = filtered(found, period, filters).where(SurveyAnswer.comment != "")
    key = _decode_key(filters.after) if filters.after else None
    if key is not None:
        query = query.where(tuple_(SurveyAnswer.answered_at, SurveyAnswer.id) < key)
    answers = list(db.session.scalars(query.limit(size + 1)))
    shown = answers[:size]
    causes = taxonomy_labels({a.cause_code for a in shown if a.cause_code}, locale)
    names = user_names({a.handler_id for a in shown if a.handler_id})
    labels = GROUP_LABELS[found.metric]
    keys = {value: name for name, value in GROUPS.items()}
    rows = [
        CommentRow(
            answer=a,
            group=str(labels[keys[a.score_group]]),
            cause=causes.get(a.cause_code or "", a.cause_code or ""),
            handler=names.get(a.handler_id or 0, ""),
        )
        for a in shown
    ]
    return CommentsPage(rows, _encode_key(shown[-1]) if len(answers) > size else None)


@dataclass(frozen=True)
class FilterChoices:
    segments: list[tuple[str, str]]
    products: list[tuple[str, str]]
    causes: list[tuple[str, str]]
    handlers: list[tuple[str, str]]


def _named_values(found: SurveyProgramme, factor: str, column: Any, limit: int) -> list[str]:
    """The distinct values of `column` the programme's answers name: those of the rolled days
    (the rollup's value index) and those of the answers after the mark."""
    rolled = SurveyRollupFactor
    # Values do not depend on days: the rows and the mark of any zone cover the same answers.
    # No answer is in the future; with that upper bound the planner ranges over the index
    # instead of guessing that a third of the table is after the mark.
    live = select(cast(column, String).label("value")).where(
        SurveyAnswer.programme_id == found.id,
        column.is_not(None),
        SurveyAnswer.answered_at >= live_from(found.id, None, SurveyRollupMark.answers_until),
        SurveyAnswer.answered_at < utc_now() + timedelta(days=1),
    )
    named = union(
        select(rolled.value).where(rolled.programme_id == found.id, rolled.factor == factor),
        live,
    ).subquery()
    return list(
        db.session.scalars(select(named.c.value).order_by(named.c.value).limit(limit)).all()
    )


def filter_choices(found: SurveyProgramme, locale: str) -> FilterChoices:
    """The values the filters offer: segments and causes as labelled codes; products and
    handlers among those the programme's answers name (rollups.py keeps them per day)."""
    products = _named_values(found, "product", SurveyAnswer.product, 200)
    handler_ids = {
        int(value)
        for value in _named_values(found, "handler", SurveyAnswer.handler_id, 500)
        if value.isdigit()
    }
    names = user_names(handler_ids)
    causes = db.session.scalars(
        select(TaxonomyNode).where(TaxonomyNode.axis == "C").order_by(TaxonomyNode.position)
    )
    return FilterChoices(
        segments=[(str(code), str(label)) for code, label in SEGMENT_LABELS.items()],
        products=[(p, p) for p in products],
        causes=[(node.code, f"{node.code} {node.label(locale)}") for node in causes],
        handlers=sorted(((str(i), n) for i, n in names.items()), key=lambda pair: pair[1]),
    )


# ---------------------------------------------------------------- the CSV export

EXPORT_COLUMNS = (
    "answer_id",
    "answered_at_utc",
    "score",
    "group",
    "comment",
    "language",
    "source",
    "segment",
    "product",
    "cause_code",
    "channel_code",
    "handler",
    "resolve_days",
    "breached",
    "contact_channel",
    "days_since_contact",
    "ticket_id",
    "follow_up_ticket_id",
)
_GROUP_WORDS = {ScoreGroup.LOW: "low", ScoreGroup.MIDDLE: "middle", ScoreGroup.HIGH: "high"}


def _csv_line(values: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue()


def _export_cells(answer: SurveyAnswer, names: dict[int, str]) -> list[Any]:
    """Text that people wrote or named is neutralised (csvfiles.csv_safe); numbers and codes
    the portal made are written as they are."""

    def text(value: str | None) -> str:
        return csv_safe(value or "")

    return [
        answer.id,
        as_utc(answer.answered_at).isoformat(),
        answer.score,
        _GROUP_WORDS[answer.score_group],
        text(answer.comment),
        answer.locale,
        answer.source,
        text(answer.segment),
        text(answer.product),
        text(answer.cause_code),
        text(answer.channel_code),
        text(names.get(answer.handler_id or 0, "")),
        "" if answer.resolve_days is None else answer.resolve_days,
        "" if answer.breached is None else ("yes" if answer.breached else "no"),
        text(answer.contact_channel),
        "" if answer.days_since_contact is None else answer.days_since_contact,
        answer.ticket_id or "",
        answer.follow_up_ticket_id or "",
    ]


def export_lines(found: SurveyProgramme, period: Period, filters: CommentFilters) -> Iterator[str]:
    """The filtered answers as CSV lines (a BOM first, for Excel), read in keyset batches so
    that 300,000 answers stream through in constant memory."""
    yield "\ufeff" + _csv_line(list(EXPORT_COLUMNS))
    query = filtered(found, period, replace(filters, after=""))
    key: tuple[datetime, int] | None = None
    names: dict[int, str] = {}
    while True:
        batch_query = query
        if key is not None:
            batch_query = query.where(tuple_(SurveyAnswer.answered_at, SurveyAnswer.id) < key)
        batch = list(db.session.scalars(batch_query.limit(EXPORT_BATCH)))
        if not batch:
            return
        wanted = {a.handler_id for a in batch if a.handler_id and a.handler_id not in names}
        names.update(user_names(wanted))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        for answer in batch:
            writer.writerow(_export_cells(answer, names))
        yield out.getvalue()
        last = batch[-1]
        key = (last.answered_at, last.id)
        db.session.expunge_all()
        if len(batch) < EXPORT_BATCH:
            return


def export_filename(found: SurveyProgramme, period: Period) -> str:
    last = period.last_day.isoformat()
    first = period.first_day.isoformat() if period.first_day else "start"
    return f"survey-{found.id}-answers-{first}-{last}.csv"
