"""Daily rollups of a programme's answers and invitations, and how far they reach (the mark).

Rows are per local day in the firm's zone (the zone is kept on the mark: rollups made in
another zone are ignored by the readers and rebuilt). What they mean, who writes them and who
must invalidate them: portal/surveys/rollups.py.
"""

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.extensions import db


class SurveyRollupMark(db.Model):
    """How far a programme's rollups reach: answers of the local days up to `answers_through`
    (the live query reads from `answers_until`, the UTC instant that day ends) and
    invitations created up to `invitations_through` (live from `invitations_until`)."""

    __tablename__ = "survey_rollup_marks"

    programme_id: Mapped[int] = mapped_column(
        ForeignKey("survey_programmes.id", ondelete="CASCADE"), primary_key=True
    )
    zone: Mapped[str] = mapped_column(String(64))
    answers_through: Mapped[date | None] = mapped_column(Date)
    answers_until: Mapped[datetime | None]
    invitations_through: Mapped[date | None] = mapped_column(Date)
    invitations_until: Mapped[datetime | None]
    rolled_at: Mapped[datetime | None]


class SurveyRollupScore(db.Model):
    """Answers of one local day by score."""

    __tablename__ = "survey_rollup_scores"

    programme_id: Mapped[int] = mapped_column(
        ForeignKey("survey_programmes.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    score: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    score_group: Mapped[int] = mapped_column(SmallInteger)
    answers: Mapped[int] = mapped_column(Integer)


class SurveyRollupFactor(db.Model):
    """Answers of one local day with one value of one drivers factor (drivers.factor_columns),
    counted per score group; answers that do not know the factor have no row."""

    __tablename__ = "survey_rollup_factors"
    __table_args__ = (
        # The comments page's filter lists: the distinct products and handlers named.
        Index("ix_survey_rollup_factors_values", "programme_id", "factor", "value"),
    )

    programme_id: Mapped[int] = mapped_column(
        ForeignKey("survey_programmes.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    factor: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(120), primary_key=True)
    low: Mapped[int] = mapped_column(Integer)
    middle: Mapped[int] = mapped_column(Integer)
    high: Mapped[int] = mapped_column(Integer)


class SurveyRollupFunnel(db.Model):
    """Invitations created on one local day, by status, whether their outbox message was sent
    and whether they were answered."""

    __tablename__ = "survey_rollup_funnel"

    programme_id: Mapped[int] = mapped_column(
        ForeignKey("survey_programmes.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(12), primary_key=True)
    delivered: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    answered: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    invitations: Mapped[int] = mapped_column(Integer)
