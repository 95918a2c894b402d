"""Importing past answers from another survey tool: `flask import survey-responses`.

The file
    Read by the import driver (`portal.core.imports`) as every import is: UTF-8 with or without
    a BOM, GBK/GB18030 or UTF-16 with a BOM; comma, semicolon or tab separated; the first row is
    the header; at most 50 MB and 200,000 rows. Each row is one answer.

Columns (`ROLES`)
    Four roles, found by their usual headers ignoring case (e.g. CUSTOMER_RESPONSE_DATE, date,
    answered_at, 日期 for the date; NPS_SCORE, score, rating, 分数 for the score; text, comment,
    verbatim, 评论 for the comment; customer, customer_number, 客户号 for the customer), or
    by the header the caller names for a role (`Mapping`), which then replaces the usual ones.
    The date and the score are required, the comment, customer and language optional; other
    columns are ignored and noted on row 1.

Dates
    yyyy-mm-dd or yyyy/mm/dd, with an optional hh:mm[:ss] (a 'T' or a space before it) and
    offset; and dates with the year last, dd/mm/yyyy [hh:mm[:ss]] ('/', '.' or '-'), read day
    first unless the caller says month first (`day_first`): 03/04/2018 is 3 April 2018 by
    default. A time without an offset is in the firm's zone (DEFAULT_TIMEZONE); a date alone is
    12:00 there. A date in the future is refused.

Rows
    A row without a score, with a score that is not a whole number on the programme's scale,
    with an unreadable date or a comment over `COMMENT_MAX` characters is refused and reported
    with its row number (the header is row 1); the other rows are imported. A customer number
    that names no customer is reported as a warning and the answer imported without a customer;
    one that does links the answer and copies the customer's segment. The language is the
    language column's, else Chinese for a comment with Chinese characters, else the customer's,
    else English.

Importing again adds nothing
    Each answer's `import_key` is the SHA-256 of the programme, its instant, score, comment,
    customer number and its occurrence among identical rows of the file (1 for the first, 2 for
    the second…), so two identical rows both import and a second import of the file matches
    both. Rows are inserted a batch at a time, skipping keys already stored.

Rollups
    Each batch that stores answers invalidates the programme's rollups from the local day of
    its earliest new answer, in the batch's transaction (rollups.py: the results stay exact
    while the import runs); the CLI rolls the programme up again at the end.

The programme
    An existing programme keeps its metric, and a file imported into it must be of that metric.
    A new name creates a programme with trigger "imported", inactive (it sends nothing), when
    the first batch is stored: a file refused whole creates nothing.
"""

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import IO, Any, ClassVar

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.core.audit import Actor, record_event
from portal.core.csvfiles import CellError, Column, header_key
from portal.core.errors import ValidationFailed
from portal.core.extensions import among, db, dialect_name
from portal.core.i18n import firm_zone
from portal.core.imports import (
    ROWS_FAILED,
    ROWS_TOTAL,
    Batch,
    CsvImporter,
    ImportOutcome,
    Progress,
    import_csv,
)
from portal.core.search import is_cjk
from portal.core.timeutil import as_utc, utc_now
from portal.customers.models import Customer
from portal.surveys.models import (
    SCALES,
    Metric,
    SurveyAnswer,
    SurveyProgramme,
    Trigger,
    score_group,
)
from portal.surveys.rollups import invalidate
from portal.surveys.scores import Score, score

COMMENT_MAX = 2_000
NAME_MAX = 120  # SurveyProgramme.name
SOURCE = "import"

