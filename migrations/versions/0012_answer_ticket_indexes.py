"""survey answers: indexes for the ticket page's survey panel

Revision ID: 0012_answer_ticket_indexes
Revises: 0011_surveys
Create Date: 2026-12-07 21:05:00.000000

"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0012_answer_ticket_indexes"
down_revision = "0011_surveys"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.create_index("ix_survey_answers_ticket", ["ticket_id"], unique=False)
        batch_op.create_index("ix_survey_answers_follow_up", ["follow_up_ticket_id"], unique=False)


def downgrade():
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_answers_follow_up")
        batch_op.drop_index("ix_survey_answers_ticket")
