"""Closing the loop: an unhappy answer opens a feedback ticket someone must act on.

An NPS detractor (0–6), a CSAT of 1 or 2 or a CES at the worst two points (`score_group` LOW)
opens one follow-up ticket, in the answer's own transaction: the comment is its text, it goes
to the customer's relationship manager or unassigned to the complaint queue as the programme
says, and it names the ticket the answer was about, which gets a note naming the follow-up.
The follow-up is an ordinary ticket: whoever handles it resolves it with the tickets room's
resolution text, which is what was done, and `loop_status` counts the loops so closed.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from portal.accounts.models import User
from portal.core.audit import Actor
from portal.core.extensions import db
from portal.core.transaction import use_case
from portal.customers.models import Customer
from portal.surveys.models import Route, ScoreGroup, SurveyAnswer
from portal.tickets import services
from portal.tickets.events import add_event
from portal.tickets.models import Axis, Kind, Status, Ticket
from portal.tickets.taxonomy import active_or_other
from portal.tickets.validation import SUBJECT_MAX

SOURCE = "survey"
# The answer page is the firm's own website: an online platform, as for the public form.
CHANNEL_CODE = "A0304"
BUSINESS_CODE = "B99"
CAUSE_CODE = "C99"
# A follow-up counts as closed once its handler has said what was done (resolved) or closed it.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LOOP_CLOSED = (Status.RESOLVED.value, Status.CLOSED.value)


class Routed(Protocol):
    """What a follow-up reads of its programme (a `SurveyProgramme` or the answer page's own
    selection of its columns)."""

    name: str
    metric: str
    route: str


def needs_follow_up(answer: SurveyAnswer) -> bool:
    return answer.score_group == ScoreGroup.LOW and answer.follow_up_ticket_id is None


def _assignee(programme: Routed, customer: Customer | None) -> int | None:
    """The customer's RM when the programme routes to RMs and the RM can work; else nobody
    (the complaint queue)."""
    if programme.route != Route.RM.value or customer is None or customer.owner_id is None:
        return None
    rm = db.session.get(User, customer.owner_id)
    return rm.id if rm is not None and rm.active else None


def _subject(programme: Routed, answer: SurveyAnswer, about: Ticket | None) -> str:
    subject = _(
        "Survey follow-up: %(metric)s %(score)d — %(programme)s",
        metric=programme.metric.upper(),
        score=answer.score,
        programme=programme.name,
    )
    if about is not None:
        subject = f"{subject} ({about.reference})"
    return subject if len(subject) <= SUBJECT_MAX else subject[: SUBJECT_MAX - 1] + "…"


@use_case
def open_follow_up(actor: Actor, answer: SurveyAnswer, programme: Routed) -> Ticket:
    """The follow-up ticket of an unhappy `answer`, linked both ways; nested in the answer's
    use case, so the answer and its ticket are saved together or not at all. Staff read it in
    the deployment's language, whatever language the customer answered in."""
    customer = db.session.get(Customer, answer.customer_id) if answer.customer_id else None
    if customer is not None and customer.erased_at is not None:
        customer = None
    about = db.session.get(Ticket, answer.ticket_id) if answer.ticket_id else None
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        subject = _subject(programme, answer, about)
        text = answer.comment or _("The customer left no comment.")
        follows = (
            _("Follows up a survey answer about %(reference)s.", reference=about.reference)
            if about is not None
            else _("Follows up a survey answer.")
        )
    ticket = services.create_ticket(
        actor,
        services.TicketInput(
            kind=Kind.FEEDBACK.value,
            subject=subject,
            channel_code=active_or_other(CHANNEL_CODE, Axis.CHANNEL),
            business_code=about.business_code
            if about is not None
            else active_or_other(BUSINESS_CODE, Axis.BUSINESS),
            cause_code=about.cause_code
            if about is not None
            else active_or_other(CAUSE_CODE, Axis.CAUSE),
            customer_id=customer.id if customer is not None else None,
            account_id=about.account_id if about is not None and customer is not None else None,
            product=about.product if about is not None else None,
            description=text,
            assignee_id=_assignee(programme, customer),
        ),
        source=SOURCE,
    )
    add_event(actor, ticket, "note", body=follows, data={"survey_answer": answer.id})
    if about is not None:
        with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
            note = _(
                "A survey answer about this ticket (%(metric)s %(score)d) opened the "
                "follow-up %(reference)s.",
                metric=programme.metric.upper(),
                score=answer.score,
                reference=ticket.reference,
            )
        add_event(actor, about, "note", body=note, data={"survey_answer": answer.id})
    answer.follow_up_ticket_id = ticket.id
    return ticket


@dataclass(frozen=True)
class LoopStatus:
    """Follow-ups opened by a programme's answers in a period, and how many were closed."""

    opened: int
    closed: int

    @property
    def rate(self) -> float | None:
        """The share of follow-ups closed, None when none was opened."""
        return self.closed / self.opened if self.opened else None


def loop_status(programme_id: int, since: datetime | None, until: datetime) -> LoopStatus:
    """Follow-ups opened by answers to `programme_id` given in [since, until) (since None: from
    the first), and how many of them are resolved or closed now (the "closed the loop" rate).
    Never rolled up, as a follow-up is closed any day: it reads the partial index of the
    answers that have a follow-up."""
    opened = func.count(SurveyAnswer.follow_up_ticket_id)
    closed = func.count(Ticket.id)
    row = db.session.execute(
        select(opened, closed)
        .select_from(SurveyAnswer)
        .outerjoin(
            Ticket,
            (Ticket.id == SurveyAnswer.follow_up_ticket_id) & Ticket.status.in_(LOOP_CLOSED),
        )
        .where(
            SurveyAnswer.programme_id == programme_id,
            SurveyAnswer.answered_at >= (since or EARLIEST),
            SurveyAnswer.answered_at < until,
            SurveyAnswer.follow_up_ticket_id.is_not(None),
        )
    ).one()
    return LoopStatus(opened=row[0] or 0, closed=row[1] or 0)
