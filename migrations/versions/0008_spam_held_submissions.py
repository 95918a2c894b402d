"""tickets: public-form submissions held as suspected spam, for a handler to release or discard

Revision ID: 0008_spam_held_submissions
Revises: 0007_channels
Create Date: 2026-12-07 18:42:47.366194

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_spam_held_submissions'
down_revision = '0007_channels'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('held_submissions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('trap', sa.String(length=12), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=True),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('about', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('request', sa.Text(), nullable=False),
    sa.Column('account_hint', sa.String(length=120), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('customer_number', sa.String(length=32), nullable=False),
    sa.Column('locale', sa.String(length=16), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_by', sa.String(length=120), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('ticket_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('held', 'released', 'discarded')", name=op.f('ck_held_submissions_status_known')),
    sa.CheckConstraint("trap IN ('trap_field', 'time_stamp', 'too_fast')", name=op.f('ck_held_submissions_trap_known')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_held_submissions_decided_by_id_users')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_held_submissions_ticket_id_tickets'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_held_submissions'))
    )
    with op.batch_alter_table('held_submissions', schema=None) as batch_op:
        batch_op.create_index('ix_held_submissions_email_received', ['email', 'received_at'], unique=False)
        batch_op.create_index('ix_held_submissions_status', ['status', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('held_submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_held_submissions_status')
        batch_op.drop_index('ix_held_submissions_email_received')

    op.drop_table('held_submissions')
