"""projects

Revision ID: ec0f6636eaad
Revises: 9ce3fce4ba01
Create Date: 2026-11-23 02:19:43.197377
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision = 'ec0f6636eaad'
down_revision = '9ce3fce4ba01'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('project',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('village_code', sa.CHAR(length=12), nullable=False),
    sa.Column('budget', sa.BigInteger(), nullable=False),
    sa.Column('beneficiary_household_ids', postgresql.ARRAY(sa.BigInteger()), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='proposed', nullable=False),
    sa.Column('proposed_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.CheckConstraint("purpose IN ('industry', 'infrastructure', 'relocation', 'education', 'health', 'housing', 'loan_interest', 'risk_compensation', 'employment', 'training', 'social_security')", name=op.f('ck_project_purpose')),
    sa.CheckConstraint("status IN ('proposed', 'approved', 'in_progress', 'inspected', 'accepted', 'settled', 'rejected', 'cancelled')", name=op.f('ck_project_status')),
    sa.CheckConstraint('budget > 0', name=op.f('ck_project_budget')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project'))
    )
    op.create_index(op.f('ix_project_village_code'), 'project', ['village_code'], unique=False)
    op.create_table('project_payment',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('payee', sa.String(length=200), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('memo', sa.Text(), server_default='', nullable=False),
    sa.Column('entry_ids', postgresql.ARRAY(sa.BigInteger()), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("stage IN ('advance', 'progress', 'final')", name=op.f('ck_project_payment_stage')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_project_payment_amount')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_project_payment_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_payment'))
    )
    op.create_index(op.f('ix_project_payment_project_id'), 'project_payment', ['project_id'], unique=False)
    op.create_table('project_funding',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('allocation_id', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('spent', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('released', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('entry_id', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_project_funding_amount')),
    sa.CheckConstraint('spent >= 0 AND released >= 0 AND spent + released <= amount', name=op.f('ck_project_funding_use')),
    sa.ForeignKeyConstraint(['allocation_id'], ['allocation.id'], name=op.f('fk_project_funding_allocation_id_allocation')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entry.id'], name=op.f('fk_project_funding_entry_id_ledger_entry')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_project_funding_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_funding'))
    )
    op.create_index(op.f('ix_project_funding_project_id'), 'project_funding', ['project_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_project_funding_project_id'), table_name='project_funding')
    op.drop_table('project_funding')
    op.drop_index(op.f('ix_project_payment_project_id'), table_name='project_payment')
    op.drop_table('project_payment')
    op.drop_index(op.f('ix_project_village_code'), table_name='project')
    op.drop_table('project')
