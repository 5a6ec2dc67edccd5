"""allocations and ledger

Revision ID: 1cf948087f38
Revises: 1b71ed400590
Create Date: 2026-11-23 02:06:53.034545
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '1cf948087f38'
down_revision = '1b71ed400590'
branch_labels = None
depends_on = None

# The ledger's rules, held by the database (services/funds/ledger/models.py says why).
LEDGER_RULES = """
CREATE FUNCTION ledger_line_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE ledger_account SET balance = balance + NEW.amount WHERE id = NEW.account_id;
  RETURN NEW;
END $$;
--
CREATE TRIGGER ledger_line_apply AFTER INSERT ON ledger_line FOR EACH ROW EXECUTE FUNCTION ledger_line_apply();
--
CREATE FUNCTION ledger_entry_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  rule text; total numeric; purposes int; regions int; sources int;
BEGIN
  SELECT CASE WHEN e.kind = 'reverse' THEN r.kind ELSE e.kind END INTO rule
  FROM ledger_entry e LEFT JOIN ledger_entry r ON r.id = e.reverses_id WHERE e.id = NEW.entry_id;
  SELECT sum(l.amount), count(DISTINCT a.purpose), count(DISTINCT a.region_code), count(DISTINCT a.source_id)
    INTO total, purposes, regions, sources
  FROM ledger_line l JOIN ledger_account a ON a.id = l.account_id WHERE l.entry_id = NEW.entry_id;
  IF total <> 0 THEN
    RAISE EXCEPTION 'ledger entry % does not balance (% fen)', NEW.entry_id, total
      USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_balanced';
  END IF;
  IF sources > 1 OR regions > 1 OR (purposes > 1 AND rule <> 'adjust') THEN
    RAISE EXCEPTION 'ledger entry % moves money across purposes, regions or sources', NEW.entry_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_earmark';
  END IF;
  RETURN NULL;
END $$;
--
CREATE CONSTRAINT TRIGGER ledger_entry_check AFTER INSERT ON ledger_line DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION ledger_entry_check();
--
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: correct it with a reversing entry', TG_TABLE_NAME
    USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_append_only';
END $$;
--
CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON ledger_entry
  FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
--
CREATE TRIGGER ledger_line_append_only BEFORE UPDATE OR DELETE ON ledger_line
  FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
