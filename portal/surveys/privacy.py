"""The customer's survey answers in a data-subject export, and what erasure leaves of them.

Erasure keeps each answer's score, group and copied facts, unlinked from the customer, so a
programme's results do not change after the fact; the comment and the choices, which are the
customer's own words and picks, and the browser's cookie hash are removed. The follow-up
tickets are the customer's tickets and are erased with them by the tickets room.
"""

from typing import Any

from sqlalchemy import select, update

from portal.core.extensions import db
from portal.surveys.models import SurveyAnswer, SurveyInvitation, SurveyProgramme


def export_answers(customer_id: int) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(SurveyAnswer, SurveyProgramme.name, SurveyInvitation.subject_label)
        .join(SurveyProgramme, SurveyProgramme.id == SurveyAnswer.programme_id)
        .outerjoin(SurveyInvitation, SurveyInvitation.id == SurveyAnswer.invitation_id)
        .where(SurveyAnswer.customer_id == customer_id)
        .order_by(SurveyAnswer.answered_at, SurveyAnswer.id)
    ).all()
    return [
        {
            "programme": programme,
            "about": subject or None,
            "answered_at": answer.answered_at.isoformat(),
            "changed_at": answer.changed_at.isoformat() if answer.changed_at else None,
            "score": answer.score,
            "comment": answer.comment,
            "choices": answer.choices,
            "language": answer.locale,
            "source": answer.source,
        }
        for answer, programme, subject in rows
    ]


def erase_answers(customer_id: int) -> None:
    """Blank the words, keep the score; the invitations the answers came through are unlinked
    too, or they would still say whose each answer was."""
    db.session.execute(
        update(SurveyAnswer)
        .where(SurveyAnswer.customer_id == customer_id)
        .values(comment="", choices=None, device_hash=None, customer_id=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(SurveyInvitation)
        .where(SurveyInvitation.customer_id == customer_id)
        .values(customer_id=None)
        .execution_options(synchronize_session=False)
    )
