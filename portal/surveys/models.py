"""Survey programmes, the invitations they send and the answers customers give.

An answer carries, copied from what it is about when it is recorded, the facts the results and
drivers pages group by (segment, product, the linked ticket's cause, channel, handler,
days-to-resolve, breach; for RM surveys the contact channel and days since the last contact).
The results of a programme with 300,000 answers are then one scan of one table by
(programme, answered_at), with no joins; the copied facts are what was true when the customer
answered, which is what the answer speaks to.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.audit import BigId
from portal.core.extensions import db
from portal.core.models import TimestampMixin


class Metric(StrEnum):
    """What the score question measures; each has its scale and its formula (docs/surveys.md)."""

    CSAT = "csat"  # 1–5; CSAT = share of 4 and 5
    CES = "ces"  # 1–7 agreement ("… made it easy"), 7 the easiest; share of 5–7
    NPS = "nps"  # 0–10; % promoters (9–10) − % detractors (0–6)


class Trigger(StrEnum):
    """What makes a programme invite a customer."""

    TICKET_CLOSED = "ticket_closed"  # one invitation per closed ticket, N hours after
    RM_CONTACT = "rm_contact"  # a sampled share of RM contacts, N hours after
    WAVE = "wave"  # relationship survey of a segment, once per customer per wave
    IMPORTED = "imported"  # past answers brought from another tool; sends nothing


class Route(StrEnum):
    """Where the follow-up ticket of an unhappy answer goes."""

    RM = "rm"  # the customer's relationship manager (the queue when they have none)
    QUEUE = "queue"  # the complaint queue, unassigned


class InvitationStatus(StrEnum):
    INVITED = "invited"  # its message is in the outbox (sent, waiting, or held: see the message)
    NOT_SENT = "not_sent"  # never queued, with the reason
    ANSWERED = "answered"
    EXPIRED = "expired"


class ScoreGroup:
    """The answer's group, stored as a small number so results are sums over one column."""

    LOW = -1  # detractor (NPS 0–6), dissatisfied (CSAT 1–2), high effort (CES worst two)
    MIDDLE = 0
    HIGH = 1  # promoter (NPS 9–10), satisfied (CSAT 4–5), low effort (CES 5–7)


SCALES: dict[str, tuple[int, int]] = {
    Metric.CSAT.value: (1, 5),
    Metric.CES.value: (1, 7),
    Metric.NPS.value: (0, 10),
}


def score_group(metric: str, score: int) -> int:
    """The group of `score` on `metric`'s scale: the one rule, used by answers and imports."""
    if metric == Metric.NPS.value:
        if score >= 9:
            return ScoreGroup.HIGH
        return ScoreGroup.MIDDLE if score >= 7 else ScoreGroup.LOW
    low, high = SCALES[metric]
    if score <= low + 1:  # the worst two points open a follow-up
        return ScoreGroup.LOW
    if metric == Metric.CSAT.value:
        return ScoreGroup.HIGH if score >= 4 else ScoreGroup.MIDDLE
    return ScoreGroup.HIGH if score >= high - 2 else ScoreGroup.MIDDLE