"""

DROP_LEDGER_RULES = """
DROP TRIGGER ledger_line_append_only ON ledger_line;
DROP TRIGGER ledger_entry_append_only ON ledger_entry;
DROP FUNCTION ledger_append_only();
DROP TRIGGER ledger_entry_check ON ledger_line;
DROP FUNCTION ledger_entry_check();
DROP TRIGGER ledger_line_apply ON ledger_line;
DROP FUNCTION ledger_line_apply();
"""


def upgrade() -> None:
    op.create_table('ledger_entry',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('memo', sa.Text(), server_default='', nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('reverses_id', sa.BigInteger(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(kind = 'reverse') = (reverses_id IS NOT NULL)", name=op.f('ck_ledger_entry_reverses')),
    sa.CheckConstraint("kind IN ('allocate', 'adjust', 'commit', 'release', 'spend', 'reverse')", name=op.f('ck_ledger_entry_kind')),
    sa.ForeignKeyConstraint(['reverses_id'], ['ledger_entry.id'], name=op.f('fk_ledger_entry_reverses_id_ledger_entry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entry')),
    sa.UniqueConstraint('reverses_id', name=op.f('uq_ledger_entry_reverses_id'))
    )
    op.create_index(op.f('ix_ledger_entry_ref'), 'ledger_entry', ['ref'], unique=False)
    op.create_table('allocation',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('source_id', sa.BigInteger(), nullable=False),
    sa.Column('region_code', sa.CHAR(length=12), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('year', sa.SmallInteger(), nullable=False),
    sa.Column('doc_no', sa.String(length=100), nullable=False),
    sa.Column('granted', sa.BigInteger(), nullable=False),
    sa.Column('adjustment_id', sa.BigInteger(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.CheckConstraint("purpose IN ('industry', 'infrastructure', 'relocation', 'education', 'health', 'housing', 'loan_interest', 'risk_compensation', 'employment', 'training', 'social_security')", name=op.f('ck_allocation_purpose')),
    sa.CheckConstraint('granted > 0', name=op.f('ck_allocation_granted')),
    sa.ForeignKeyConstraint(['source_id'], ['fund_source.id'], name=op.f('fk_allocation_source_id_fund_source')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_allocation'))
    )
    op.create_index(op.f('ix_allocation_region_code'), 'allocation', ['region_code'], unique=False)
    op.create_index(op.f('ix_allocation_source_id'), 'allocation', ['source_id'], unique=False)
    op.create_table('adjustment',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('allocation_id', sa.BigInteger(), nullable=False),
    sa.Column('to_purpose', sa.String(length=32), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='proposed', nullable=False),
    sa.Column('proposed_by', sa.String(length=64), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('new_allocation_id', sa.BigInteger(), nullable=True),
    sa.Column('entry_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.CheckConstraint("status IN ('proposed', 'approved', 'rejected')", name=op.f('ck_adjustment_status')),
    sa.CheckConstraint("to_purpose IN ('industry', 'infrastructure', 'relocation', 'education', 'health', 'housing', 'loan_interest', 'risk_compensation', 'employment', 'training', 'social_security')", name=op.f('ck_adjustment_to_purpose')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_adjustment_amount')),
    sa.CheckConstraint("status <> 'approved' OR decided_by <> proposed_by", name=op.f('ck_adjustment_four_eyes')),
    sa.ForeignKeyConstraint(['allocation_id'], ['allocation.id'], name=op.f('fk_adjustment_allocation_id_allocation')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entry.id'], name=op.f('fk_adjustment_entry_id_ledger_entry')),
    sa.ForeignKeyConstraint(['new_allocation_id'], ['allocation.id'], name=op.f('fk_adjustment_new_allocation_id_allocation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adjustment'))
    )
    op.create_index(op.f('ix_adjustment_allocation_id'), 'adjustment', ['allocation_id'], unique=False)
    op.create_table('ledger_account',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.BigInteger(), nullable=False),
    sa.Column('allocation_id', sa.BigInteger(), nullable=True),
    sa.Column('purpose', sa.String(length=32), nullable=True),
    sa.Column('region_code', sa.CHAR(length=12), nullable=True),
    sa.Column('balance', sa.BigInteger(), server_default='0', nullable=False),
    sa.CheckConstraint("(kind = 'source') = (allocation_id IS NULL)", name=op.f('ck_ledger_account_owner')),
    sa.CheckConstraint("kind = 'source' OR balance >= 0", name=op.f('ck_ledger_account_balance')),
    sa.CheckConstraint("kind IN ('source', 'available', 'committed', 'spent')", name=op.f('ck_ledger_account_kind')),
    sa.ForeignKeyConstraint(['allocation_id'], ['allocation.id'], name=op.f('fk_ledger_account_allocation_id_allocation')),
    sa.ForeignKeyConstraint(['source_id'], ['fund_source.id'], name=op.f('fk_ledger_account_source_id_fund_source')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_account'))
    )
    op.create_index('uq_ledger_account_allocation', 'ledger_account', ['allocation_id', 'kind'], unique=True, postgresql_where=sa.text('allocation_id IS NOT NULL'))
    op.create_index('uq_ledger_account_source', 'ledger_account', ['source_id'], unique=True, postgresql_where=sa.text("kind = 'source'"))
    op.create_table('ledger_line',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('entry_id', sa.BigInteger(), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('amount <> 0', name=op.f('ck_ledger_line_amount')),
    sa.ForeignKeyConstraint(['account_id'], ['ledger_account.id'], name=op.f('fk_ledger_line_account_id_ledger_account')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entry.id'], name=op.f('fk_ledger_line_entry_id_ledger_entry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_line'))
    )
    op.create_index('ix_ledger_line_account', 'ledger_line', ['account_id', 'id'], unique=False)
    op.create_index(op.f('ix_ledger_line_entry_id'), 'ledger_line', ['entry_id'], unique=False)
    for statement in LEDGER_RULES.split("\n--\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    for statement in DROP_LEDGER_RULES.strip().splitlines():
        op.execute(statement)
    op.drop_index(op.f('ix_ledger_line_entry_id'), table_name='ledger_line')
    op.drop_index('ix_ledger_line_account', table_name='ledger_line')
    op.drop_table('ledger_line')
    op.drop_index('uq_ledger_account_source', table_name='ledger_account', postgresql_where=sa.text("kind = 'source'"))
    op.drop_index('uq_ledger_account_allocation', table_name='ledger_account', postgresql_where=sa.text('allocation_id IS NOT NULL'))
    op.drop_table('ledger_account')
    op.drop_index(op.f('ix_adjustment_allocation_id'), table_name='adjustment')
    op.drop_table('adjustment')
    op.drop_index(op.f('ix_allocation_source_id'), table_name='allocation')
    op.drop_index(op.f('ix_allocation_region_code'), table_name='allocation')
    op.drop_table('allocation')
    op.drop_index(op.f('ix_ledger_entry_ref'), table_name='ledger_entry')
    op.drop_table('ledger_entry')
