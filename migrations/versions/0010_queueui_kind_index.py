"""tickets: the queue's filter by kind reads an index (kind, is_open, due_at, id)

Revision ID: 0010_queueui_kind_index
Revises: 0009_clockrules
Create Date: 2026-12-01 10:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010_queueui_kind_index'
down_revision = '0009_clockrules'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_kind_due', ['kind', 'is_open', 'due_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_kind_due')
