"""member → household checked once per statement

Revision ID: 26d178dd40cf
Revises: 1db6c4cfd637
Create Date: 2026-11-23 07:40:00

PostgreSQL checks a foreign key row by row: one look-up and one row lock per inserted member, a third of what a
COPY of members costs. Households are never deleted and never change id (清退 is a status), so the reference is
checked once per statement instead, over the statement's new rows (a transition table), and the household side is
guarded by triggers that refuse a deletion, an id change, or emptying the table while members remain. The error
is the foreign key's: SQLSTATE 23503 naming fk_member_household_id_household.
"""
from alembic import op


revision = '26d178dd40cf'
down_revision = '1db6c4cfd637'
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE member DROP CONSTRAINT fk_member_household_id_household;

CREATE FUNCTION member_household_present() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  missing bigint;
BEGIN
  SELECT n.household_id INTO missing FROM new_members n
   WHERE NOT EXISTS (SELECT FROM household h WHERE h.id = n.household_id) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'insert or update on table "member" violates foreign key constraint "fk_member_household_id_household"'
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_member_household_id_household', TABLE = 'member',
            DETAIL = format('Key (household_id)=(%s) is not present in table "household".', missing);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER member_household_on_insert AFTER INSERT ON member REFERENCING NEW TABLE AS new_members
  FOR EACH STATEMENT EXECUTE FUNCTION member_household_present();

CREATE TRIGGER member_household_on_update AFTER UPDATE ON member REFERENCING NEW TABLE AS new_members
  FOR EACH STATEMENT EXECUTE FUNCTION member_household_present();

CREATE FUNCTION household_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' AND NOT EXISTS (SELECT FROM member) THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'households are kept: they are never deleted and never change id (清退 is a status), and members refer to them'
    USING ERRCODE = 'restrict_violation', CONSTRAINT = 'fk_member_household_id_household', TABLE = 'household';
END $$;

CREATE TRIGGER household_kept_on_delete BEFORE DELETE ON household
  FOR EACH ROW EXECUTE FUNCTION household_kept();

CREATE TRIGGER household_kept_on_id_change BEFORE UPDATE OF id ON household
  FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION household_kept();

CREATE TRIGGER household_kept_on_truncate AFTER TRUNCATE ON household
  FOR EACH STATEMENT EXECUTE FUNCTION household_kept();
"""

DOWNGRADE = """
DROP TRIGGER household_kept_on_truncate ON household;

DROP TRIGGER household_kept_on_id_change ON household;

DROP TRIGGER household_kept_on_delete ON household;

DROP FUNCTION household_kept();

DROP TRIGGER member_household_on_update ON member;

DROP TRIGGER member_household_on_insert ON member;

DROP FUNCTION member_household_present();

ALTER TABLE member ADD CONSTRAINT fk_member_household_id_household FOREIGN KEY (household_id) REFERENCES household (id);
"""


def _run(script: str) -> None:
    for statement in script.split("\n\n"):      # one command per execute (a blank line between them)
        op.execute(statement)


def upgrade() -> None:
    _run(UPGRADE)


def downgrade() -> None:
    _run(DOWNGRADE)
