"""`surveys.plan`: the invitations each active programme owes as of an instant, queued through
the outbox and its contact policy, then the reminders due and the invitations expired.

Each programme's candidates are streamed with SQL filters in keyset pages of `BATCH`; each
page is one `transaction()`: the invitations are inserted in bulk, skipping any whose dedupe
key is already there (ON CONFLICT DO NOTHING: a re-run, a replay with `--at` or a second
process at once adds nothing), and only those this run inserted get a message, queued with
`survey:<invitation key>` as its dedupe key. A message the policy holds back marks its
invitation `not_sent` with the policy's reason in the same transaction, so every invitation
not sent says why. Nothing is loaded whole: memory stays flat however big the wave.

- ticket_closed: tickets closed with a customer, at least `send_delay_hours` ago, after the
  programme was switched on and no longer ago than the delay plus the expiry window (a restart
  after a long stop never floods), not merged into another; one invitation per ticket.
- rm_contact: contacts logged by an RM in which the customer was reached (not "no answer" or
  "left a message"), with the same window; a share `sample_rate` of them, chosen by a hash of
  programme and contact, so every run picks the same ones.
- wave: every customer of the segment once per wave (`wave_key`: 2026-Q4 every three months,
  2026-H2 every six, …), at `wave_send_hour` in the customer's zone; consenting or not — the
  policy decides and the invitation records why. A wave resumes after the last customer it
  invited, so the planner reads the segment once per wave, not every ten minutes.
- imported: sends nothing.

Every trigger honours the segment and the sample rate. Erased customers are nobody's
candidates.
"""

import hashlib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import force_locale, gettext
from psycopg import sql
from sqlalchemy import Select, and_, exists, func, insert, select, update

from portal.accounts.models import User
from portal.core.access import Role
from portal.core.extensions import among, db, dialect_name
from portal.core.i18n import firm_zone, format_day
from portal.core.models import UTCDateTime
from portal.core.pagination import keyset_batches
from portal.core.timeutil import as_utc
from portal.core.transaction import transaction
from portal.customers.forms import CHANNEL_LABELS
from portal.customers.models import Customer, Interaction, Outcome
from portal.messaging import services as messaging
from portal.messaging.models import Message, MessageStatus, Purpose
from portal.surveys.invitations import new_invitation
from portal.surveys.models import (
    SCALES,
    InvitationStatus,
    SurveyInvitation,
    SurveyProgramme,
    Trigger,
)
from portal.tickets.models import Ticket

BATCH = 5_000
INVITE_TEMPLATE = "survey_invite"
REMINDER_TEMPLATE = "survey_reminder"
# Contacts in which the customer was not reached have nothing to rate.
UNREACHED = (Outcome.NO_ANSWER.value, Outcome.LEFT_MESSAGE.value)


@dataclass(frozen=True)
class ActiveProgramme:
    """An active programme as plain values (an ORM row would reload itself after each
    commit); what `new_invitation` reads of a programme, and what the planner needs."""

    id: int
    name: str
    metric: str
    trigger: str
    active_since: datetime
    question_en: str
    question_zh: str
    send_delay_hours: int
    expiry_days: int
    sample_rate: float
    segment: str | None
    wave_months: int | None
    wave_send_hour: int
    remind_after_days: int | None

    def question(self, locale: str) -> str:
        return self.question_zh if locale.startswith("zh") else self.question_en

    def window_start(self, now: datetime) -> datetime:
        """The earliest event still surveyed: after the switch-on, and no older than the delay
        plus the expiry window."""
        oldest = now - timedelta(hours=self.send_delay_hours, days=self.expiry_days)
        return max(as_utc(self.active_since), oldest)


@dataclass(frozen=True)
class Candidate:
    """Someone the programme owes an invitation, about something."""

    dedupe_key: str
    customer_id: int
    locale: str
    send_at: datetime
    about: dict[str, Any]


@dataclass
class PlanSummary:
    invited: Counter[str] = field(default_factory=Counter)  # by programme: new invitations
    not_sent: Counter[str] = field(default_factory=Counter)
    already: Counter[str] = field(default_factory=Counter)  # candidates invited before
    reasons: Counter[str] = field(default_factory=Counter)
    reminders: Counter[str] = field(default_factory=Counter)  # by message status
    expired: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "invited": dict(self.invited),
            "not_sent": dict(self.not_sent),
            "already_invited": dict(self.already),
            "reasons": dict(self.reasons.most_common()),
            "reminders": dict(self.reminders),
            "expired": self.expired,
        }


