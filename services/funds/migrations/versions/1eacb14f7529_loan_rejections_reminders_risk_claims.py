"""loans: repaying status, principal steps, rejected events, reminders, risk claims

Revision ID: 1eacb14f7529
Revises: a58f4e135d25
Create Date: 2026-12-06 22:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '1eacb14f7529'
down_revision = 'a58f4e135d25'
branch_labels = None
depends_on = None

OLD_STATUSES = "'rated', 'issued', 'overdue', 'extended', 'settled', 'defaulted'"
NEW_STATUSES = "'rated', 'issued', 'repaying', 'overdue', 'extended', 'settled', 'defaulted'"


def upgrade() -> None:
    op.drop_constraint(op.f('ck_loan_status'), 'loan', type_='check')
    op.create_check_constraint(op.f('ck_loan_status'), 'loan', f"status IN ({NEW_STATUSES})")
    op.add_column('loan', sa.Column('steps', postgresql.JSONB(astext_type=sa.Text()), server_default='[]',
                                    nullable=False))
    op.create_table('loan_event_rejection',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('bank_code', sa.String(length=32), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('loan_no', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=True),
    sa.Column('status', sa.SmallInteger(), nullable=False),
    sa.Column('problem_type', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.String(length=2000), nullable=False),
    sa.Column('errors', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('body', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='1', nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_event_rejection')),
    sa.UniqueConstraint('bank_code', 'event_id', name='rejection_once_per_bank')
    )
    op.create_index('ix_loan_event_rejection_bank_id', 'loan_event_rejection', ['bank_code', 'id'], unique=False)
    op.create_table('loan_reminder',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('loan_no', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('on', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('overdue', 'due_soon')", name=op.f('ck_loan_reminder_kind')),
    sa.ForeignKeyConstraint(['loan_no'], ['loan.loan_no'], name=op.f('fk_loan_reminder_loan_no_loan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_reminder')),
    sa.UniqueConstraint('loan_no', 'kind', 'on', name='loan_reminder_once')
    )
    op.create_table('risk_claim',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('loan_no', sa.String(length=64), nullable=False),
    sa.Column('bank_code', sa.String(length=32), nullable=False),
    sa.Column('household_id', sa.BigInteger(), nullable=False),
    sa.Column('region_code', sa.CHAR(length=12), nullable=False),
    sa.Column('defaulted_on', sa.Date(), nullable=False),
    sa.Column('principal', sa.BigInteger(), nullable=False),
    sa.Column('share', sa.Numeric(precision=5, scale=4), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
    sa.Column('reviewed_by', sa.String(length=64), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('allocation_id', sa.BigInteger(), nullable=True),
    sa.Column('entry_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.CheckConstraint("status IN ('open', 'reviewed', 'paid', 'rejected')", name=op.f('ck_risk_claim_status')),
    sa.CheckConstraint('principal >= 0 AND amount >= 0', name=op.f('ck_risk_claim_amounts')),
    sa.CheckConstraint("status <> 'paid' OR (entry_id IS NOT NULL AND allocation_id IS NOT NULL)",
                       name=op.f('ck_risk_claim_paid_entry')),
    sa.CheckConstraint("status <> 'paid' OR decided_by <> reviewed_by", name=op.f('ck_risk_claim_four_eyes')),
    sa.ForeignKeyConstraint(['loan_no'], ['loan.loan_no'], name=op.f('fk_risk_claim_loan_no_loan')),
    sa.ForeignKeyConstraint(['allocation_id'], ['allocation.id'], name=op.f('fk_risk_claim_allocation_id_allocation')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entry.id'], name=op.f('fk_risk_claim_entry_id_ledger_entry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_claim')),
    sa.UniqueConstraint('loan_no', name=op.f('uq_risk_claim_loan_no'))
    )
    op.create_index('ix_risk_claim_region_status', 'risk_claim', ['region_code', 'status'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_risk_claim_region_status', table_name='risk_claim')
    op.drop_table('risk_claim')
    op.drop_table('loan_reminder')
    op.drop_index('ix_loan_event_rejection_bank_id', table_name='loan_event_rejection')
    op.drop_table('loan_event_rejection')
    op.drop_column('loan', 'steps')
    op.execute("UPDATE loan SET status = 'issued' WHERE status = 'repaying'")
    op.drop_constraint(op.f('ck_loan_status'), 'loan', type_='check')
    op.create_check_constraint(op.f('ck_loan_status'), 'loan', f"status IN ({OLD_STATUSES})")
