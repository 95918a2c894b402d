"""What drives satisfaction: a programme's score broken down by the facts copied onto each
answer, every group tested against the rest of the answers, ranked by its distance from the
overall score.

The counts come from the database in one statement: the daily rollups of the days the
programme's mark covers, summed per factor and value (rollups.py), and a UNION ALL of one
GROUP BY value per factor over the answers after the mark (a few days), so 300,000 answers
come back as a few hundred rows.

Significance (docs/surveys.md, "What drives satisfaction"): CSAT and CES compare the group's
share of the high group with the rest's by a two-proportion z-test (pooled variance); NPS
compares the two NPS values by a z-test on their difference, each with the variance of
docs/surveys.md "Formulas", [p(1−p) + d(1−d) + 2pd]/n. Two-sided p-values are corrected for
the number of groups tested by Holm's step-down method; a group is marked when it stays under
5 %. Groups with fewer than SMALL_SAMPLE answers are listed, flagged, and neither tested nor
ranked first.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, String, case, cast, func, literal, select, union_all

from portal.accounts.services import user_names
from portal.core.extensions import db
from portal.surveys.models import Metric, ScoreGroup, SurveyAnswer, SurveyProgramme, Trigger
from portal.surveys.results import (
    Period,
    contact_channel_label,
    format_score,
    live_in_period,
    rolled_days,
    rolled_through,
    segment_label,
    taxonomy_labels,
)
from portal.surveys.rollup_models import SurveyRollupFactor, SurveyRollupMark, SurveyRollupScore
from portal.surveys.scores import Score, score

ALPHA = 0.05

RESOLVE_BUCKETS = (
    ("0-3", 3, _l("0–3 days")),
    ("4-7", 7, _l("4–7 days")),
    ("8-15", 15, _l("8–15 days")),
    ("16-30", 30, _l("16–30 days")),
    ("31+", None, _l("More than 30 days")),
)
CONTACT_BUCKETS = (
    ("0-7", 7, _l("0–7 days")),
    ("8-30", 30, _l("8–30 days")),
    ("31-90", 90, _l("31–90 days")),
    ("91+", None, _l("More than 90 days")),
)
BREACHED_LABELS = {"yes": _l("Clock breached"), "no": _l("Within the clock")}
FACTOR_LABELS = {
    "cause": _l("Cause of the ticket"),
    "channel": _l("Channel of the ticket"),
    "handler": _l("Handler"),
    "resolve": _l("Days to resolve"),
    "breached": _l("Regulatory clock"),
    "segment": _l("Segment"),
    "product": _l("Product"),
    "contact_channel": _l("Contact channel"),
    "since_contact": _l("Days since the last contact"),
}
RM_FACTORS = ("contact_channel", "since_contact")


def _bucket(column: Any, buckets: tuple[tuple[str, int | None, Any], ...]) -> Any:
    whens = [(column <= upper, key) for key, upper, _label in buckets if upper is not None]
    return case(*whens, else_=buckets[-1][0])


def _text(column: Any) -> Any:
    return cast(column, String)


def factor_columns() -> dict[str, Any]:
    """Each factor's value as text, NULL where the answer does not know it."""
    answer = SurveyAnswer
    return {
        "cause": answer.cause_code,
        "channel": answer.channel_code,
        "handler": _text(answer.handler_id),
        "resolve": case(
            (answer.resolve_days.is_(None), None),
            else_=_bucket(answer.resolve_days, RESOLVE_BUCKETS),
        ),
        "breached": case((answer.breached.is_(True), "yes"), (answer.breached.is_(False), "no")),
        "segment": answer.segment,
        "product": answer.product,
        "contact_channel": answer.contact_channel,
        "since_contact": case(
            (answer.days_since_contact.is_(None), None),
            else_=_bucket(answer.days_since_contact, CONTACT_BUCKETS),
        ),
    }


def factors_of(found: SurveyProgramme) -> list[str]:
    names = list(FACTOR_LABELS)
    if found.trigger != Trigger.RM_CONTACT.value:
        names = [name for name in names if name not in RM_FACTORS]
    return names


@dataclass
class Group:
    factor: str
    value: str
    label: str
    score: Score
    difference: float | None  # group score − overall score, in the score's unit
    p_value: float | None  # None: not tested (too few answers)
    significant: bool = False

    @property
    def small(self) -> bool:
        return self.score.small_sample

    @property
    def factor_label(self) -> str:
        return str(FACTOR_LABELS[self.factor])


@dataclass
class Drivers:
    programme: SurveyProgramme
    period: Period
    overall: Score
    groups: list[Group]  # ranked: tested groups by distance, then the small ones
    tested: int

    def difference_text(self, group: Group) -> str:
        if group.difference is None:
            return "—"
        text = format_score(group.difference, Metric.NPS.value)
        return text if group.difference < 0 else f"+{text}"


def _in_group(group: int) -> Any:
    """How many of the grouped answers are in score group `group`."""
    return func.coalesce(func.sum(case((SurveyAnswer.score_group == group, 1), else_=0)), 0)


def factor_selects(names: list[str], *conditions: Any) -> list[Select[Any]]:
    """(factor, value, low, middle, high) per value of each factor in `names`, over the answers
    matching `conditions`; the roll-up counts its days with the same expressions."""
    columns = factor_columns()
    return [
        select(
            literal(name).label("factor"),
            columns[name].label("value"),
            _in_group(ScoreGroup.LOW),
            _in_group(ScoreGroup.MIDDLE),
            _in_group(ScoreGroup.HIGH),
        )
        .where(*conditions, columns[name].is_not(None))
        .group_by(columns[name])
        for name in names
    ]


