"""disbursements

Revision ID: 9ce3fce4ba01
Revises: 1cf948087f38
Create Date: 2026-11-23 02:12:56.375394
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '9ce3fce4ba01'
down_revision = '1cf948087f38'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('disbursement',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('allocation_id', sa.BigInteger(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('region_code', sa.CHAR(length=12), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='draft', nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('notice_id', sa.BigInteger(), nullable=True),
    sa.Column('approved_by', sa.String(length=64), nullable=True),
    sa.Column('entry_id', sa.BigInteger(), nullable=True),
    sa.Column('bank_code', sa.String(length=32), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.CheckConstraint("status IN ('draft', 'publicizing', 'publicized', 'approved', 'sent', 'done')", name=op.f('ck_disbursement_status')),
    sa.CheckConstraint('approved_by IS NULL OR approved_by <> created_by', name=op.f('ck_disbursement_four_eyes')),
    sa.CheckConstraint('total > 0', name=op.f('ck_disbursement_total')),
    sa.ForeignKeyConstraint(['allocation_id'], ['allocation.id'], name=op.f('fk_disbursement_allocation_id_allocation')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entry.id'], name=op.f('fk_disbursement_entry_id_ledger_entry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disbursement'))
    )
    op.create_index(op.f('ix_disbursement_allocation_id'), 'disbursement', ['allocation_id'], unique=False)
    op.create_index(op.f('ix_disbursement_bank_code'), 'disbursement', ['bank_code'], unique=False)
    op.create_index(op.f('ix_disbursement_region_code'), 'disbursement', ['region_code'], unique=False)
    op.create_table('disbursement_line',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('disbursement_id', sa.BigInteger(), nullable=False),
    sa.Column('household_id', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('memo', sa.Text(), server_default='', nullable=False),
    sa.Column('village_code', sa.CHAR(length=12), nullable=False),
    sa.Column('household_no', sa.String(length=20), nullable=False),
    sa.Column('head_name', sa.String(length=64), nullable=False),
    sa.Column('head_id_masked', sa.String(length=18), nullable=True),
    sa.Column('head_id_enc', sa.LargeBinary(), nullable=True),
    sa.Column('phone_enc', sa.LargeBinary(), nullable=True),
    sa.Column('account_bank_code', sa.String(length=32), nullable=True),
    sa.Column('account_enc', sa.LargeBinary(), nullable=True),
    sa.Column('account_masked', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='listed', nullable=False),
    sa.Column('bank_ref', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('final_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('listed', 'struck', 'paid', 'failed')", name=op.f('ck_disbursement_line_status')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_disbursement_line_amount')),
    sa.ForeignKeyConstraint(['disbursement_id'], ['disbursement.id'], name=op.f('fk_disbursement_line_disbursement_id_disbursement')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disbursement_line')),
    sa.UniqueConstraint('disbursement_id', 'household_id', name='one_line_per_household')
    )
    op.create_index(op.f('ix_disbursement_line_household_id'), 'disbursement_line', ['household_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_disbursement_line_household_id'), table_name='disbursement_line')
    op.drop_table('disbursement_line')
    op.drop_index(op.f('ix_disbursement_region_code'), table_name='disbursement')
    op.drop_index(op.f('ix_disbursement_bank_code'), table_name='disbursement')
    op.drop_index(op.f('ix_disbursement_allocation_id'), table_name='disbursement')
    op.drop_table('disbursement')
