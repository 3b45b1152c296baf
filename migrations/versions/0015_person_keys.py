"""Per-person keys for personal details in the audit log and ledger (issue 15, part 3).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 13:05:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'person_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subject', sa.String(length=80), nullable=False),
        sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_person_keys')),
        sa.UniqueConstraint('subject', name=op.f('uq_person_keys_subject')),
    )


def downgrade():
    op.drop_table('person_keys')
