"""ledger posts in account order

Revision ID: e0f96f06c051
Revises: bf38cb572d0c
Create Date: 2026-12-06 22:10:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'e0f96f06c051'
down_revision = 'bf38cb572d0c'
branch_labels = None
depends_on = None

# One posting, however many entries: the accounts it touches are locked first, in one global order (by id),
# so two writers never wait on each other in a cycle (services/funds/ledger/service.py says why); the entries'
# deferred checks run before it returns.
LEDGER_POST = """
CREATE FUNCTION ledger_post(kinds text[], refs text[], actors text[], memos text[], reverses bigint[],
                            line_entry int[], line_account bigint[], line_amount bigint[])
RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
  ids bigint[] := '{}';
  eid bigint;
BEGIN
  PERFORM 1 FROM ledger_account WHERE id = ANY(line_account) ORDER BY id FOR NO KEY UPDATE;
  FOR i IN 1 .. coalesce(array_length(kinds, 1), 0) LOOP
    INSERT INTO ledger_entry (kind, ref, actor, memo, reverses_id)
      VALUES (kinds[i], refs[i], actors[i], memos[i], reverses[i]) RETURNING id INTO eid;
    ids := ids || eid;
  END LOOP;
  INSERT INTO ledger_line (entry_id, account_id, amount)
    SELECT ids[l.e], l.a, l.m FROM unnest(line_entry, line_account, line_amount) AS l(e, a, m) ORDER BY l.a, l.e;
  -- the entries' balance and 专款专用 checks now, not at commit: the caller learns which posting was refused
  SET CONSTRAINTS ledger_entry_check IMMEDIATE;
  SET CONSTRAINTS ledger_entry_check DEFERRED;
  RETURN ids;
END $$
"""


def upgrade() -> None:
    op.execute(LEDGER_POST)
    op.drop_index('ix_ledger_line_account', table_name='ledger_line')
    op.create_index('ix_ledger_line_account_entry', 'ledger_line', ['account_id', 'entry_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ledger_line_account_entry', table_name='ledger_line')
    op.create_index('ix_ledger_line_account', 'ledger_line', ['account_id', 'id'], unique=False)
    op.execute("DROP FUNCTION ledger_post(text[], text[], text[], text[], bigint[], int[], bigint[], bigint[])")
