"""Referral, admissions and the plan's next-year part; dated year-to-date figures in the record feeds.

Campaigns gain the family's answer whether out-of-region treatment was referred and filed with the medical
insurance (转诊/异地就医备案; NULL: not answered) and who confirmed it when, the number of admissions the plan
needs, and the admissions and cost of it that fall in the next calendar year. Existing campaigns are one
admission ending this year, with the referral not answered: what verification assumed of them before.

The record tables gain the date their year-to-date figures stand at (NULL: undated, taken as standing before
the treatment), the enrolment table the year's in-policy self-pay after basic insurance (NULL: not stated),
and the civil-affairs classes 返贫致贫人口 (returned_to_poverty).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

CLASSES = "'tekun', 'dibao', 'dibao_edge', 'monitored', 'illness_impoverished'"


def upgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('admissions', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('next_year_admissions', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_year_cost_fen', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('referral_filed', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('referral_confirmed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('referral_confirmed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_campaigns_referral_confirmed_by_id_users'), 'users', ['referral_confirmed_by_id'], ['id']
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_campaigns_admissions'), 'admissions >= 1 AND admissions <= 60'
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_campaigns_next_year'),
            'next_year_admissions >= 0 AND next_year_admissions <= admissions'
            ' AND next_year_cost_fen >= 0 AND next_year_cost_fen <= cost_total_fen',
        )

    with op.batch_alter_table('basic_enrolment_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ytd_in_policy_self_pay_fen', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('ytd_as_of', sa.Date(), nullable=True))
        batch_op.create_check_constraint(
            batch_op.f('ck_basic_enrolment_records_ytd_self_pay'),
            'ytd_in_policy_self_pay_fen IS NULL OR ytd_in_policy_self_pay_fen >= 0',
        )

    with op.batch_alter_table('critical_illness_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ytd_as_of', sa.Date(), nullable=True))

    with op.batch_alter_table('civil_affairs_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ytd_as_of', sa.Date(), nullable=True))
        batch_op.drop_constraint(batch_op.f('ck_civil_affairs_records_assistance_class'), type_='check')
        batch_op.create_check_constraint(
            batch_op.f('ck_civil_affairs_records_assistance_class'),
            f"assistance_class IN ({CLASSES}, 'returned_to_poverty')",
        )


def downgrade():
    # Records of the new class cannot be kept under the old constraint.
    op.execute("DELETE FROM civil_affairs_records WHERE assistance_class = 'returned_to_poverty'")
    with op.batch_alter_table('civil_affairs_records', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_civil_affairs_records_assistance_class'), type_='check')
        batch_op.create_check_constraint(
            batch_op.f('ck_civil_affairs_records_assistance_class'), f"assistance_class IN ({CLASSES})"
        )
        batch_op.drop_column('ytd_as_of')

    with op.batch_alter_table('critical_illness_records', schema=None) as batch_op:
        batch_op.drop_column('ytd_as_of')

    with op.batch_alter_table('basic_enrolment_records', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_basic_enrolment_records_ytd_self_pay'), type_='check')
        batch_op.drop_column('ytd_as_of')
        batch_op.drop_column('ytd_in_policy_self_pay_fen')

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_campaigns_next_year'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_campaigns_admissions'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_campaigns_referral_confirmed_by_id_users'), type_='foreignkey')
        batch_op.drop_column('referral_confirmed_at')
        batch_op.drop_column('referral_confirmed_by_id')
        batch_op.drop_column('referral_filed')
        batch_op.drop_column('next_year_cost_fen')
        batch_op.drop_column('next_year_admissions')
        batch_op.drop_column('admissions')
