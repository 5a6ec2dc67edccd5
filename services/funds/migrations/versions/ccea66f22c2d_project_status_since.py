"""project status since

Revision ID: ccea66f22c2d
Revises: e0f96f06c051
Create Date: 2026-12-06 22:15:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'ccea66f22c2d'
down_revision = 'e0f96f06c051'
branch_labels = None
depends_on = None

# Existing projects: the time of their last transition in the audit chain, else their proposal.
FILL = """
UPDATE project p SET status_since = coalesce(
  (SELECT max(a.at) FROM audit_log a
   WHERE a.entity = 'project' AND a.entity_id = p.id::text
     AND a.action IN ('project.approve', 'project.reject', 'project.start', 'project.inspect', 'project.accept',
                      'project.settle', 'project.cancel')),
  p.created_at)
"""


def upgrade() -> None:
    op.add_column('project', sa.Column('status_since', sa.DateTime(timezone=True), nullable=True))
    op.execute(FILL)
    op.alter_column('project', 'status_since', nullable=False, server_default=sa.text('now()'))


def downgrade() -> None:
    op.drop_column('project', 'status_since')
