"""The audit log is sealed after commit and checkpointed.

Events gain `seq`, their place in the chain, given by the sealer; `prev_hash` and `hash` may now be empty
until then. The events already in the chain were chained in id order, so they take seq 1, 2, … in id order
and keep their hashes: nothing that was signed or published changes. A partial index lists what is left to
seal. Signed checkpoints of the chain's head go in `audit_checkpoints`; the first one is written by the
sealer's next run.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 00:30:00.000000

"""
from alembic import op
import sqlalchemy as sa
from fundraise.models.columns import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=True)
    op.execute(
        "UPDATE audit_events SET seq = numbered.n"
        " FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n FROM audit_events) AS numbered"
        " WHERE numbered.id = audit_events.id"
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_audit_events_seq'), ['seq'])
        batch_op.create_index(
            'ix_audit_events_unsealed',
            ['id'],
            unique=False,
            postgresql_where=sa.text('seq IS NULL'),
            sqlite_where=sa.text('seq IS NULL'),
        )

    op.create_table('audit_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.Column('sealed_at', UTCDateTime(), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints'))
    )
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_checkpoints_seq'), ['seq'], unique=False)


def downgrade():
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_checkpoints_seq'))
    op.drop_table('audit_checkpoints')
    # Events not sealed yet cannot stay without a hash under the old schema: seal them first
    # (`flask audit seal`); this refuses rather than dropping them.
    unsealed = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM audit_events WHERE seq IS NULL")).scalar()
    if unsealed:
        raise RuntimeError(f"{unsealed} audit events are not sealed; run `flask audit seal` before downgrading")
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_unsealed', postgresql_where=sa.text('seq IS NULL'), sqlite_where=sa.text('seq IS NULL'))
        batch_op.drop_constraint(batch_op.f('uq_audit_events_seq'), type_='unique')
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column('seq')
