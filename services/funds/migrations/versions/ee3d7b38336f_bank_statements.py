"""bank statements (对账) and refunds of reversed lines

Revision ID: ee3d7b38336f
Revises: ccea66f22c2d
Create Date: 2026-12-06 22:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision = 'ee3d7b38336f'
down_revision = 'ccea66f22c2d'
branch_labels = None
depends_on = None

KINDS = "'allocate', 'adjust', 'commit', 'release', 'spend', 'reverse'"


def upgrade() -> None:
    # 退回: a new entry kind (spent → available), at most once per line (its ref names the line)
    op.drop_constraint(op.f('ck_ledger_entry_kind'), 'ledger_entry', type_='check')
    op.create_check_constraint(op.f('ck_ledger_entry_kind'), 'ledger_entry', f"kind IN ({KINDS}, 'refund')")
    op.create_index('uq_ledger_entry_refund', 'ledger_entry', ['ref'], unique=True,
                    postgresql_where=sa.text("kind = 'refund'"))
    op.create_table('bank_statement',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('bank_code', sa.String(length=32), nullable=False),
    sa.Column('statement_id', sa.String(length=64), nullable=False),
    sa.Column('booked_on', sa.Date(), nullable=False),
    sa.Column('entry_count', sa.Integer(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('reversed_total', sa.BigInteger(), nullable=False),
    sa.Column('content_hash', sa.CHAR(length=64), nullable=False),
    sa.Column('answer', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('received_by', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('entry_count >= 0', name=op.f('ck_bank_statement_entry_count')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_statement')),
    sa.UniqueConstraint('bank_code', 'statement_id', name='statement_once_per_bank')
    )
    op.create_table('bank_statement_entry',
    sa.Column('statement_pk', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('disbursement_id', sa.BigInteger(), nullable=False),
    sa.Column('line_id', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('booked_on', sa.Date(), nullable=False),
    sa.Column('bank_ref', sa.String(length=64), nullable=True),
    sa.Column('reversal', sa.Boolean(), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_bank_statement_entry_amount')),
    sa.PrimaryKeyConstraint('statement_pk', 'seq', name=op.f('pk_bank_statement_entry'))
    )
    op.create_index('ix_bank_statement_entry_line', 'bank_statement_entry', ['disbursement_id', 'line_id'],
                    unique=False)
    op.create_table('payment_reversal',
    sa.Column('line_id', sa.BigInteger(), nullable=False),
    sa.Column('disbursement_id', sa.BigInteger(), nullable=False),
    sa.Column('allocation_id', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('entry_id', sa.BigInteger(), nullable=False),
    sa.Column('statement_pk', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payment_reversal_amount')),
    sa.ForeignKeyConstraint(['allocation_id'], ['allocation.id'],
                            name=op.f('fk_payment_reversal_allocation_id_allocation')),
    sa.ForeignKeyConstraint(['disbursement_id'], ['disbursement.id'],
                            name=op.f('fk_payment_reversal_disbursement_id_disbursement')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entry.id'], name=op.f('fk_payment_reversal_entry_id_ledger_entry')),
    sa.ForeignKeyConstraint(['line_id'], ['disbursement_line.id'],
                            name=op.f('fk_payment_reversal_line_id_disbursement_line')),
    sa.ForeignKeyConstraint(['statement_pk'], ['bank_statement.id'],
                            name=op.f('fk_payment_reversal_statement_pk_bank_statement')),
    sa.PrimaryKeyConstraint('line_id', name=op.f('pk_payment_reversal')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_payment_reversal_entry_id'))
    )
    op.create_index(op.f('ix_payment_reversal_disbursement_id'), 'payment_reversal', ['disbursement_id'], unique=False)
    op.create_index(op.f('ix_payment_reversal_statement_pk'), 'payment_reversal', ['statement_pk'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_payment_reversal_statement_pk'), table_name='payment_reversal')
    op.drop_index(op.f('ix_payment_reversal_disbursement_id'), table_name='payment_reversal')
    op.drop_table('payment_reversal')
    op.drop_index('ix_bank_statement_entry_line', table_name='bank_statement_entry')
    op.drop_table('bank_statement_entry')
    op.drop_table('bank_statement')
    op.drop_index('uq_ledger_entry_refund', table_name='ledger_entry', postgresql_where=sa.text("kind = 'refund'"))
    op.drop_constraint(op.f('ck_ledger_entry_kind'), 'ledger_entry', type_='check')
    op.create_check_constraint(op.f('ck_ledger_entry_kind'), 'ledger_entry', f"kind IN ({KINDS})")

