"""Data-subject requests and retention (issue 15, parts 2 and 4): `deletion_requests`, a person's request to have
their data erased, its state and its outcome kind by kind (codes with parameters).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 13:05:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('deletion_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('carried_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('waiting_code', sa.String(length=32), nullable=True),
    sa.Column('outcome', sa.JSON(), nullable=False),
    sa.Column('remainder_due_on', sa.Date(), nullable=True),
    sa.CheckConstraint("state IN ('received', 'done', 'partly_done')", name=op.f('ck_deletion_requests_state')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_deletion_requests_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deletion_requests'))
    )
    with op.batch_alter_table('deletion_requests', schema=None) as batch_op:
        batch_op.create_index('ix_deletion_requests_state_due', ['state', 'remainder_due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_deletion_requests_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('deletion_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deletion_requests_user_id'))
        batch_op.drop_index('ix_deletion_requests_state_due')

    op.drop_table('deletion_requests')
