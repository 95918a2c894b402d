"""The invitations page's read model: one programme's invitations newest first, a keyset page
at a time, each with its customer and what became of its email; and the programme's counts by
status and reason (one GROUP BY over that programme's rows)."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from portal.core.audit import Actor
from portal.core.extensions import db
from portal.customers.models import Customer
from portal.messaging.models import Message
from portal.surveys.models import InvitationStatus, SurveyInvitation, SurveyProgramme
from portal.surveys.programmes import programme as get_programme

PAGE_SIZE = 50
STATUSES = tuple(s.value for s in InvitationStatus)


@dataclass(frozen=True)
class InvitationRow:
    id: int
    customer_id: int | None
    customer_name: str | None
    ticket_id: int | None
    subject_label: str
    wave: str | None
    status: str
    reason: str | None
    created_at: datetime
    send_at: datetime
    expires_at: datetime
    reminded_at: datetime | None
    answered_at: datetime | None
    message_status: str | None
    message_reason: str | None


@dataclass(frozen=True)
class StatusCount:
    status: str
    reason: str | None
    count: int


@dataclass(frozen=True)
class InvitationsPage:
    programme: SurveyProgramme
    rows: list[InvitationRow]
    next_before: int | None
    counts: list[StatusCount]
    status: str


def invitations_page(
    actor: Actor, programme_id: int, status: str = "", before: int | None = None
) -> InvitationsPage:
    programme = get_programme(actor, programme_id)
    status = status if status in STATUSES else ""
    query = (
        select(
            SurveyInvitation.id,
            SurveyInvitation.customer_id,
            Customer.name,
            SurveyInvitation.ticket_id,
            SurveyInvitation.subject_label,
            SurveyInvitation.wave,
            SurveyInvitation.status,
            SurveyInvitation.reason,
            SurveyInvitation.created_at,
            SurveyInvitation.send_at,
            SurveyInvitation.expires_at,
            SurveyInvitation.reminded_at,
            SurveyInvitation.answered_at,
            Message.status,
            Message.held_reason,
        )
        .outerjoin(Customer, Customer.id == SurveyInvitation.customer_id)
        .outerjoin(Message, Message.dedupe_key == SurveyInvitation.message_key)
        .where(SurveyInvitation.programme_id == programme_id)
    )
    if status:
        query = query.where(SurveyInvitation.status == status)
    if before is not None:
        query = query.where(SurveyInvitation.id < before)
    found = db.session.execute(
        query.order_by(SurveyInvitation.id.desc()).limit(PAGE_SIZE + 1)
    ).all()
    rows = [InvitationRow(*row) for row in found[:PAGE_SIZE]]
    counts = [
        StatusCount(row_status, reason, count)
        for row_status, reason, count in db.session.execute(
            select(SurveyInvitation.status, SurveyInvitation.reason, func.count())
            .where(SurveyInvitation.programme_id == programme_id)
            .group_by(SurveyInvitation.status, SurveyInvitation.reason)
            .order_by(func.count().desc())
        )
    ]
    return InvitationsPage(
        programme,
        rows,
        rows[-1].id if len(found) > PAGE_SIZE else None,
        counts,
        status,
    )