# The roles a column can play, with the headers each is found by when the caller names none.
ROLES: dict[str, tuple[str, ...]] = {
    "date": (
        "customer_response_date",
        "response_date",
        "answered_at",
        "answer_date",
        "submitted_at",
        "日期",
        "回答日期",
        "时间",
    ),
    "score": ("nps_score", "rating", "csat_score", "ces_score", "分数", "评分", "得分"),
    "comment": ("text", "verbatim", "comments", "feedback", "评论", "意见", "留言"),
    "customer": ("customer_number", "customer_no", "customer_id", "客户号", "客户编号"),
    "language": ("locale", "lang", "语言"),
}
REQUIRED_ROLES = ("date", "score")
ROLE_DESCRIPTIONS = {
    "date": _l("When the customer answered: yyyy-mm-dd or dd/mm/yyyy, with an optional time"),
    "score": _l("The score, a whole number on the programme's scale"),
    "comment": _l("What the customer wrote, at most 2,000 characters"),
    "customer": _l("The customer's number; the answer is linked to that customer"),
    "language": _l("en or zh_Hans; default: Chinese for a comment in Chinese, else English"),
}

# Default texts of a programme the import creates: its question as the old tool asked it.
QUESTIONS: dict[str, tuple[str, str]] = {
    Metric.NPS.value: (
        "How likely are you to recommend us to a friend or colleague?",
        "您有多大可能向朋友或同事推荐我们？",
    ),
    Metric.CSAT.value: (
        "How satisfied are you with how we handled your matter?",
        "您对我们处理您事务的方式满意吗？",
    ),
    Metric.CES.value: (
        "We made it easy for me to handle my matter.",
        "我们让您轻松地办好了事情。",
    ),
}

_YEAR_FIRST = re.compile(
    r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)
_YEAR_LAST = re.compile(
    r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?"
)
_WHOLE = re.compile(r"[+-]?\d+(?:\.0*)?")
NOON = time(12, 0)
_LANGUAGES = {
    "en": "en",
    "english": "en",
    "英文": "en",
    "英语": "en",
    "zh": "zh_Hans",
    "zh_hans": "zh_Hans",
    "zh_cn": "zh_Hans",
    "chinese": "zh_Hans",
    "中文": "zh_Hans",
}


@dataclass(frozen=True)
class Mapping:
    """Which header plays which role; a role left None is found by its usual headers."""

    date: str | None = None
    score: str | None = None
    comment: str | None = None
    customer: str | None = None
    language: str | None = None

    def columns(self) -> tuple[Column, ...]:
        """The driver's columns: a role the caller named is that header alone (its usual
        headers then ignored as unknown columns), the others their role and usual headers."""
        named = {role: getattr(self, role) for role in ROLES}
        keys = [header_key(name) for name in named.values() if name is not None]
        if any(not key for key in keys) or len(set(keys)) != len(keys):
            raise ValidationFailed(
                _l("Name a different, non-empty column for each role."), field="columns"
            )
        taken = set(keys)
        columns = []
        for role, aliases in ROLES.items():
            name = named[role]
            required = role in REQUIRED_ROLES
            if name is not None:
                columns.append(Column(name.strip(), ROLE_DESCRIPTIONS[role], required))
            else:
                usual = tuple(a for a in (role, *aliases) if header_key(a) not in taken)
                columns.append(Column(usual[0], ROLE_DESCRIPTIONS[role], required, usual[1:]))
        return tuple(columns)


@dataclass(frozen=True)
class AnswerRow:
    """One row, cleaned: what the answer will hold, and the customer number to look up."""

    answered_at: datetime  # aware, UTC
    score: int
    comment: str
    customer_number: str
    locale: str | None  # None: decided once the customer is known


@dataclass
class ImportReport:
    """The outcome of one import, with the programme's score once it is done."""

    filename: str
    programme: str
    metric: str
    encoding: str | None = None
    rows_total: int = 0
    imported: int = 0
    present: int = 0
    skipped: int = 0
    warnings: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    fatal_error: str | None = None
    programme_id: int | None = None
    created: bool = False
    result: Score | None = None


IMPORTED = "imported"
PRESENT = "already_present"
WARNINGS = "warnings"


