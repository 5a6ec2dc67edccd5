"""dead letters

Revision ID: fe579abd262a
Revises: 8068b67cf106
Create Date: 2026-12-06 19:02:59.968009
"""
from shared import schema_history

revision = 'fe579abd262a'
down_revision = '8068b67cf106'
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema_history.create_dead_letters()


def downgrade() -> None:
    schema_history.drop_dead_letters()
