"""loans

Revision ID: a74b607ed4e4
Revises: ec0f6636eaad
Create Date: 2026-11-23 02:25:53.065344
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision = 'a74b607ed4e4'
down_revision = 'ec0f6636eaad'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('loan',
    sa.Column('loan_no', sa.String(length=64), nullable=False),
    sa.Column('bank_code', sa.String(length=32), nullable=False),
    sa.Column('household_id', sa.BigInteger(), nullable=False),
    sa.Column('region_code', sa.CHAR(length=12), nullable=False),
    sa.Column('id_masked', sa.String(length=18), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rating', sa.String(length=16), nullable=True),
    sa.Column('credit_line', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('principal', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('outstanding', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('rate', sa.Numeric(precision=8, scale=6), nullable=True),
    sa.Column('term_months', sa.SmallInteger(), nullable=True),
    sa.Column('issued_on', sa.Date(), nullable=True),
    sa.Column('overdue_since', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('rated', 'issued', 'overdue', 'extended', 'settled', 'defaulted')", name=op.f('ck_loan_status')),
    sa.PrimaryKeyConstraint('loan_no', name=op.f('pk_loan'))
    )
    op.create_index(op.f('ix_loan_bank_code'), 'loan', ['bank_code'], unique=False)
    op.create_index(op.f('ix_loan_household_id'), 'loan', ['household_id'], unique=False)
    op.create_index('ix_loan_region_status', 'loan', ['region_code', 'status'], unique=False)
    op.create_table('loan_event',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('bank_code', sa.String(length=32), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('loan_no', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=True),
    sa.Column('rate', sa.Numeric(precision=8, scale=6), nullable=True),
    sa.Column('term_months', sa.SmallInteger(), nullable=True),
    sa.Column('credit_line', sa.BigInteger(), nullable=True),
    sa.Column('rating', sa.String(length=16), nullable=True),
    sa.Column('id_hmac', sa.LargeBinary(), nullable=False),
    sa.Column('body_hash', sa.CHAR(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('rated', 'issued', 'repaid', 'overdue', 'extended', 'settled', 'defaulted')", name=op.f('ck_loan_event_kind')),
    sa.ForeignKeyConstraint(['loan_no'], ['loan.loan_no'], name=op.f('fk_loan_event_loan_no_loan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_event')),
    sa.UniqueConstraint('bank_code', 'event_id', name='once_per_bank')
    )
    op.create_index('ix_loan_event_loan_order', 'loan_event', ['loan_no', 'occurred_at', 'id'], unique=False)
    op.create_table('interest_subsidy',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('allocation_id', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('entry_id', sa.BigInteger(), nullable=True),
    sa.Column('lines', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['allocation_id'], ['allocation.id'], name=op.f('fk_interest_subsidy_allocation_id_allocation')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entry.id'], name=op.f('fk_interest_subsidy_entry_id_ledger_entry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_interest_subsidy'))
    )
    op.create_table('subsidized_days',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('loan_no', sa.String(length=64), nullable=False),
    sa.Column('first_day', sa.Date(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.Column('subsidy_id', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['loan_no'], ['loan.loan_no'], name=op.f('fk_subsidized_days_loan_no_loan')),
    sa.ForeignKeyConstraint(['subsidy_id'], ['interest_subsidy.id'], name=op.f('fk_subsidized_days_subsidy_id_interest_subsidy')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subsidized_days'))
    )
    op.create_index(op.f('ix_subsidized_days_loan_no'), 'subsidized_days', ['loan_no'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_subsidized_days_loan_no'), table_name='subsidized_days')
    op.drop_table('subsidized_days')
    op.drop_table('interest_subsidy')
    op.drop_index('ix_loan_event_loan_order', table_name='loan_event')
    op.drop_table('loan_event')
    op.drop_index('ix_loan_region_status', table_name='loan')
    op.drop_index(op.f('ix_loan_household_id'), table_name='loan')
    op.drop_index(op.f('ix_loan_bank_code'), table_name='loan')
    op.drop_table('loan')
