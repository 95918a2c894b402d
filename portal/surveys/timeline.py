"""Survey answers where staff meet them: the customer 360 timeline and the ticket page.

The timeline reads a page of the customer's answers from the (customer, answered_at) index.
The ticket page shows the answers about the ticket and the answer a follow-up ticket follows
up, each found by its own index, with the follow-up's state: once its handler has resolved it,
the resolution is what was done and the loop is closed.
"""

from dataclasses import dataclass

from sqlalchemy import or_, select

from portal.core.audit import Actor
from portal.core.extensions import db
from portal.customers.timeline import Cursor, Source, TimelineEntry
from portal.surveys.follow_up import LOOP_CLOSED
from portal.surveys.models import SurveyAnswer, SurveyProgramme
from portal.tickets.models import Ticket
from portal.tickets.page_panels import TicketPanel

ANSWERS = Source(
    "survey_answer",
    lambda: select(SurveyAnswer, SurveyProgramme.name, SurveyProgramme.metric).join(
        SurveyProgramme, SurveyProgramme.id == SurveyAnswer.programme_id
    ),
    SurveyAnswer.customer_id,
    SurveyAnswer.answered_at,
    SurveyAnswer.id,
)


@dataclass(frozen=True)
class ShownAnswer:
    """An answer as staff read it: its programme and the tickets on either side of the loop."""

    answer: SurveyAnswer
    programme: str
    metric: str
    about: Ticket | None
    follow_up: Ticket | None

    @property
    def loop_closed(self) -> bool:
        return self.follow_up is not None and self.follow_up.status in LOOP_CLOSED


def _tickets(ids: set[int]) -> dict[int, Ticket]:
    if not ids:
        return {}
    return {t.id: t for t in db.session.scalars(select(Ticket).where(Ticket.id.in_(ids)))}


def _shown(rows: list[tuple[SurveyAnswer, str, str]]) -> list[ShownAnswer]:
    tickets = _tickets(
        {a.ticket_id for a, _n, _m in rows if a.ticket_id}
        | {a.follow_up_ticket_id for a, _n, _m in rows if a.follow_up_ticket_id}
    )
    return [
        ShownAnswer(
            answer,
            name,
            metric,
            tickets.get(answer.ticket_id) if answer.ticket_id else None,
            tickets.get(answer.follow_up_ticket_id) if answer.follow_up_ticket_id else None,
        )
        for answer, name, metric in rows
    ]


def answer_entries(customer_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    rows = [tuple(row) for row in ANSWERS.newest_first(customer_id, before, limit)]
    return [
        TimelineEntry(
            shown.answer.answered_at,
            "survey_answer",
            shown.answer.id,
            "surveys/_answer_entry.html",
            shown,
        )
        for shown in _shown(rows)  # type: ignore[arg-type]
    ]


def ticket_panel(_actor: Actor, ticket: Ticket) -> TicketPanel | None:
    """The survey answers about `ticket` or followed up by it; None when there are none. The
    ticket page has already checked that the viewer may see the ticket."""
    rows = db.session.execute(
        select(SurveyAnswer, SurveyProgramme.name, SurveyProgramme.metric)
        .join(SurveyProgramme, SurveyProgramme.id == SurveyAnswer.programme_id)
        .where(
            or_(SurveyAnswer.ticket_id == ticket.id, SurveyAnswer.follow_up_ticket_id == ticket.id)
        )
        .order_by(SurveyAnswer.answered_at.desc(), SurveyAnswer.id.desc())
        .limit(20)
    ).all()
    if not rows:
        return None
    return TicketPanel("surveys/_answer_ticket_panel.html", _shown([tuple(r) for r in rows]))  # type: ignore[misc]
