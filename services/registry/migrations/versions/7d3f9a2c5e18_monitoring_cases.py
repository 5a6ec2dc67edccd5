"""monitoring cases and their append-only history

Revision ID: 7d3f9a2c5e18
Revises: 5c1e0a7d2b41
Create Date: 2026-12-07 01:45:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '7d3f9a2c5e18'
down_revision = '5c1e0a7d2b41'
branch_labels = None
depends_on = None

RISKS = ("'illness', 'disability', 'education', 'disaster', 'accident', 'industry_failure', 'unstable_job', "
         "'lack_labor', 'other'")

FROZEN = ("""
CREATE FUNCTION monitoring_case_step_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'a monitoring case''s history is never changed or deleted' USING ERRCODE = 'restrict_violation';
END $$""", """
CREATE TRIGGER monitoring_case_step_frozen BEFORE UPDATE OR DELETE ON monitoring_case_step
  FOR EACH ROW EXECUTE FUNCTION monitoring_case_step_frozen()""")


def upgrade() -> None:
    op.create_table(
        'monitoring_case',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('case_no', sa.String(length=32), nullable=False),
        sa.Column('household_id', sa.BigInteger(), nullable=False),
        sa.Column('village_code', sa.CHAR(length=12), nullable=False),
        sa.Column('category', sa.String(length=16), nullable=False),
        sa.Column('risk_types', postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('description', sa.Text(), server_default='', nullable=False),
        sa.Column('year', sa.SmallInteger(), nullable=False),
        sa.Column('status', sa.String(length=16), server_default='reported', nullable=False),
        sa.Column('phase', sa.String(length=16), server_default='inclusion', nullable=False),
        sa.Column('notice_id', sa.BigInteger(), nullable=True),
        sa.Column('reported_by', sa.String(length=64), nullable=False),
        sa.Column('reported_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('version', sa.Integer(), server_default='1', nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("category IN ('unstable', 'marginal', 'sudden')", name=op.f('ck_monitoring_case_category')),
        sa.CheckConstraint("source IN ('self_report', 'cadre_visit', 'screening')",
                           name=op.f('ck_monitoring_case_source')),
        sa.CheckConstraint("status IN ('reported', 'verified', 'publicized', 'approved', 'eliminated', 'rejected')",
                           name=op.f('ck_monitoring_case_status')),
        sa.CheckConstraint("phase IN ('inclusion', 'elimination')", name=op.f('ck_monitoring_case_phase')),
        sa.CheckConstraint(f"risk_types <@ ARRAY[{RISKS}]::varchar[] AND cardinality(risk_types) > 0",
                           name=op.f('ck_monitoring_case_risk_types')),
        sa.ForeignKeyConstraint(['household_id'], ['household.id'],
                                name=op.f('fk_monitoring_case_household_id_household')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_case')),
        sa.UniqueConstraint('case_no', name=op.f('uq_monitoring_case_case_no')),
    )
    op.create_index('uq_monitoring_case_open', 'monitoring_case', ['household_id'], unique=True,
                    postgresql_where=sa.text("status NOT IN ('eliminated', 'rejected')"))
    op.create_index('ix_monitoring_case_village', 'monitoring_case', ['village_code', 'id'], unique=False)
    op.create_index('ix_monitoring_case_household', 'monitoring_case', ['household_id', 'id'], unique=False)
    op.create_table(
        'monitoring_case_step',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('case_id', sa.BigInteger(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=32), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('from_status', sa.String(length=16), nullable=True),
        sa.Column('to_status', sa.String(length=16), nullable=False),
        sa.Column('notes', sa.Text(), server_default='', nullable=False),
        sa.Column('notice_id', sa.BigInteger(), nullable=True),
        sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['monitoring_case.id'],
                                name=op.f('fk_monitoring_case_step_case_id_monitoring_case')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_case_step')),
    )
    op.create_index('ix_monitoring_case_step_case', 'monitoring_case_step', ['case_id', 'id'], unique=False)
    for statement in FROZEN:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER monitoring_case_step_frozen ON monitoring_case_step")
    op.execute("DROP FUNCTION monitoring_case_step_frozen()")
    op.drop_table('monitoring_case_step')
    op.drop_table('monitoring_case')