class SurveyProgramme(TimestampMixin, db.Model):
    """A survey the firm runs: its question in English and Chinese, who it goes to and when.

    Texts are copied into each invitation's answer page when the customer opens it, so a
    programme edited while invitations are out changes the page from then on, never an answer
    already given; the scale (metric) cannot change once anyone has answered.
    """

    __tablename__ = "survey_programmes"
    __table_args__ = (
        CheckConstraint("sample_rate >= 0 AND sample_rate <= 1", name="sample_rate_range"),
        CheckConstraint("send_delay_hours >= 0", name="send_delay_positive"),
        CheckConstraint("expiry_days >= 1", name="expiry_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    metric: Mapped[str] = mapped_column(String(8))
    trigger: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    # Only events on or after this day are surveyed: switching a programme on (or back on)
    # never invites for tickets closed or contacts made before it.
    active_since: Mapped[datetime | None]
    question_en: Mapped[str] = mapped_column(Text)
    question_zh: Mapped[str] = mapped_column(Text)
    comment_prompt_en: Mapped[str] = mapped_column(Text, default="")
    comment_prompt_zh: Mapped[str] = mapped_column(Text, default="")
    # Up to three optional choice questions:
    # [{"key": "q1", "en": "…", "zh": "…", "options": [{"en": "…", "zh": "…"}, …]}, …]
    choices: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    send_delay_hours: Mapped[int] = mapped_column(Integer, default=24)
    expiry_days: Mapped[int] = mapped_column(Integer, default=14)
    sample_rate: Mapped[float] = mapped_column(Float, default=1.0)
    segment: Mapped[str | None] = mapped_column(String(32))  # None: every segment
    wave_months: Mapped[int | None] = mapped_column(Integer)  # waves: every N months
    wave_send_hour: Mapped[int] = mapped_column(Integer, default=10)  # customer's local time
    remind_after_days: Mapped[int | None] = mapped_column(Integer)  # None: no reminder
    route: Mapped[str] = mapped_column(String(8), default=Route.QUEUE.value)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  (SQLAlchemy reads it once)

    @property
    def scale(self) -> tuple[int, int]:
        return SCALES[self.metric]


class SurveyInvitation(db.Model):
    """One customer invited once to answer one programme about one thing.

    `dedupe_key` names what the invitation is about (p<id>:ticket:<id>, p<id>:contact:<id>,
    p<id>:wave:<wave>:<customer>), so planning twice, or in two processes, invites once. The
    link's token is never stored: the email carries HMAC(SECRET_KEY, nonce), the row keeps the
    nonce and the token's SHA-256, so neither a copy of the database nor of the outbox opens
    an answer page (tokens.py).
    """

    __tablename__ = "survey_invitations"
    __table_args__ = (
        Index("ix_survey_invitations_programme_created", "programme_id", "created_at", "id"),
        Index("ix_survey_invitations_remind", "status", "remind_at"),
        Index("ix_survey_invitations_customer", "customer_id", "created_at"),
        # The funnel's live part and the roll-up read invitations from this index alone.
        Index(
            "ix_survey_invitations_funnel",
            "programme_id",
            "created_at",
            "status",
            "answered_at",
            "message_key",
            "expires_at",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("survey_programmes.id"))
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    customer_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="SET NULL")
    )
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="SET NULL")
    )
    interaction_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("interactions.id", ondelete="SET NULL")
    )
    wave: Mapped[str | None] = mapped_column(String(16))  # e.g. 2026-Q4
    subject_label: Mapped[str] = mapped_column(String(120), default="")  # e.g. CMP-2026-000123
    locale: Mapped[str] = mapped_column(String(16), default="en")
    nonce: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(12), default=InvitationStatus.INVITED.value)
    reason: Mapped[str | None] = mapped_column(String(200))  # why not sent
    message_key: Mapped[str | None] = mapped_column(String(160))  # the outbox row's dedupe key
    created_at: Mapped[datetime]
    send_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    remind_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]


class SurveyAnswer(db.Model):
    """A customer's answer, from the answer page or imported from another tool.

    `invitation_id` is unique: a second submit, a double click or two tabs leave one answer.
    `import_key` is unique: importing the same file again adds nothing.
    """

    __tablename__ = "survey_answers"
    __table_args__ = (
        Index("ix_survey_answers_programme_answered", "programme_id", "answered_at", "id"),
        Index("ix_survey_answers_customer", "customer_id", "answered_at"),
        # The ticket page finds the answers about a ticket and the one a follow-up follows up.
        Index("ix_survey_answers_ticket", "ticket_id"),
        Index("ix_survey_answers_follow_up", "follow_up_ticket_id"),
        # The results' live part reads (day, score) from this index alone; the closed loop
        # reads the few answers with a follow-up from the next.
        Index(
            "ix_survey_answers_programme_scores",
            "programme_id",
            "answered_at",
            "score",
            "score_group",
        ),
        Index(
            "ix_survey_answers_programme_follow_ups",
            "programme_id",
            "answered_at",
            "follow_up_ticket_id",
            sqlite_where=text("follow_up_ticket_id IS NOT NULL"),
            postgresql_where=text("follow_up_ticket_id IS NOT NULL"),
        ),
        CheckConstraint("score_group IN (-1, 0, 1)", name="score_group_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("survey_programmes.id"))
    invitation_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("survey_invitations.id", ondelete="SET NULL"), unique=True
    )
    import_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="SET NULL")
    )
    score: Mapped[int] = mapped_column(SmallInteger)
    score_group: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text, default="")
    choices: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"q1": option index, …}
    locale: Mapped[str] = mapped_column(String(16), default="en")
    source: Mapped[str] = mapped_column(String(8), default="web")  # web, import, demo
    answered_at: Mapped[datetime]
    changed_at: Mapped[datetime | None]
    # The browser that answered may change the answer within an hour (a cookie's SHA-256).
    device_hash: Mapped[str | None] = mapped_column(String(64))
    # What the answer is about, copied when it is recorded (module docstring).
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="SET NULL")
    )
    segment: Mapped[str | None] = mapped_column(String(32))
    product: Mapped[str | None] = mapped_column(String(120))
    cause_code: Mapped[str | None] = mapped_column(String(16))
    channel_code: Mapped[str | None] = mapped_column(String(16))
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolve_days: Mapped[int | None] = mapped_column(Integer)
    breached: Mapped[bool | None] = mapped_column(Boolean)
    contact_channel: Mapped[str | None] = mapped_column(String(8))
    days_since_contact: Mapped[int | None] = mapped_column(Integer)
    # The follow-up ticket an unhappy answer opened (closed loop).
    follow_up_ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="SET NULL")
    )
