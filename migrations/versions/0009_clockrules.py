"""tickets: timely - whether a US complaint's first company response met the 15-day deadline

Revision ID: 0009_clockrules
Revises: 0008_spam_held_submissions
Create Date: 2026-12-07 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_clockrules'
down_revision = '0008_spam_held_submissions'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timely', sa.Boolean(), nullable=True))


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('timely')
