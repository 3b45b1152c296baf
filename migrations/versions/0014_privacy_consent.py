"""Consents to the privacy notice (issue 15, part 1).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 13:05:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'consents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=True),
        sa.Column('purpose', sa.String(length=32), nullable=False),
        sa.Column('basis', sa.String(length=24), nullable=False),
        sa.Column('guardian_relationship', sa.String(length=16), nullable=True),
        sa.Column('unable_reason_code', sa.String(length=24), nullable=True),
        sa.Column('unable_reason_text', sa.Text(), server_default='', nullable=False),
        sa.Column('notice_version', sa.String(length=16), nullable=False),
        sa.Column('given_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('withdrawn_by_id', sa.Integer(), nullable=True),
        sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('own_consent_requested_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('sensitive_processing', 'public_page')", name=op.f('ck_consents_purpose')
        ),
        sa.CheckConstraint(
            "basis IN ('own', 'guardian', 'patient_confirmed', 'patient_unable')", name=op.f('ck_consents_basis')
        ),
        sa.CheckConstraint(
            "guardian_relationship IS NULL OR guardian_relationship IN ('parent', 'legal_guardian')",
            name=op.f('ck_consents_guardian_relationship'),
        ),
        sa.CheckConstraint(
            "unable_reason_code IS NULL OR unable_reason_code IN"
            " ('unconscious', 'intensive_care', 'cognitive_impairment', 'other')",
            name=op.f('ck_consents_unable_reason_code'),
        ),
        sa.CheckConstraint(
            "(basis = 'guardian') = (guardian_relationship IS NOT NULL)",
            name=op.f('ck_consents_guardian_names_relationship'),
        ),
        sa.CheckConstraint(
            "(basis = 'patient_unable') = (unable_reason_code IS NOT NULL)",
            name=op.f('ck_consents_unable_has_reason'),
        ),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_consents_campaign_id_campaigns')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_consents_user_id_users')),
        sa.ForeignKeyConstraint(
            ['withdrawn_by_id'], ['users.id'], name=op.f('fk_consents_withdrawn_by_id_users')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_consents')),
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index('ix_consents_campaign_purpose', ['campaign_id', 'purpose', 'given_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_consents_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unpublished_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('unpublished_at')

    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_user_id'))
        batch_op.drop_index('ix_consents_campaign_purpose')

    op.drop_table('consents')
