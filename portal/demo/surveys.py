"""Demo survey programmes, their invitations and answers, and the follow-ups of unhappy ones.

Four programmes: "Complaint resolution CSAT" (a day after a ticket is closed, every closed
ticket with a customer), "RM contact effort" (CES, 20 % of the RMs' contacts), "Relationship
NPS" (a quarterly wave to every customer) — all three live for `Volume.history_days` — and
"Customer NPS (old survey tool)", the answers a firm brought from its previous tool, older
than that and sending nothing.

The answers tell a story the results, drivers and phrases pages can find:
- CSAT: every day a ticket took to resolve costs satisfaction (up to 20 days), and one
  resolved after its regulatory deadline scores clearly worse still; fees and charges
  (cause C07) drag CSAT down, collection conduct (C08) less so; one handler
  (`star_handler`) scores noticeably better and is named in comments.
- CES: RM contacts by phone or visit are easier than by email or SMS; a contact after a long
  silence (over 60 days since the one before) is harder.
- NPS: private and affluent customers recommend more than mass and small-business ones,
  customers in arrears much less; NPS improves wave after wave, and the old tool's history
  is lower still.
- Detractors write about late fees, interest (利息太高), collection calls (催收电话) and nobody
  calling back; promoters about quick, helpful, patient (耐心) staff (survey_texts.py).

Invitations carry the statuses the plan job gives: not sent with the contact policy's reason
(no email address, no consent, deceased, asked not to be contacted, in arrears, the survey
frequency cap), answered, expired, or invited while still open. Each answer carries the facts
the answer page copies (portal/surveys/facts.py: segment; the ticket's product, cause,
channel, handler, whole days to resolve and breach; the contact's channel and whole days
since the contact before it), computed here in bulk from the seeded rows. Unhappy answers of
the last `Volume.loop_days` (when the firm switched the closed loop on) have their follow-up
feedback ticket, most of them closed with what was done, the recent ones still open.

Rows are built in chunks and inserted in bulk like the other seeders'; ids are given here so
that answers can name their invitations and follow-ups. Everything is drawn from the seed's
random generator, in a fixed order: the same seed gives the same surveys. The seed ends with a
roll-up (portal/surveys/rollups.py), as the hourly job would leave the database.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from email.utils import make_msgid
from types import SimpleNamespace
from typing import Any

from flask import current_app
from psycopg import sql
from sqlalchemy import JSON, Table, func, select, text

from portal.accounts.models import User
from portal.core.access import Role
from portal.core.extensions import db, dialect_name
from portal.core.timeutil import as_utc
from portal.customers.models import Customer, Interaction
from portal.demo import survey_texts as texts
from portal.demo.base import SeedContext, store_reference_counters
from portal.messaging.compose import Composer
from portal.messaging.models import Message, MessageStatus, Purpose
from portal.surveys import follow_up
from portal.surveys.facts import contact_facts, ticket_facts
from portal.surveys.importer import QUESTIONS
from portal.surveys.models import (
    SCALES,
    InvitationStatus,
    Metric,
    Route,
    ScoreGroup,
    SurveyAnswer,
    SurveyInvitation,
    SurveyProgramme,
    Trigger,
    score_group,
)
from portal.surveys.planner import INVITE_TEMPLATE, message_context
from portal.surveys.rollups import roll_up
from portal.surveys.tokens import token_for, token_hash
from portal.tickets import clocks, deadlines
from portal.tickets.models import (
    REFERENCE_PREFIX,
    Kind,
    ReferenceCounter,
    Severity,
    Status,
    Ticket,
    TicketEvent,
)


@dataclass(frozen=True)
class Volume:
    history_days: int  # the live programmes have run this long
    waves: int  # quarterly relationship waves, the last one this quarter
    imported: int  # answers brought from the old tool
    imported_days: int  # the old tool's history, before the live programmes
    loop_days: int  # unhappy answers of these last days have a follow-up ticket


VOLUMES = {
    "small": Volume(540, 6, 1_500, 730, 180),
    "large": Volume(540, 6, 120_000, 1_095, 180),
}
CHUNK = 5_000  # invitations built and inserted together

CSAT_NAME = "Complaint resolution CSAT"
CES_NAME = "RM contact effort"
NPS_NAME = "Relationship NPS"
IMPORTED_NAME = "Customer NPS (old survey tool)"

# Share of delivered invitations answered, per programme.
RESPONSE = {CSAT_NAME: 0.5, CES_NAME: 0.33, NPS_NAME: 0.3}
# How far a score falls from its mood: a standard deviation per metric.
SPREAD = {Metric.CSAT.value: 1.0, Metric.CES.value: 1.35, Metric.NPS.value: 2.2}
CAP_REASON = "frequency cap survey: 1/30d reached"  # the contact policy's words
CAPPED = 0.03  # invitations the survey frequency cap holds back
COMMENTED = {ScoreGroup.LOW: 0.8, ScoreGroup.MIDDLE: 0.45, ScoreGroup.HIGH: 0.55}
SLOW_DAYS = 15  # a ticket resolved after more days than this counts as slow in the story
DAY_COST = 0.09  # CSAT points each day to resolve costs, up to 20 days
SILENCE_DAYS = 60  # an RM contact after this many days without one is harder


CSAT_CHOICES = [
    {
        "key": "q1",
        "en": "What mattered most to you?",
        "zh": "您最看重什么？",
        "options": [
            {"en": "Speed", "zh": "处理速度"},
            {"en": "A clear explanation", "zh": "解释清楚"},
            {"en": "Friendly staff", "zh": "服务态度"},
        ],
    }
]


@dataclass(frozen=True)
class Plan:
    name: str
    metric: str
    trigger: str
    route: str
    send_delay_hours: int
    expiry_days: int
    sample_rate: float = 1.0
    wave_months: int | None = None
    remind_after_days: int | None = None
    choices: list[dict[str, Any]] = field(default_factory=list)
    active: bool = True


PLANS = (
    Plan(
        CSAT_NAME,
        Metric.CSAT.value,
        Trigger.TICKET_CLOSED.value,
        Route.QUEUE.value,
        24,
        14,
        remind_after_days=3,
        choices=CSAT_CHOICES,
    ),
    Plan(CES_NAME, Metric.CES.value, Trigger.RM_CONTACT.value, Route.RM.value, 4, 7, 0.2),
    Plan(
        NPS_NAME,
        Metric.NPS.value,
        Trigger.WAVE.value,
        Route.RM.value,
        0,
        21,
        wave_months=3,
        remind_after_days=7,
    ),
    Plan(
        IMPORTED_NAME,
        Metric.NPS.value,
        Trigger.IMPORTED.value,
        Route.QUEUE.value,
        0,
        14,
        active=False,
    ),
)
COMMENT_PROMPTS = {
    Metric.CSAT.value: ("What could we have done better?", "我们哪里可以做得更好？"),
    Metric.CES.value: ("What made it easy or hard?", "是什么让事情变得容易或困难？"),
    Metric.NPS.value: (
        "What is the main reason for your score?",
        "您给出这个分数的主要原因是什么？",
    ),
}


# ---------------------------------------------------------------- what is surveyed


@dataclass(frozen=True)
class Person:
    id: int
    lang: str  # "zh" or "en", for comments
    locale: str
    segment: str
    owner_id: int | None
    in_arrears: bool
    held: str | None  # why the contact policy holds every survey back, if it does
    name: str = ""
    email: str | None = None


@dataclass
class Rows:
    invitations: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def insert(self) -> dict[str, int]:
        """Follow-up tickets first (answers name them), then invitations and answers; one
        commit. The counts inserted, by what they are."""
        for table, rows in (
            (Ticket.__table__, self.tickets),
            (TicketEvent.__table__, self.events),
            (SurveyInvitation.__table__, self.invitations),
            (SurveyAnswer.__table__, self.answers),
            (Message.__table__, self.messages),
        ):
            _insert_rows(table, rows)
        db.session.commit()
        return {
            "follow-up tickets": len(self.tickets),
            "ticket events": len(self.events),
            "invitations": len(self.invitations),
            "survey answers": len(self.answers),
            "survey emails": len(self.messages),
        }


def _insert_rows(table: Table, rows: list[dict[str, Any]]) -> None:
    """Add rows that all have the same keys, past the ORM: a million invitations spend most of
    an ORM or Core insert's time turning parameters into SQL values one by one. COPY on
    PostgreSQL; on SQLite, the driver's executemany with each column's own conversion (the
    one Core would apply), None left as SQL NULL."""
    if not rows:
        return
    columns = list(rows[0])
    connection = db.session.connection()
    driver = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        json_columns = {name for name in columns if isinstance(table.c[name].type, JSON)}
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(
                    [
                        json.dumps(row[name])
                        if name in json_columns and row[name] is not None
                        else row[name]
                        for name in columns
                    ]
                )
        return
    processors = [table.c[name].type.bind_processor(connection.dialect) for name in columns]
    converting = [(name, p) for name, p in zip(columns, processors, strict=True) if p]
    plain = [name for name, p in zip(columns, processors, strict=True) if not p]
    order = plain + [name for name, _ in converting]
    statement = (
        f"INSERT INTO {table.name} ({', '.join(order)}) "  # noqa: S608  (our own table names)
        f"VALUES ({', '.join('?' * len(order))})"
    )
    driver.executemany(
        statement,
        (
            [row[name] for name in plain]
            + [None if row[name] is None else p(row[name]) for name, p in converting]
            for row in rows
        ),
    )


class _Generator:
    def __init__(self, ctx: SeedContext) -> None:
        self.ctx, self.rng, self.now = ctx, ctx.rng, ctx.now
        self.composer = Composer()  # the invitation emails' text, as delivery renders it
        self.mail_domain = current_app.config.get("MAIL_DOMAIN") or "portal.invalid"
        self.volume = VOLUMES[ctx.scale]
        self.since = self.now - timedelta(days=self.volume.history_days)
        self.loop_since = self.now - timedelta(days=self.volume.loop_days)
        settings = deadlines.clock_settings()
        self.zone = settings.zone
        self.profile_code = settings.profile
        self.calendar = clocks.PROFILES[self.profile_code].calendar
        self.staff_locale = str(current_app.config["BABEL_DEFAULT_LOCALE"])
        self.next_id = {
            model: (db.session.scalar(select(func.max(model.id))) or 0) + 1
            for model in (SurveyInvitation, SurveyAnswer, Ticket, TicketEvent)
        }
        self.counters = {
            (c.prefix, c.year): c.last for c in db.session.scalars(select(ReferenceCounter))
        }
        self.people = self._people()
        self.names = {row.id: row.name for row in db.session.execute(select(User.id, User.name))}
        self.programmes: dict[str, SurveyProgramme] = {}
        self.star_handler: int | None = None
        self.fbk = REFERENCE_PREFIX[Kind.FEEDBACK]

    def _people(self) -> dict[int, Person]:
        people = {}
        for row in db.session.execute(
            select(
                Customer.id,
                Customer.name,
                Customer.locale,
                Customer.segment,
                Customer.owner_id,
                Customer.email,
                Customer.consent_survey,
                Customer.deceased,
                Customer.do_not_contact,
                Customer.in_arrears,
            )
            .where(Customer.erased_at.is_(None))
            .order_by(Customer.id)
        ):
            held = None
            if row.deceased:
                held = "customer is deceased"
            elif row.do_not_contact:
                held = "customer asked not to be contacted"
            elif not row.email:
                held = "no email address"
            elif not row.consent_survey:
                held = "no consent for survey messages"
            lang = "zh" if row.locale.startswith("zh") else "en"
            people[row.id] = Person(
                row.id,
                lang,
                row.locale,
                row.segment,
                row.owner_id,
                row.in_arrears,
                held,
                row.name,
                row.email,
            )
        return people

    def _take(self, model: Any) -> int:
        value = self.next_id[model]
        self.next_id[model] = value + 1
        return value

    # ------------------------------------------------------------ programmes

    def create_programmes(self) -> None:
        for plan in PLANS:
            question_en, question_zh = QUESTIONS[plan.metric]
            prompt_en, prompt_zh = COMMENT_PROMPTS[plan.metric]
            programme = SurveyProgramme(
                name=plan.name,
                metric=plan.metric,
                trigger=plan.trigger,
                active=plan.active,
                active_since=self.since if plan.active else None,
                question_en=question_en,
                question_zh=question_zh,
                comment_prompt_en=prompt_en,
                comment_prompt_zh=prompt_zh,
                choices=plan.choices,
                send_delay_hours=plan.send_delay_hours,
                expiry_days=plan.expiry_days,
                sample_rate=plan.sample_rate,
                wave_months=plan.wave_months,
                remind_after_days=plan.remind_after_days,
                route=plan.route,
                created_at=self.since,
                updated_at=self.since,
            )
            db.session.add(programme)
            self.programmes[plan.name] = programme
        db.session.commit()
        self.ctx.counts["survey programmes"] = len(PLANS)

    # ------------------------------------------------------------ one invitation

    def invite(
        self,
        rows: Rows,
        name: str,
        person: Person,
        event_at: datetime,
        key: str,
        mood: float,
        facts: dict[str, Any],
        *,
        about: dict[str, Any] | None = None,
        interaction_id: int | None = None,
        wave: str | None = None,
        topic: str | None = None,
    ) -> None:
        """One invitation about something that happened at `event_at`, answered or not; an
        answer's score is drawn around `mood` (the metric's scale) and carries `facts`."""
        rng, now = self.rng, self.now
        programme = self.programmes[name]
        send_at = event_at + timedelta(hours=programme.send_delay_hours)
        if send_at > now:
            return  # the plan job has not reached it yet
        invitation_id = self._take(SurveyInvitation)
        nonce = f"{rng.getrandbits(128):032x}"
        expires_at = send_at + timedelta(days=programme.expiry_days)
        reason = person.held
        if reason is None and wave is not None and person.in_arrears:
            reason = "customer is flagged in arrears"
        if reason is None and rng.random() < CAPPED:
            reason = CAP_REASON
        answered_at = None
        if reason is None and rng.random() < RESPONSE[name]:
            answered_at = send_at + timedelta(hours=rng.expovariate(1 / 30))
            if answered_at > min(expires_at, now):
                answered_at = None
        if reason is not None:
            status = InvitationStatus.NOT_SENT.value
        elif answered_at is not None:
            status = InvitationStatus.ANSWERED.value
        else:
            status = (
                InvitationStatus.EXPIRED.value
                if expires_at <= now
                else InvitationStatus.INVITED.value
            )
        remind_at = reminded_at = None
        if programme.remind_after_days and reason is None:
            remind_at = send_at + timedelta(days=programme.remind_after_days)
            if remind_at <= min(now, answered_at or expires_at):
                reminded_at = remind_at
        rows.invitations.append(
            {
                "id": invitation_id,
                "programme_id": programme.id,
                "dedupe_key": key,
                "customer_id": person.id,
                "ticket_id": about["id"] if about else None,
                "interaction_id": interaction_id,
                "wave": wave,
                "subject_label": about["reference"] if about else "",
                "locale": person.locale,
                "nonce": nonce,
                "token_hash": token_hash(token_for(nonce)),
                "status": status,
                "reason": reason,
                "message_key": f"survey:{key}",
                "created_at": event_at,
                "send_at": send_at,
                "expires_at": expires_at,
                "remind_at": remind_at,
                "reminded_at": reminded_at,
                "answered_at": answered_at,
            }
        )
        rows.messages.append(
            self.email(programme, person, f"survey:{key}", nonce, send_at, about, reason)
        )
        if answered_at is not None:
            self.answer(
                rows, programme, person, invitation_id, answered_at, mood, facts, about, topic
            )

    def email(
        self,
        programme: SurveyProgramme,
        person: Person,
        key: str,
        nonce: str,
        send_at: datetime,
        about: dict[str, Any] | None,
        held: str | None,
    ) -> dict[str, Any]:
        """The invitation's outbox row, as the plan job and delivery leave it: held back with
        the policy's reason, or sent at `send_at` with the text it was sent with."""
        question = programme.question_zh if person.lang == "zh" else programme.question_en
        row: dict[str, Any] = {
            "dedupe_key": key,
            "purpose": Purpose.SURVEY.value,
            "kind": "survey",
            "transactional": False,
            "customer_id": person.id,
            "to_address": person.email,
            "locale": person.locale,
            "template_key": INVITE_TEMPLATE,
            "context": message_context(
                programme.metric, question, nonce, about["reference"] if about else ""
            ),
            "subject": "",
            "body_text": "",
            "body_html": "",
            "headers": {},
            "message_id": make_msgid(domain=self.mail_domain),
            "status": MessageStatus.SUPPRESSED.value if held else MessageStatus.SENT.value,
            "held_reason": held,
            "attempts": 0 if held else 1,
            "next_attempt_at": None if held else send_at,
            "created_at": send_at,
            "sent_at": None if held else send_at,
            "source_id": f"survey:{programme.id}",
        }
        if not held:
            sent = self.composer.compose(SimpleNamespace(**row), person.name)
            row.update(
                subject=sent.subject,
                body_text=sent.body_text,
                body_html=sent.body_html,
                headers=sent.headers,
            )
        return row

    def answer(
        self,
        rows: Rows,
        programme: SurveyProgramme,
        person: Person,
        invitation_id: int | None,
        answered_at: datetime,
        mood: float,
        facts: dict[str, Any],
        about: dict[str, Any] | None,
        topic: str | None,
        import_key: str | None = None,
    ) -> None:
        rng = self.rng
        low, high = SCALES[programme.metric]
        score = min(high, max(low, round(rng.gauss(mood, SPREAD[programme.metric]))))
        group = score_group(programme.metric, score)
        comment = self.comment(programme.metric, group, person.lang, facts, topic)
        answer_id = self._take(SurveyAnswer)
        follow_up = None
        if group == ScoreGroup.LOW and import_key is None and answered_at >= self.loop_since:
            follow_up = self.follow_up(
                rows, programme, person, answer_id, answered_at, score, comment, about
            )
        choices = None
        if programme.choices and rng.random() < 0.5:
            choices = {"q1": rng.randrange(len(programme.choices[0]["options"]))}
        rows.answers.append(
            {
                "id": answer_id,
                "programme_id": programme.id,
                "invitation_id": invitation_id,
                "import_key": import_key,
                "customer_id": person.id if person.id else None,
                "score": score,
                "score_group": group,
                "comment": comment,
                "choices": choices,
                "locale": person.locale,
                "source": "import" if import_key else "demo",
                "answered_at": answered_at,
                "changed_at": None,
                "device_hash": None,
                "ticket_id": None,
                "segment": None,
                "product": None,
                "cause_code": None,
                "channel_code": None,
                "handler_id": None,
                "resolve_days": None,
                "breached": None,
                "contact_channel": None,
                "days_since_contact": None,
                **facts,
                "follow_up_ticket_id": follow_up,
            }
        )

    def comment(
        self, metric: str, group: int, lang: str, facts: dict[str, Any], topic: str | None
    ) -> str:
        rng = self.rng
        if rng.random() >= COMMENTED[group]:
            return ""
        if group == ScoreGroup.HIGH:
            if facts.get("handler_id") is not None and facts["handler_id"] == self.star_handler:
                name = self.names.get(facts["handler_id"], "")
                return rng.choice(texts.COMMENTS["star"][lang]).format(name=name)
            chosen = (
                "call"
                if facts.get("contact_channel") in ("call", "visit")
                else "promoter"
                if metric == Metric.NPS.value
                else "high"
            )
        elif group == ScoreGroup.MIDDLE:
            chosen = "middle"
        else:
            chosen = topic or "low"
        phrases = texts.COMMENTS[chosen][lang]
        first = rng.choice(phrases)
        if group != ScoreGroup.LOW or rng.random() < 0.7:
            return first
        second = rng.choice(texts.COMMENTS["low"][lang])
        return first if second == first else f"{first}{'' if lang == 'zh' else ' '}{second}"

    # ------------------------------------------------------------ closing the loop

    def _reference(self, at: datetime) -> str:
        key = (self.fbk, at.astimezone(self.zone).year)
        number = self.counters.get(key, 0) + 1
        self.counters[key] = number
        return f"{self.fbk}-{key[1]}-{number:06d}"

    def follow_up(
        self,
        rows: Rows,
        programme: SurveyProgramme,
        person: Person,
        answer_id: int,
        opened: datetime,
        score: int,
        comment: str,
        about: dict[str, Any] | None,
    ) -> int:
        """The feedback ticket an unhappy answer opened, worked on as its age allows."""
        rng, now = self.rng, self.now
        ticket_id = self._take(Ticket)
        reference = self._reference(opened)
        zh = self.staff_locale.startswith("zh")
        metric = programme.metric.upper()
        if zh:
            subject = f"问卷回访：{metric} {score} — {programme.name}"
        else:
            subject = f"Survey follow-up: {metric} {score} — {programme.name}"
        if about is not None:
            subject = f"{subject} ({about['reference']})"
        assignee = person.owner_id if programme.route == Route.RM.value else None
        sla_due = self.calendar.add_business_hours(
            opened, deadlines.SLA_HOURS[Severity.MEDIUM], self.zone
        )
        warn_at = opened + (sla_due - opened) * deadlines.WARN_SHARE
        # Handled within the SLA: a follow-up the clock watch would have warned about is
        # closed by then; of the recent ones, some are still open.
        handled_by = min(warn_at, now)
        closing = warn_at <= now or rng.random() < 0.4
        worker = assignee
        label = self.names.get(worker, "demo-seed") if worker else "demo-seed"
        events: list[tuple[datetime, int | None, str, str | None, dict[str, Any] | None]] = [
            (
                opened,
                None,
                "created",
                None,
                {
                    "reference": reference,
                    "kind": Kind.FEEDBACK.value,
                    "profile": self.profile_code,
                    "received_at": opened.isoformat(),
                    "due_at": sla_due.isoformat(),
                    "sla_due_at": sla_due.isoformat(),
                    "source": follow_up.SOURCE,
                },
            ),
            (
                opened,
                None,
                "note",
                (
                    f"跟进一条关于 {about['reference']} 的问卷回答。"
                    if zh
                    else f"Follows up a survey answer about {about['reference']}."
                )
                if about
                else ("跟进一条问卷回答。" if zh else "Follows up a survey answer."),
                {"survey_answer": answer_id},
            ),
        ]
        status, is_open = Status.NEW.value, True
        acknowledged = resolved = closed = None
        resolution = None
        if closing or now - opened > timedelta(hours=4):
            started = opened + (handled_by - opened) * rng.uniform(0.05, 0.4)
            events.append((started, worker, "status", None, _move(Status.NEW, Status.IN_PROGRESS)))
            status, acknowledged = Status.IN_PROGRESS.value, started
            if closing:
                resolved = started + (handled_by - started) * rng.uniform(0.3, 1.0)
                closed = resolved
                resolution = rng.choice(texts.RESOLUTIONS["zh" if zh else "en"])
                events.append(
                    (resolved, worker, "status", None, _move(Status.IN_PROGRESS, Status.RESOLVED))
                )
                events.append((resolved, worker, "resolution", resolution, None))
                events.append(
                    (closed, worker, "status", None, _move(Status.RESOLVED, Status.CLOSED))
                )
                status, is_open = Status.CLOSED.value, False
        for at, actor, action, body, data in events:
            rows.events.append(
                {
                    "id": self._take(TicketEvent),
                    "ticket_id": ticket_id,
                    "occurred_at": at,
                    "actor_id": actor,
                    "actor_label": label if actor else "demo-seed",
                    "action": action,
                    "body": body,
                    "reason": None,
                    "data": data,
                }
            )
        if about is not None:
            note = (
                f"关于本工单的一条问卷回答（{metric} {score}）开启了回访 {reference}。"
                if zh
                else f"A survey answer about this ticket ({metric} {score}) opened the "
                f"follow-up {reference}."
            )
            rows.events.append(
                {
                    "id": self._take(TicketEvent),
                    "ticket_id": about["id"],
                    "occurred_at": opened,
                    "actor_id": None,
                    "actor_label": "demo-seed",
                    "action": "note",
                    "body": note,
                    "reason": None,
                    "data": {"survey_answer": answer_id},
                }
            )
        rows.tickets.append(
            {
                "id": ticket_id,
                "reference": reference,
                "kind": Kind.FEEDBACK.value,
                "status": status,
                "is_open": is_open,
                "customer_id": person.id,
                "account_id": about["account_id"] if about else None,
                "product": about["product"] if about else None,
                "channel_code": follow_up.CHANNEL_CODE,
                "business_code": about["business_code"] if about else follow_up.BUSINESS_CODE,
                "cause_code": about["cause_code"] if about else follow_up.CAUSE_CODE,
                "severity": Severity.MEDIUM.value,
                "subject": subject[:200],
                "request": "",
                "description": comment or texts.NO_COMMENT["zh" if zh else "en"],
                "assignee_id": assignee,
                "team_id": None,
                "registered_by_id": None,
                "resolution": resolution,
                "profile": self.profile_code,
                "received_at": opened,
                "extensions": 0,
                "paused_days": 0,
                "due_at": sla_due,
                "sla_due_at": sla_due,
                "sla_paused_hours": 0.0,
                "acknowledged_at": acknowledged,
                "resolved_at": resolved,
                "closed_at": closed,
                "warn_at": warn_at,
                "source": follow_up.SOURCE,
                "version": 1 + sum(action == "status" for _, _, action, _, _ in events),
                "created_at": opened,
                "updated_at": max(at for at, *_ in events),
            }
        )
        return ticket_id

    # ------------------------------------------------------------ the programmes' events

    def csat(self, flush: Flush) -> None:
        """One invitation per closed ticket with a customer, a day after it was closed."""
        tickets = db.session.execute(
            select(
                Ticket.id,
                Ticket.reference,
                Ticket.customer_id,
                Ticket.account_id,
                Ticket.product,
                Ticket.channel_code,
                Ticket.business_code,
                Ticket.cause_code,
                Ticket.assignee_id,
                Ticket.received_at,
                Ticket.resolved_at,
                Ticket.closed_at,
                Ticket.due_at,
            )
            .where(
                Ticket.status == Status.CLOSED.value,
                Ticket.customer_id.is_not(None),
                Ticket.merged_into_id.is_(None),
                Ticket.closed_at >= self.since,
            )
            .order_by(Ticket.closed_at, Ticket.id)
        ).all()
        handled: dict[int, int] = defaultdict(int)
        for ticket in tickets:
            if ticket.assignee_id is not None:
                handled[ticket.assignee_id] += 1
        # The handler customers praise: the one with the most closed tickets (lowest id on a tie).
        self.star_handler = min(handled, key=lambda h: (-handled[h], h)) if handled else None
        programme = self.programmes[CSAT_NAME]
        rows = Rows()
        for ticket in self.ctx.progress(tickets, len(tickets), "CSAT invitations"):
            person = self.people.get(ticket.customer_id)
            if person is None:
                continue
            facts = {"segment": person.segment, **ticket_facts(ticket)}
            resolve_days, breached = facts["resolve_days"], facts["breached"]
            mood = 4.4 - DAY_COST * min(resolve_days, 20)
            topic = "slow" if breached or resolve_days > SLOW_DAYS else None
            if breached:
                mood -= 1.5
            if ticket.cause_code == "C07":
                mood, topic = mood - 1.0, "fees"
            elif ticket.cause_code == "C08":
                mood, topic = mood - 0.5, "collection"
            if ticket.assignee_id is not None and ticket.assignee_id == self.star_handler:
                mood += 0.8
            about = {
                "id": ticket.id,
                "reference": ticket.reference,
                "account_id": ticket.account_id,
                "product": ticket.product,
                "business_code": ticket.business_code,
                "cause_code": ticket.cause_code,
            }
            self.invite(
                rows,
                CSAT_NAME,
                person,
                as_utc(ticket.closed_at),
                f"p{programme.id}:ticket:{ticket.id}",
                mood,
                facts,
                about=about,
                topic=topic,
            )
            rows = flush(rows)
        flush(rows, force=True)

    def ces(self, flush: Flush) -> None:
        """A sampled fifth of the RMs' contacts, four hours after each."""
        rms = set(db.session.scalars(select(User.id).where(User.role == Role.RM.value)))
        contacts = db.session.execute(
            select(
                Interaction.id,
                Interaction.customer_id,
                Interaction.author_id,
                Interaction.channel,
                Interaction.occurred_at,
            ).order_by(Interaction.customer_id, Interaction.occurred_at, Interaction.id)
        )
        programme = self.programmes[CES_NAME]
        chosen = []
        previous: tuple[int, datetime] | None = None
        for contact_id, customer_id, author_id, channel, occurred in contacts:
            occurred = as_utc(occurred)
            before = previous[1] if previous and previous[0] == customer_id else None
            previous = (customer_id, occurred)
            if author_id not in rms or occurred < self.since:
                continue
            if self.rng.random() >= programme.sample_rate:
                continue
            chosen.append((occurred, contact_id, customer_id, channel, before))
        chosen.sort()
        rows = Rows()
        for occurred, contact_id, customer_id, channel, before in self.ctx.progress(
            chosen, len(chosen), "CES invitations"
        ):
            person = self.people.get(customer_id)
            if person is None:
                continue
            facts = {"segment": person.segment, **contact_facts(channel, occurred, before)}
            days_since = facts["days_since_contact"]
            mood = 5.2 + CHANNEL_EASE.get(channel, 0.0)
            topic = "email" if channel in ("email", "sms") else None
            if days_since is None or days_since > SILENCE_DAYS:
                mood -= 0.9
                topic = topic or "neglect"
            self.invite(
                rows,
                CES_NAME,
                person,
                occurred,
                f"p{programme.id}:contact:{contact_id}",
                mood,
                facts,
                interaction_id=contact_id,
                topic=topic,
            )
            rows = flush(rows)
        flush(rows, force=True)

    def waves(self, flush: Flush) -> None:
        """Every customer once per quarterly wave, the last one this quarter."""
        programme = self.programmes[NPS_NAME]
        today = self.now.astimezone(self.zone).date()
        quarter = (today.year * 4 + (today.month - 1) // 3) - (self.volume.waves - 1)
        people = list(self.people.values())
        rows = Rows()
        for index in range(self.volume.waves):
            year, q = divmod(quarter + index, 4)
            starts = date(year, 3 * q + 1, 1) + timedelta(days=9)
            send = datetime.combine(starts, time(10), tzinfo=self.zone).astimezone(UTC)
            if send > self.now:
                continue
            label = f"{year}-Q{q + 1}"
            for person in self.ctx.progress(people, len(people), f"NPS wave {label}"):
                mood = 7.4 + 0.15 * index + SEGMENT_LOYALTY.get(person.segment, 0.0)
                topic = NPS_TOPICS[min(int(self.rng.random() * 10), 9)]
                self.invite(
                    rows,
                    NPS_NAME,
                    person,
                    send,
                    f"p{programme.id}:wave:{label}:{person.id}",
                    mood,
                    {"segment": person.segment},
                    wave=label,
                    topic=topic,
                )
                rows = flush(rows)
        flush(rows, force=True)

    def imported(self, flush: Flush) -> None:
        """The old tool's answers: half of them name a customer; NPS rose slowly over them."""
        rng, volume = self.rng, self.volume
        programme = self.programmes[IMPORTED_NAME]
        people = list(self.people.values())
        end = self.since
        span = timedelta(days=volume.imported_days).total_seconds()
        moments = sorted(
            end - timedelta(seconds=rng.uniform(0, span)) for _ in range(volume.imported)
        )
        anonymous = Person(0, "zh", "zh_Hans", "", None, False, None)
        rows = Rows()
        for index, moment in enumerate(
            self.ctx.progress(moments, len(moments), "imported answers")
        ):
            linked = bool(people) and rng.random() < 0.5
            person = rng.choice(people) if linked else replace(anonymous, **_language(rng))
            facts = {"segment": person.segment} if linked else {}
            mood = 6.6 + 0.8 * index / max(len(moments), 1)
            key = hashlib.sha256(f"demo:{programme.id}:{index}".encode()).hexdigest()
            topic = NPS_TOPICS[min(int(rng.random() * 10), 9)]
            self.answer(rows, programme, person, None, moment, mood, facts, None, topic, key)
            rows = flush(rows, answers=True)
        flush(rows, force=True)


CHANNEL_EASE = {"call": 0.6, "visit": 0.6, "chat": 0.0, "sms": -0.7, "email": -1.4}
SEGMENT_LOYALTY = {"private": 1.5, "affluent": 1.2, "mass": 0.0, "small_business": -0.8}
# The topic of a detractor's comment: fees 4 in 10, collection calls 2, silence 1, other 3.
NPS_TOPICS = ("fees",) * 4 + ("collection",) * 2 + ("neglect",) + ("low",) * 3


def _language(rng: Any) -> dict[str, str]:
    """An anonymous old answer's language: Chinese seven times in ten."""
    if rng.random() < 0.7:
        return {"lang": "zh", "locale": "zh_Hans"}
    return {"lang": "en", "locale": "en"}


def _move(before: Status, after: Status) -> dict[str, str]:
    return {"from": before.value, "to": after.value}


class Flush:
    """Inserts a chunk's rows once it holds CHUNK invitations (or answers), and the rest at
    the end; returns the rows to fill next."""

    def __init__(self, ctx: SeedContext) -> None:
        self.ctx = ctx

    def __call__(self, rows: Rows, *, force: bool = False, answers: bool = False) -> Rows:
        size = len(rows.answers) if answers else len(rows.invitations)
        if size < CHUNK and not force:
            return rows
        for name, n in rows.insert().items():
            self.ctx.counts[name] = self.ctx.counts.get(name, 0) + n
        return Rows()


def _finish(generator: _Generator) -> None:
    """Reference counters at the last follow-up given; sequences past the ids given here;
    fresh planner statistics."""
    store_reference_counters(generator.counters)  # they started at what was stored
    tables = [
        m.__tablename__ for m in (SurveyInvitation, SurveyAnswer, Ticket, TicketEvent, Message)
    ]
    if dialect_name() == "postgresql":
        for table in tables:
            db.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            )
    for table in (SurveyProgramme.__tablename__, *tables):
        db.session.execute(text(f"ANALYZE {table}"))
    db.session.commit()


def seed_surveys(ctx: SeedContext) -> None:
    generator = _Generator(ctx)
    generator.create_programmes()
    flush = Flush(ctx)
    generator.csat(flush)
    generator.ces(flush)
    generator.waves(flush)
    generator.imported(flush)
    _finish(generator)
    roll_up(now=ctx.now)  # as the hourly job would leave them: the results pages read rollups
