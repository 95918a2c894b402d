"""Answers added straight to the table, with the facts the answer page would copy onto them,
for the results, drivers and phrases tests (the answer page itself is tested elsewhere)."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from portal.core.extensions import db
from portal.core.timeutil import utc_now
from portal.surveys.models import SurveyAnswer, score_group


def add_answers(
    programme: Any,
    scores: dict[int, int],
    *,
    at: datetime | None = None,
    comment: str = "",
    **facts: Any,
) -> None:
    """`scores` maps a score to how many answers give it; each answer at `at` (default an hour
    ago, a second apart), with `comment` and the denormalised `facts` (segment, cause_code, …)."""
    start = at or utc_now() - timedelta(hours=1)
    locale = facts.pop("locale", "en")
    rows = []
    for point, count in scores.items():
        for _ in range(count):
            rows.append(
                {
                    "programme_id": programme.id,
                    "score": point,
                    "score_group": score_group(programme.metric, point),
                    "comment": comment,
                    "locale": locale,
                    "source": "web",
                    "answered_at": start - timedelta(seconds=len(rows)),
                    **facts,
                }
            )
    if rows:
        db.session.execute(insert(SurveyAnswer), rows)
        db.session.commit()
