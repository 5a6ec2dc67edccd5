"""monitoring self-reports, screening rows and warnings

Revision ID: 7a3f9c2e5d10
Revises: 7d3f9a2c5e18
Create Date: 2026-12-07 01:45:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '7a3f9c2e5d10'
down_revision = '7d3f9a2c5e18'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'monitoring_report',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('reference', sa.String(length=32), nullable=False),
        sa.Column('village_code', sa.CHAR(length=12), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('id_hmac', sa.LargeBinary(), nullable=False),
        sa.Column('id_enc', sa.LargeBinary(), nullable=False),
        sa.Column('id_masked', sa.String(length=18), nullable=False),
        sa.Column('phone_enc', sa.LargeBinary(), nullable=False),
        sa.Column('phone_masked', sa.String(length=16), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('household_id', sa.BigInteger(), nullable=True),
        sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
        sa.Column('case_id', sa.BigInteger(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('decided_by', sa.String(length=64), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('version', sa.Integer(), server_default='1', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('open', 'accepted', 'dismissed')", name=op.f('ck_monitoring_report_status')),
        sa.CheckConstraint('octet_length(id_hmac) = 32', name=op.f('ck_monitoring_report_id_hmac')),
        sa.CheckConstraint("village_code ~ '^[0-9]{12}$'", name=op.f('ck_monitoring_report_village_code')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_report')),
        sa.UniqueConstraint('reference', name=op.f('uq_monitoring_report_reference')),
    )
    op.create_index(op.f('ix_monitoring_report_id_hmac'), 'monitoring_report', ['id_hmac'])
    op.create_index('ix_monitoring_report_village', 'monitoring_report', ['village_code', 'status', 'id'])
    op.create_index('ix_monitoring_report_open', 'monitoring_report', ['village_code', 'created_at'],
                    postgresql_where=sa.text("status = 'open'"))

    op.create_table(
        'screening_row',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('digest', sa.LargeBinary(), nullable=False),
        sa.Column('job_id', sa.Uuid(), nullable=False),
        sa.Column('id_hmac', sa.LargeBinary(), nullable=False),
        sa.Column('id_masked', sa.String(length=18), nullable=False),
        sa.Column('household_id', sa.BigInteger(), nullable=True),
        sa.Column('department', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('occurred_on', sa.Date(), nullable=False),
        sa.Column('year', sa.SmallInteger(), nullable=False),
        sa.CheckConstraint('octet_length(digest) = 32 AND octet_length(id_hmac) = 32',
                           name=op.f('ck_screening_row_digests')),
        sa.CheckConstraint('amount_fen >= 0', name=op.f('ck_screening_row_amount')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_screening_row')),
        sa.UniqueConstraint('digest', name=op.f('uq_screening_row_digest')),
    )
    op.create_index('ix_screening_row_household_year', 'screening_row', ['household_id', 'year', 'kind'],
                    postgresql_include=['amount_fen'], postgresql_where=sa.text('household_id IS NOT NULL'))
    op.create_index('ix_screening_row_unmatched', 'screening_row', ['id_hmac'],
                    postgresql_where=sa.text('household_id IS NULL'))

    op.create_table(
        'monitoring_warning',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('household_id', sa.BigInteger(), nullable=False),
        sa.Column('village_code', sa.CHAR(length=12), nullable=False),
        sa.Column('rule', sa.String(length=32), nullable=False),
        sa.Column('year', sa.SmallInteger(), nullable=False),
        sa.Column('figures', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
        sa.Column('case_id', sa.BigInteger(), nullable=True),
        sa.Column('job_id', sa.Uuid(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('decided_by', sa.String(length=64), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('version', sa.Integer(), server_default='1', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("status IN ('open', 'case_opened', 'dismissed')",
                           name=op.f('ck_monitoring_warning_status')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_warning')),
    )
    op.create_index('uq_monitoring_warning_open', 'monitoring_warning', ['household_id', 'rule', 'year'],
                    unique=True, postgresql_where=sa.text("status = 'open'"))
    op.create_index('ix_monitoring_warning_village', 'monitoring_warning', ['village_code', 'status', 'id'])
    op.create_index('ix_monitoring_warning_household', 'monitoring_warning', ['household_id', 'rule', 'year'])


def downgrade() -> None:
    op.drop_table('monitoring_warning')
    op.drop_table('screening_row')
    op.drop_table('monitoring_report')