def counts(
    found: SurveyProgramme, period: Period, names: list[str]
) -> list[tuple[str, str, int, int, int]]:
    """(factor, value, low, middle, high) for every factor and value, and ("", "", low,
    middle, high) for all the period's answers — rolled days and live answers, in one
    statement; a factor and value may come in two rows (rolled and live), to be added up."""
    factor, scores = SurveyRollupFactor, SurveyRollupScore
    through = rolled_through(found.id, period.zone, SurveyRollupMark.answers_through)

    def of_group(group: int) -> Any:
        return func.coalesce(
            func.sum(case((scores.score_group == group, scores.answers), else_=0)), 0
        )

    live = (
        SurveyAnswer.programme_id == found.id,
        *live_in_period(SurveyAnswer.answered_at, found.id, period, SurveyRollupMark.answers_until),
    )
    parts = [
        select(
            literal("").label("factor"),
            literal("").label("value"),
            of_group(ScoreGroup.LOW),
            of_group(ScoreGroup.MIDDLE),
            of_group(ScoreGroup.HIGH),
        ).where(scores.programme_id == found.id, *rolled_days(scores.day, period, through)),
        select(
            factor.factor,
            factor.value,
            func.sum(factor.low),
            func.sum(factor.middle),
            func.sum(factor.high),
        )
        .where(
            factor.programme_id == found.id,
            factor.factor.in_(names),
            *rolled_days(factor.day, period, through),
        )
        .group_by(factor.factor, factor.value),
        select(
            literal("").label("factor"),
            literal("").label("value"),
            _in_group(ScoreGroup.LOW),
            _in_group(ScoreGroup.MIDDLE),
            _in_group(ScoreGroup.HIGH),
        ).where(*live),
        *factor_selects(names, *live),
    ]
    rows = db.session.execute(union_all(*parts)).all()
    return [
        (name, str(value), int(low), int(middle), int(high))
        for name, value, low, middle, high in rows
    ]


def drivers(found: SurveyProgramme, period: Period, locale: str) -> Drivers:
    names = factors_of(found)
    tallies: dict[tuple[str, str], list[int]] = {}
    for name, value, *groups in counts(found, period, names):
        tally = tallies.setdefault((name, value), [0, 0, 0])
        for index, n in enumerate(groups):
            tally[index] += n
    low, middle, high = tallies.pop(("", ""), [0, 0, 0])
    overall = score(found.metric, high, middle, low)
    labels = _labeller(tallies, locale)
    groups: list[Group] = []
    for (name, value), (g_low, g_middle, g_high) in tallies.items():
        mine = score(found.metric, g_high, g_middle, g_low)
        rest = score(found.metric, high - g_high, middle - g_middle, low - g_low)
        difference = (
            None if mine.value is None or overall.value is None else mine.value - overall.value
        )
        p_value = None if mine.small_sample or rest.n == 0 else _p_value(found.metric, mine, rest)
        groups.append(Group(name, value, labels(name, value), mine, difference, p_value))
    tested = _holm([g for g in groups if g.p_value is not None])
    groups.sort(key=lambda g: (g.small, -abs(g.difference or 0.0), g.factor, g.label))
    return Drivers(found, period, overall, groups, tested)


def _p_value(metric: str, mine: Score, rest: Score) -> float:
    """Two-sided p-value of the difference between the group and the rest of the answers."""
    n1, n2 = mine.n, rest.n
    p1, p2 = mine.high / n1, rest.high / n2
    if metric == Metric.NPS.value:
        d1, d2 = mine.low / n1, rest.low / n2
        variance = _nps_variance(p1, d1, n1) + _nps_variance(p2, d2, n2)
        difference = (p1 - d1) - (p2 - d2)
    else:
        pooled = (mine.high + rest.high) / (n1 + n2)
        variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
        difference = p1 - p2
    if variance <= 0:
        return 1.0 if difference == 0 else 0.0
    z = difference / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))


def _nps_variance(p: float, d: float, n: int) -> float:
    return (p * (1 - p) + d * (1 - d) + 2 * p * d) / n


def _holm(tested: list[Group]) -> int:
    """Mark the groups whose p-value survives Holm's correction at ALPHA; returns how many
    groups were tested."""
    ordered = sorted(tested, key=lambda g: g.p_value or 0.0)
    total = len(ordered)
    for rank, group in enumerate(ordered):
        if (group.p_value or 0.0) > ALPHA / (total - rank):
            break
        group.significant = True
    return total


def _labeller(tallies: dict[tuple[str, str], list[int]], locale: str) -> Callable[[str, str], str]:
    def values(factor: str) -> set[str]:
        return {value for name, value in tallies if name == factor}

    taxonomy = taxonomy_labels(values("cause") | values("channel"), locale)
    handlers = user_names({int(v) for v in values("handler") if v.isdigit()})
    resolve = {key: str(label) for key, _upper, label in RESOLVE_BUCKETS}
    since = {key: str(label) for key, _upper, label in CONTACT_BUCKETS}

    def label(factor: str, value: str) -> str:
        if factor in ("cause", "channel"):
            return f"{value} {taxonomy.get(value, '')}".strip()
        if factor == "handler":
            return handlers.get(int(value), value) if value.isdigit() else value
        if factor == "resolve":
            return resolve.get(value, value)
        if factor == "since_contact":
            return since.get(value, value)
        if factor == "breached":
            return str(BREACHED_LABELS.get(value, value))
        if factor == "segment":
            return segment_label(value)
        if factor == "contact_channel":
            return contact_channel_label(value)
        return value

    return label
