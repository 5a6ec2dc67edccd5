"""ledger balances only through lines

Revision ID: 9f5e497f7138
Revises: a74b607ed4e4
Create Date: 2026-11-23 02:42:18.055318
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '9f5e497f7138'
down_revision = 'a74b607ed4e4'
branch_labels = None
depends_on = None


# An account's balance moves only inside ledger_line_apply (trigger depth 2); its owner and kind never change.
GUARD = """
CREATE FUNCTION ledger_account_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.balance IS DISTINCT FROM OLD.balance AND pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'ledger_account balances change only through ledger lines'
      USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_account_guard';
  END IF;
  IF (NEW.kind, NEW.source_id, NEW.allocation_id, NEW.purpose, NEW.region_code) IS DISTINCT FROM
     (OLD.kind, OLD.source_id, OLD.allocation_id, OLD.purpose, OLD.region_code) THEN
    RAISE EXCEPTION 'a ledger account never changes owner, kind, purpose or region'
      USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_account_guard';
  END IF;
  RETURN NEW;
END $$
"""


def upgrade() -> None:
    op.execute(GUARD)
    op.execute("CREATE TRIGGER ledger_account_guard BEFORE UPDATE ON ledger_account "
               "FOR EACH ROW EXECUTE FUNCTION ledger_account_guard()")
    op.execute("CREATE TRIGGER ledger_account_no_delete BEFORE DELETE ON ledger_account "
               "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()")


def downgrade() -> None:
    op.execute("DROP TRIGGER ledger_account_no_delete ON ledger_account")
    op.execute("DROP TRIGGER ledger_account_guard ON ledger_account")
    op.execute("DROP FUNCTION ledger_account_guard()")
