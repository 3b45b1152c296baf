"""Ledger accounts that may not go negative keep their balance on the row.

A posting to a campaign fund, project budget or project commitment summed all of the account's entries to
check the rule, so it grew slower with every donation the campaign had had. The account row now stores its
balance (`balance_fen`) and counts its changes (`version`); post_transfer updates them with the entries, in the
same transaction, under the row lock it holds for the check.

The other accounts (donor clearing, fees, refunds, disputes, platform reserve, hospital payouts) are touched
by every gift: updating their rows would make concurrent postings queue behind one another, so their balance
stays the sum of their entries and their `balance_fen` stays 0.

The upgrade fills each guarded account's balance from its entries (`flask ledger check` compares them from
now on). Only columns are added, so SQLite alters the table in place instead of copying it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-20 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# fundraise.models.ledger.NON_NEGATIVE_KINDS, as it stood when this was written (migrations never import
# application code).
NON_NEGATIVE = "'campaign_fund', 'project_budget', 'project_commitment'"


def upgrade():
    with op.batch_alter_table('ledger_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('balance_fen', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='0', nullable=False))

    op.execute(
        "UPDATE ledger_accounts SET balance_fen = ("
        "SELECT COALESCE(SUM(amount_fen), 0) FROM ledger_entries WHERE account_id = ledger_accounts.id"
        f") WHERE kind IN ({NON_NEGATIVE})"
    )


def downgrade():
    # SQLite (3.35 and later) drops a column in place; copying the table, which batch mode would otherwise
    # do, is refused while ledger entries refer to it.
    with op.batch_alter_table('ledger_accounts', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('version')
        batch_op.drop_column('balance_fen')
