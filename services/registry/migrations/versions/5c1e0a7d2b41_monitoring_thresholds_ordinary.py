"""monitoring thresholds; ordinary households

Revision ID: 5c1e0a7d2b41
Revises: be64d3bde9bf
Create Date: 2026-12-07 01:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '5c1e0a7d2b41'
down_revision = 'be64d3bde9bf'
branch_labels = None
depends_on = None

STATUSES = "'pending', 'registered', 'exited', 'returned', 'removed'"


def upgrade() -> None:
    op.create_table(
        'monitoring_threshold',
        sa.Column('year', sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column('region_code', sa.String(length=12), nullable=False),
        sa.Column('prefix', sa.String(length=12), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('version', sa.Integer(), server_default='1', nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint('amount_fen >= 0', name=op.f('ck_monitoring_threshold_amount')),
        sa.CheckConstraint("region_code LIKE prefix || '%'", name=op.f('ck_monitoring_threshold_prefix')),
        sa.PrimaryKeyConstraint('year', 'region_code', name=op.f('pk_monitoring_threshold')),
    )
    op.drop_constraint(op.f('ck_household_status'), 'household', type_='check')
    op.create_check_constraint(op.f('ck_household_status'), 'household', f"status IN ({STATUSES}, 'ordinary')")


def downgrade() -> None:
    op.drop_constraint(op.f('ck_household_status'), 'household', type_='check')
    op.create_check_constraint(op.f('ck_household_status'), 'household', f"status IN ({STATUSES})")
    op.drop_table('monitoring_threshold')