class SurveyAnswerImporter(CsvImporter[AnswerRow]):
    """Cleans rows into answers and inserts each batch in one statement, skipping known keys."""

    counters = (IMPORTED, PRESENT, WARNINGS)
    audit_action = "survey.answers_imported"
    audit_subject = "survey_programme"
    columns: ClassVar[tuple[Column, ...]]  # set per instance from the mapping

    def __init__(
        self,
        actor: Actor,
        programme_name: str,
        metric: str,
        mapping: Mapping,
        *,
        day_first: bool = True,
        zone: tzinfo | None = None,
    ) -> None:
        super().__init__(actor)
        self.programme_name = programme_name
        self.metric = metric
        self.low, self.high = SCALES[metric]
        self.columns = mapping.columns()  # type: ignore[misc]  (one mapping per run)
        # Role → the name the driver gives its column (and error reports show).
        self.by_role = dict(zip(ROLES, (column.name for column in self.columns), strict=True))
        self.day_first = day_first
        self.zone = zone or firm_zone()
        self.now = utc_now()
        # Identical rows by content → the rows of the file holding it, in file order: a row's
        # occurrence is its place here, the same when a batch is retried row by row.
        self.identical: dict[tuple[Any, ...], list[int]] = {}
        self.programme_id: int | None = None
        self.created = False

    # ------------------------------------------------------------ one row

    def cell(self, values: dict[str, str], role: str) -> str:
        return unicodedata.normalize("NFKC", values.get(self.by_role[role], "")).strip()

    def refuse(self, role: str, message: Any) -> CellError:
        return CellError(self.by_role[role], message)

    def clean(self, values: dict[str, str]) -> AnswerRow:
        comment = values.get(self.by_role["comment"], "").strip()
        if len(comment) > COMMENT_MAX:
            raise self.refuse(
                "comment",
                _l(
                    "the comment is %(length)s characters long; at most %(max)s are allowed.",
                    length=format(len(comment), ","),
                    max=format(COMMENT_MAX, ","),
                ),
            )
        return AnswerRow(
            answered_at=self.instant(self.cell(values, "date")),
            score=self.score(self.cell(values, "score")),
            comment=comment,
            customer_number=self.cell(values, "customer").upper(),
            locale=self.language(self.cell(values, "language"), comment),
        )

    def score(self, text: str) -> int:
        if not text:
            raise self.refuse("score", _l("no score; the row is skipped."))
        if not _WHOLE.fullmatch(text):
            raise self.refuse("score", _l("'%(value)s' is not a whole number.", value=text[:20]))
        value = int(float(text))
        if not self.low <= value <= self.high:
            raise self.refuse(
                "score",
                _l(
                    "%(value)s is outside the %(metric)s scale, %(low)d to %(high)d.",
                    value=value,
                    metric=self.metric.upper(),
                    low=self.low,
                    high=self.high,
                ),
            )
        return value

    def instant(self, text: str) -> datetime:
        if not text:
            raise self.refuse("date", _l("no date; the row is skipped."))
        value = text.replace("年", "-").replace("月", "-").replace("日", "")
        year_first = _YEAR_FIRST.fullmatch(value)
        try:
            if year_first:
                year, month, day, hour, minute, second, offset = year_first.groups()
            else:
                year_last = _YEAR_LAST.fullmatch(value)
                if year_last is None:
                    raise ValueError(value)
                first, second_part, year, hour, minute, second = year_last.groups()
                day, month = (first, second_part) if self.day_first else (second_part, first)
                offset = None
            moment = datetime.combine(
                date(int(year), int(month), int(day)),
                time(int(hour), int(minute), int(second or 0)) if hour is not None else NOON,
                _zone(offset) if offset else self.zone,
            )
        except ValueError:
            order = "dd/mm/yyyy" if self.day_first else "mm/dd/yyyy"
            raise self.refuse(
                "date",
                _l(
                    "'%(value)s' is not a date as yyyy-mm-dd or %(order)s (with an optional "
                    "time hh:mm).",
                    value=text[:40],
                    order=order,
                ),
            ) from None
        instant = moment.astimezone(UTC)
        if instant > self.now:
            raise self.refuse("date", _l("%(value)s is in the future.", value=text[:40]))
        return instant

    def language(self, text: str, comment: str) -> str | None:
        if text:
            locale = _LANGUAGES.get(header_key(text))
            if locale is None:
                raise self.refuse(
                    "language", _l("'%(value)s' is not en or zh_Hans.", value=text[:20])
                )
            return locale
        if any(is_cjk(ch) for ch in comment):
            return "zh_Hans"
        return "en" if comment else None

    # ------------------------------------------------------------ one batch

    def store(self, batch: Batch[AnswerRow]) -> None:
        programme_id = self.programme()
        numbers = {item.customer_number for _, item in batch.rows if item.customer_number}
        customers = _customers(numbers)
        rows = []
        for number, item in batch.rows:
            customer = customers.get(item.customer_number) if item.customer_number else None
            if item.customer_number and customer is None:
                batch.note(
                    number,
                    self.by_role["customer"],
                    _l(
                        "no customer with the number %(number)s; imported without a customer.",
                        number=item.customer_number[:40],
                    ),
                )
                batch.count(WARNINGS)
            customer_id, segment, customer_locale = customer or (None, None, None)
            rows.append(
                {
                    "programme_id": programme_id,
                    "invitation_id": None,
                    "import_key": self.import_key(programme_id, number, item),
                    "customer_id": customer_id,
                    "score": item.score,
                    "score_group": score_group(self.metric, item.score),
                    "comment": item.comment,
                    "choices": None,
                    "locale": item.locale or customer_locale or "en",
                    "source": SOURCE,
                    "answered_at": item.answered_at,
                    "changed_at": None,
                    "segment": segment,
                }
            )
        inserted = _insert_new(rows)
        if inserted:
            # Past days may be rolled up already: their rollups are redone (rollups.py).
            zone = firm_zone()
            invalidate(programme_id, min(as_utc(at).astimezone(zone).date() for at in inserted))
        batch.count(IMPORTED, len(inserted))
        batch.count(PRESENT, len(rows) - len(inserted))

    def import_key(self, programme_id: int, number: int, item: AnswerRow) -> str:
        content = (item.answered_at.isoformat(), item.score, item.comment, item.customer_number)
        rows = self.identical.setdefault(content, [])
        if number not in rows:
            rows.append(number)
        occurrence = rows.index(number) + 1
        text = json.dumps([programme_id, *content, occurrence], ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def programme(self) -> int:
        """The programme's id, created with the first batch when the name is new (in the
        batch's transaction: undone with it)."""
        found = db.session.scalar(
            select(SurveyProgramme.id).where(SurveyProgramme.name == self.programme_name)
        )
        if found is not None:
            self.programme_id = found
            return found
        question_en, question_zh = QUESTIONS[self.metric]
        programme = SurveyProgramme(
            name=self.programme_name,
            metric=self.metric,
            trigger=Trigger.IMPORTED.value,
            active=False,
            question_en=question_en,
            question_zh=question_zh,
            choices=[],
            created_by_id=self.actor.user_id,
        )
        db.session.add(programme)
        db.session.flush()
        record_event(
            self.actor,
            "survey.programme_created",
            "survey_programme",
            programme.id,
            after={
                "name": programme.name,
                "metric": programme.metric,
                "trigger": programme.trigger,
                "active": False,
            },
        )
        self.programme_id = programme.id
        self.created = True
        return programme.id

    # ------------------------------------------------------------ the end

    def finish(self, outcome: ImportOutcome) -> Any:
        if outcome.fatal_error is None and outcome.counts[ROWS_TOTAL] == 0:
            outcome.fatal_error = str(_l("The file has a header but no rows; nothing to import."))
        return self.programme_id if self.programme_id is not None else self.programme_name

    def summary(self, outcome: ImportOutcome) -> dict[str, Any]:
        return {**outcome.summary(), "programme": self.programme_name, "metric": self.metric}


def _zone(offset: str) -> tzinfo:
    if offset == "Z":
        return UTC
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _customers(numbers: set[str]) -> dict[str, tuple[int, str, str]]:
    """Customer number → (id, segment, language) of the customers not erased."""
    if not numbers:
        return {}
    found = db.session.execute(
        select(Customer.number, Customer.id, Customer.segment, Customer.locale).where(
            among(Customer.number, numbers), Customer.erased_at.is_(None)
        )
    )
    return {row.number: (row.id, row.segment, row.locale) for row in found}


def _insert_new(rows: list[dict[str, Any]]) -> list[datetime]:
    """Insert the answers whose import key is not stored yet; when those inserted answered."""
    if not rows:
        return []
    table = SurveyAnswer.__table__
    dialect_insert = pg_insert if dialect_name() == "postgresql" else sqlite_insert
    statement = (
        dialect_insert(table)
        .on_conflict_do_nothing(index_elements=["import_key"])
        .returning(table.c.answered_at)
    )
    return list(db.session.scalars(statement, rows).all())


# ---------------------------------------------------------------- the use case


def check_programme(name: str, metric: str | None) -> tuple[str, str]:
    """The programme's name, trimmed, and the metric the file is read on: an existing
    programme's own (a different `metric` is refused), else `metric` or NPS. Nothing is
    written: a new programme is created with the first batch."""
    clean_name = " ".join(name.split())
    if not clean_name or len(clean_name) > NAME_MAX:
        raise ValidationFailed(
            _l("Name the programme in 1 to %(max)d characters.", max=NAME_MAX), field="programme"
        )
    if metric is not None and metric not in SCALES:
        raise ValidationFailed(_l("The metric is nps, csat or ces."), field="metric")
    existing = db.session.scalar(
        select(SurveyProgramme.metric).where(SurveyProgramme.name == clean_name)
    )
    if existing is not None and metric is not None and existing != metric:
        raise ValidationFailed(
            _l(
                "The programme %(name)s measures %(existing)s, not %(metric)s: import the file "
                "into a %(metric)s programme (a new name creates one).",
                name=clean_name,
                existing=existing.upper(),
                metric=metric.upper(),
            ),
            field="metric",
        )
    return clean_name, existing or metric or Metric.NPS.value


def import_survey_responses(
    actor: Actor,
    source: bytes | IO[bytes],
    filename: str,
    *,
    programme: str,
    metric: str | None = None,
    mapping: Mapping | None = None,
    day_first: bool = True,
    progress: Progress | None = None,
) -> ImportReport:
    """Import past answers from a CSV file into `programme` (see the module docstring).

    Raises ValidationFailed, before reading the file, for a programme name or metric that
    cannot be used or a mapping naming one column twice.
    """
    name, metric = check_programme(programme, metric)
    importer = SurveyAnswerImporter(actor, name, metric, mapping or Mapping(), day_first=day_first)
    outcome = import_csv(importer, source, filename, progress=progress)
    counts = outcome.counts
    report = ImportReport(
        filename=outcome.filename,
        programme=name,
        metric=metric,
        encoding=outcome.encoding,
        rows_total=counts[ROWS_TOTAL],
        imported=counts[IMPORTED],
        present=counts[PRESENT],
        skipped=counts[ROWS_FAILED],
        warnings=counts[WARNINGS],
        errors=outcome.errors,
        fatal_error=outcome.fatal_error,
        programme_id=importer.programme_id,
        created=importer.created,
    )
    if report.programme_id is not None:
        report.result = programme_score(report.programme_id, metric)
    return report


def programme_score(programme_id: int, metric: str) -> Score:
    """The programme's score over all its answers (the import's check figure)."""
    groups = dict(
        db.session.execute(
            select(SurveyAnswer.score_group, func.count())
            .where(SurveyAnswer.programme_id == programme_id)
            .group_by(SurveyAnswer.score_group)
        ).all()
    )
    return score(metric, groups.get(1, 0), groups.get(0, 0), groups.get(-1, 0))
