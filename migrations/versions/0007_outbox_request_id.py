"""Outbox messages remember the request that queued them.

`request_id` is the id of the web request (or of the job) that wrote the message, so the job's log lines carry
the same id as the request's. NULL for messages written before this revision and for work queued outside a
request (a command, the scheduler).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-21 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('request_id')
