"""statistics read covering indexes

Revision ID: 1db6c4cfd637
Revises: b9291722abbc
Create Date: 2026-11-23 01:39:39.544254
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '1db6c4cfd637'
down_revision = 'b9291722abbc'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Statistics read covering indexes only (index-only scans); a year's status moves and measures carry their
    # village (and the persons at the move), filled from the household for existing rows.
    op.drop_index(op.f('ix_household_village_status'), table_name='household')
    op.create_index('ix_household_village_tally', 'household', ['village_code', 'status', 'attribute', 'main_cause'], unique=False, postgresql_include=['member_count', 'identified_year', 'helper_user_id'])
    op.add_column('measure', sa.Column('village_code', sa.CHAR(length=12), nullable=True))
    op.execute("UPDATE measure m SET village_code = h.village_code FROM household h WHERE h.id = m.household_id")
    op.alter_column('measure', 'village_code', nullable=False)
    op.drop_index(op.f('ix_measure_batch_year'), table_name='measure')
    op.create_index('ix_measure_year_village', 'measure', ['year', 'village_code'], unique=False, postgresql_include=['batch', 'household_id'])
    op.add_column('status_change', sa.Column('village_code', sa.CHAR(length=12), nullable=True))
    op.add_column('status_change', sa.Column('persons', sa.SmallInteger(), nullable=True))
    op.execute("UPDATE status_change s SET village_code = h.village_code, persons = h.member_count "
               "FROM household h WHERE h.id = s.household_id")
    op.alter_column('status_change', 'village_code', nullable=False)
    op.alter_column('status_change', 'persons', nullable=False)
    op.create_check_constraint(op.f('ck_status_change_persons'), 'status_change', 'persons >= 0')
    op.drop_index(op.f('ix_status_change_to_year'), table_name='status_change')
    op.create_index('ix_status_change_year_village', 'status_change', ['year', 'village_code'], unique=False, postgresql_include=['to_status', 'household_id', 'persons'])


def downgrade() -> None:
    op.drop_index('ix_status_change_year_village', table_name='status_change', postgresql_include=['to_status', 'household_id', 'persons'])
    op.create_index(op.f('ix_status_change_to_year'), 'status_change', ['to_status', 'year'], unique=False)
    op.drop_constraint(op.f('ck_status_change_persons'), 'status_change', type_='check')
    op.drop_column('status_change', 'persons')
    op.drop_column('status_change', 'village_code')
    op.drop_index('ix_measure_year_village', table_name='measure', postgresql_include=['batch', 'household_id'])
    op.create_index(op.f('ix_measure_batch_year'), 'measure', ['batch', 'year'], unique=False)
    op.drop_column('measure', 'village_code')
    op.drop_index('ix_household_village_tally', table_name='household', postgresql_include=['member_count', 'identified_year', 'helper_user_id'])
    op.create_index(op.f('ix_household_village_status'), 'household', ['village_code', 'status'], unique=False)
