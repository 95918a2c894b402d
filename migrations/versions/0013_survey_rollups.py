"""survey rollups: daily sums of answers and invitations, the marks, and covering indexes

Revision ID: 0013_survey_rollups
Revises: 0012_answer_ticket_indexes
Create Date: 2026-12-07 21:30:00.000000

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0013_survey_rollups"
down_revision = "0012_answer_ticket_indexes"
branch_labels = None
depends_on = None


def _programme(name):
    return sa.Column(
        "programme_id",
        sa.Integer(),
        sa.ForeignKey(
            "survey_programmes.id",
            name=f"fk_{name}_programme_id_survey_programmes",
            ondelete="CASCADE",
        ),
        nullable=False,
    )


def upgrade():
    op.create_table(
        "survey_rollup_marks",
        _programme("survey_rollup_marks"),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("answers_through", sa.Date(), nullable=True),
        sa.Column("answers_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("invitations_through", sa.Date(), nullable=True),
        sa.Column(
            "invitations_until", sa.DateTime(timezone=True), nullable=True
        ),
        sa.Column("rolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("programme_id", name="pk_survey_rollup_marks"),
    )
    op.create_table(
        "survey_rollup_scores",
        _programme("survey_rollup_scores"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("score_group", sa.SmallInteger(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("programme_id", "day", "score", name="pk_survey_rollup_scores"),
    )
    op.create_table(
        "survey_rollup_factors",
        _programme("survey_rollup_factors"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("factor", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=120), nullable=False),
        sa.Column("low", sa.Integer(), nullable=False),
        sa.Column("middle", sa.Integer(), nullable=False),
        sa.Column("high", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "programme_id", "day", "factor", "value", name="pk_survey_rollup_factors"
        ),
    )
    with op.batch_alter_table("survey_rollup_factors", schema=None) as batch_op:
        batch_op.create_index(
            "ix_survey_rollup_factors_values", ["programme_id", "factor", "value"], unique=False
        )
    op.create_table(
        "survey_rollup_funnel",
        _programme("survey_rollup_funnel"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("invitations", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "programme_id", "day", "status", "delivered", "answered", name="pk_survey_rollup_funnel"
        ),
    )
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_survey_answers_programme_scores",
            ["programme_id", "answered_at", "score", "score_group"],
            unique=False,
        )
        batch_op.create_index(
            "ix_survey_answers_programme_follow_ups",
            ["programme_id", "answered_at", "follow_up_ticket_id"],
            unique=False,
            sqlite_where=sa.text("follow_up_ticket_id IS NOT NULL"),
            postgresql_where=sa.text("follow_up_ticket_id IS NOT NULL"),
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_dedupe_key_status", ["dedupe_key", "status"], unique=False
        )
    with op.batch_alter_table("survey_invitations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_survey_invitations_funnel",
            ["programme_id", "created_at", "status", "answered_at", "message_key", "expires_at"],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table("survey_invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_invitations_funnel")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_dedupe_key_status")
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_answers_programme_follow_ups")
        batch_op.drop_index("ix_survey_answers_programme_scores")
    op.drop_table("survey_rollup_funnel")
    with op.batch_alter_table("survey_rollup_factors", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_rollup_factors_values")
    op.drop_table("survey_rollup_factors")
    op.drop_table("survey_rollup_scores")
    op.drop_table("survey_rollup_marks")
