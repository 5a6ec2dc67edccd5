"""audit rows wait unlocked in audit_pending until the sealer chains them

Revision ID: a1d17e5ea101
Revises: 7a3f9c2e5d10
Create Date: 2026-12-07 02:00:00
"""
from shared import schema_history

revision = 'a1d17e5ea101'
down_revision = '7a3f9c2e5d10'
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema_history.create_audit_pending()


def downgrade() -> None:
    schema_history.drop_audit_pending()
