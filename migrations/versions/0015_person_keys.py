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
    pass


def downgrade():
    pass
