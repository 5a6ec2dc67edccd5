"""dead letters

Revision ID: 8950c1ef23aa
Revises: ec59f21a01f0
Create Date: 2026-12-06 19:03:35.872746
"""
from shared import schema_history

revision = '8950c1ef23aa'
down_revision = 'ec59f21a01f0'
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema_history.create_dead_letters()


def downgrade() -> None:
    schema_history.drop_dead_letters()