def active_programmes() -> list[ActiveProgramme]:
    rows = db.session.scalars(
        select(SurveyProgramme)
        .where(
            SurveyProgramme.active.is_(True),
            SurveyProgramme.active_since.is_not(None),
            SurveyProgramme.trigger != Trigger.IMPORTED.value,
        )
        .order_by(SurveyProgramme.id)
    )
    return [
        ActiveProgramme(
            id=p.id,
            name=p.name,
            metric=p.metric,
            trigger=p.trigger,
            active_since=as_utc(p.active_since),
            question_en=p.question_en,
            question_zh=p.question_zh,
            send_delay_hours=p.send_delay_hours,
            expiry_days=p.expiry_days,
            sample_rate=p.sample_rate,
            segment=p.segment,
            wave_months=p.wave_months,
            wave_send_hour=p.wave_send_hour,
            remind_after_days=p.remind_after_days,
        )
        for p in rows
        if p.active_since is not None
    ]


def sampled(programme_id: int, subject: str, rate: float) -> bool:
    """Whether `subject` is in the programme's sample: the same answer on every run."""
    if rate >= 1:
        return True
    digest = hashlib.sha256(f"{programme_id}:{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < rate * 2**64


def wave_key(day: date, months: int) -> str:
    """The wave `day` falls in: 2026 (yearly), 2026-H2, 2026-T3 (four months), 2026-Q4,
    2026-B6 (two months), 2026-11 (monthly)."""
    number = (day.month - 1) // months + 1
    if months == 12:
        return str(day.year)
    if months == 1:
        return f"{day.year}-{day.month:02d}"
    letter = {6: "H", 4: "T", 3: "Q", 2: "B"}[months]
    return f"{day.year}-{letter}{number}"


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def next_local_hour(now: datetime, zone: str, hour: int) -> datetime:
    """The first `hour` o'clock in `zone` at or after `now`."""
    local = now.astimezone(_zone(zone))
    at = datetime.combine(local.date(), time(hour), _zone(zone))
    if at < now:
        at = datetime.combine(local.date() + timedelta(days=1), time(hour), _zone(zone))
    return at.astimezone(UTC)


@lru_cache(maxsize=4096)
def contact_label(channel: str, day: date, locale: str) -> str:
    """What an RM-contact invitation is about, in the customer's language: "Call on Dec 2,
    2026"."""
    label = CHANNEL_LABELS.get(channel, channel)  # type: ignore[call-overload]
    with force_locale(locale):
        return gettext("%(channel)s on %(day)s", channel=str(label), day=format_day(day, locale))


def _in_segment(query: Select[Any], programme: ActiveProgramme) -> Select[Any]:
    query = query.where(Customer.erased_at.is_(None))
    if programme.segment:
        query = query.where(Customer.segment == programme.segment)
    return query


def _ticket_candidates(programme: ActiveProgramme, now: datetime) -> Iterator[list[Candidate]]:
    query = _in_segment(
        select(Ticket.id, Ticket.customer_id, Ticket.reference, Customer.locale)
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(
            Ticket.is_open.is_(False),
            Ticket.merged_into_id.is_(None),
            Ticket.closed_at > programme.window_start(now),
            Ticket.closed_at <= now - timedelta(hours=programme.send_delay_hours),
        ),
        programme,
    )
    for rows in keyset_batches(query, Ticket.id, BATCH):
        yield [
            Candidate(
                f"p{programme.id}:ticket:{ticket_id}",
                customer_id,
                locale,
                now,
                {"ticket_id": ticket_id, "subject_label": reference},
            )
            for ticket_id, customer_id, reference, locale in rows
            if sampled(programme.id, f"ticket:{ticket_id}", programme.sample_rate)
        ]


def _contact_candidates(programme: ActiveProgramme, now: datetime) -> Iterator[list[Candidate]]:
    query = _in_segment(
        select(
            Interaction.id,
            Interaction.customer_id,
            Interaction.channel,
            Interaction.occurred_at,
            Customer.locale,
        )
        .join(Customer, Customer.id == Interaction.customer_id)
        .join(User, User.id == Interaction.author_id)
        .where(
            User.role == Role.RM.value,
            Interaction.outcome.not_in(UNREACHED),
            Interaction.occurred_at > programme.window_start(now),
            Interaction.occurred_at <= now - timedelta(hours=programme.send_delay_hours),
        ),
        programme,
    )
    zone = firm_zone()
    for rows in keyset_batches(query, Interaction.id, BATCH):
        yield [
            Candidate(
                f"p{programme.id}:contact:{interaction_id}",
                customer_id,
                locale,
                now,
                {
                    "interaction_id": interaction_id,
                    "subject_label": contact_label(
                        channel, as_utc(occurred_at).astimezone(zone).date(), locale
                    ),
                },
            )
            for interaction_id, customer_id, channel, occurred_at, locale in rows
            if sampled(programme.id, f"contact:{interaction_id}", programme.sample_rate)
        ]


def _wave_candidates(programme: ActiveProgramme, now: datetime) -> Iterator[list[Candidate]]:
    if not programme.wave_months:
        return
    wave = wave_key(now.astimezone(firm_zone()).date(), programme.wave_months)
    # Pages go by customer id: the last customer this wave reached is where it goes on.
    resume = db.session.scalar(
        select(func.max(SurveyInvitation.customer_id)).where(
            SurveyInvitation.programme_id == programme.id, SurveyInvitation.wave == wave
        )
    )
    query = _in_segment(select(Customer.id, Customer.locale, Customer.timezone), programme)
    for rows in keyset_batches(query, Customer.id, BATCH, after=resume):
        yield [
            Candidate(
                f"p{programme.id}:wave:{wave}:{customer_id}",
                customer_id,
                locale,
                next_local_hour(now, zone, programme.wave_send_hour),
                {"wave": wave},
            )
            for customer_id, locale, zone in rows
            if sampled(programme.id, f"wave:{wave}:{customer_id}", programme.sample_rate)
        ]


CANDIDATES = {
    Trigger.TICKET_CLOSED.value: _ticket_candidates,
    Trigger.RM_CONTACT.value: _contact_candidates,
    Trigger.WAVE.value: _wave_candidates,
}


def _insert_new(rows: list[dict[str, Any]]) -> set[str]:
    """Insert the invitations whose key is not taken; the keys of those inserted.

    PostgreSQL: COPY into a temporary table, then INSERT … SELECT … ON CONFLICT DO NOTHING
    RETURNING — a key another process inserted meanwhile is skipped and not returned, so only
    the invitation stored gets an email, with its own nonce. SQLite: the transaction has held
    the write lock (BEGIN IMMEDIATE) since the caller looked for taken keys, so every row not
    taken then is inserted now; INSERT OR IGNORE, one executemany per thousand rows."""
    if not rows:
        return set()
    if dialect_name() == "postgresql":
        return _copy_new(rows)
    statement = insert(SurveyInvitation.__table__).prefix_with("OR IGNORE")
    for start in range(0, len(rows), 1000):
        db.session.execute(statement, rows[start : start + 1000])
    return {row["dedupe_key"] for row in rows}


_DATETIME_COLUMNS = frozenset(
    column.name
    for column in SurveyInvitation.__table__.columns
    if isinstance(column.type, UTCDateTime)
)


def _copy_new(rows: list[dict[str, Any]]) -> set[str]:
    columns = list(rows[0])
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    connection = db.session.connection()
    as_utc_at = [i for i, column in enumerate(columns) if column in _DATETIME_COLUMNS]
    stored = UTCDateTime().process_bind_param  # refuses a naive datetime, as an INSERT does
    with connection.connection.driver_connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "CREATE TEMPORARY TABLE IF NOT EXISTS survey_invitations_incoming AS "
                "SELECT {} FROM survey_invitations WITH NO DATA"
            ).format(names)
        )
        copy_in = sql.SQL("COPY survey_invitations_incoming ({}) FROM STDIN").format(names)
        with cursor.copy(copy_in) as copy:
            for row in rows:
                values = [row[column] for column in columns]
                for index in as_utc_at:
                    values[index] = stored(values[index], connection.dialect)
                copy.write_row(values)
        cursor.execute(
            sql.SQL(
                "INSERT INTO survey_invitations ({0}) SELECT {0} FROM survey_invitations_incoming "
                "ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key"
            ).format(names)
        )
        inserted = {key for (key,) in cursor.fetchall()}
        cursor.execute("TRUNCATE survey_invitations_incoming")
    return inserted


def message_context(metric: str, question: str, nonce: str, subject_label: str) -> dict[str, Any]:
    """An invitation email's stored values: the nonce and scale, never the token or link
    (tokens.survey_values makes those when the email is rendered)."""
    return {
        "survey_nonce": nonce,
        "survey_scale": list(SCALES[metric]),
        "question": question,
        "subject_label": subject_label,
    }


def invite(
    programme: ActiveProgramme, candidates: list[Candidate], now: datetime, summary: PlanSummary
) -> None:
    """Invite the candidates not invited yet and queue their emails, in the caller's
    transaction."""
    if not candidates:
        return
    keys = [c.dedupe_key for c in candidates]
    taken = set(
        db.session.scalars(
            select(SurveyInvitation.dedupe_key).where(among(SurveyInvitation.dedupe_key, keys))
        )
    )
    made = []
    for candidate in candidates:
        if candidate.dedupe_key in taken:
            continue
        invitation = new_invitation(
            programme,  # type: ignore[arg-type]  (reads id, expiry and reminder days only)
            dedupe_key=candidate.dedupe_key,
            customer_id=candidate.customer_id,
            send_at=candidate.send_at,
            locale=candidate.locale,
            now=now,
            message_key=f"survey:{candidate.dedupe_key}",
            **candidate.about,
        )
        made.append(invitation.values)
    inserted = _insert_new(made)
    if len(candidates) > len(inserted):
        summary.already[programme.name] += len(candidates) - len(inserted)
    drafts = [
        messaging.Draft(
            dedupe_key=values["message_key"],
            customer_id=values["customer_id"],
            purpose=Purpose.SURVEY.value,
            kind="survey",
            template_key=INVITE_TEMPLATE,
            send_at=values["send_at"],
            context=message_context(
                programme.metric,
                programme.question(values["locale"]),
                values["nonce"],
                values["subject_label"],
            ),
            source_id=f"survey:{programme.id}",
        )
        for values in made
        if values["dedupe_key"] in inserted
    ]
    result = messaging.queue(drafts, now)
    held = result.counts.get(MessageStatus.SUPPRESSED.value, 0)
    if len(drafts) > held:
        summary.invited[programme.name] += len(drafts) - held
    if held:
        summary.not_sent[programme.name] += held
    summary.reasons.update(
        {reason: n for reason, n in result.reasons.items() if reason != "quiet hours"}
    )
    if held:
        _mark_held(sorted(inserted))


def _mark_held(keys: list[str]) -> None:
    """Invitations whose message the policy held back: not sent, with the policy's reason."""
    message = select(Message.held_reason).where(
        Message.dedupe_key == SurveyInvitation.message_key,
        Message.status == MessageStatus.SUPPRESSED.value,
    )
    db.session.execute(
        update(SurveyInvitation)
        .where(among(SurveyInvitation.dedupe_key, keys), exists(message))
        .values(status=InvitationStatus.NOT_SENT.value, reason=message.scalar_subquery())
        .execution_options(synchronize_session=False)
    )


def _remind(programmes: dict[int, ActiveProgramme], now: datetime, summary: PlanSummary) -> None:
    """Once, to those invited whose email went, who have not answered, before the link
    expires; the reminder passes the policy like the invitation did."""
    if not any(p.remind_after_days for p in programmes.values()):
        return
    query = (
        select(
            SurveyInvitation.id,
            SurveyInvitation.programme_id,
            SurveyInvitation.customer_id,
            SurveyInvitation.nonce,
            SurveyInvitation.locale,
            SurveyInvitation.subject_label,
        )
        .join(
            Message,
            and_(
                Message.dedupe_key == SurveyInvitation.message_key,
                Message.status == MessageStatus.SENT.value,
            ),
        )
        .where(
            SurveyInvitation.status == InvitationStatus.INVITED.value,
            SurveyInvitation.remind_at <= now,
            SurveyInvitation.reminded_at.is_(None),
            SurveyInvitation.answered_at.is_(None),
            SurveyInvitation.expires_at > now,
            SurveyInvitation.customer_id.is_not(None),
            among(SurveyInvitation.programme_id, sorted(programmes)),
        )
    )
    for rows in keyset_batches(query, SurveyInvitation.id, BATCH):
        with transaction():
            drafts = [
                messaging.Draft(
                    dedupe_key=f"survey-reminder:{invitation_id}",
                    customer_id=customer_id,
                    purpose=Purpose.SURVEY.value,
                    kind="survey_reminder",
                    template_key=REMINDER_TEMPLATE,
                    send_at=now,
                    context=message_context(
                        programmes[programme_id].metric,
                        programmes[programme_id].question(locale),
                        nonce,
                        label,
                    ),
                    source_id=f"survey:{programme_id}",
                )
                for invitation_id, programme_id, customer_id, nonce, locale, label in rows
            ]
            summary.reminders.update(messaging.queue(drafts, now).counts)
            db.session.execute(
                update(SurveyInvitation)
                .where(among(SurveyInvitation.id, [row[0] for row in rows]))
                .values(reminded_at=now)
                .execution_options(synchronize_session=False)
            )


def _expire(now: datetime) -> int:
    with transaction():
        result = db.session.execute(
            update(SurveyInvitation)
            .where(
                SurveyInvitation.status == InvitationStatus.INVITED.value,
                SurveyInvitation.expires_at <= now,
            )
            .values(status=InvitationStatus.EXPIRED.value)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0) or 0)


def plan(now: datetime, stop: threading.Event | None = None) -> dict[str, Any]:
    """Invite, remind and expire as of `now`. Setting `stop` ends it between two pages, with
    what was done kept (`"stopped": true`); the next run adds the rest."""
    now = as_utc(now)
    summary = PlanSummary()
    programmes = active_programmes()
    for programme in programmes:
        for candidates in CANDIDATES[programme.trigger](programme, now):
            if stop is not None and stop.is_set():
                return {**summary.as_dict(), "stopped": True}
            with transaction():
                invite(programme, candidates, now, summary)
    _remind({p.id: p for p in programmes}, now, summary)
    summary.expired = _expire(now)
    return summary.as_dict()
