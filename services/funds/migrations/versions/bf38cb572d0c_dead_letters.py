"""dead letters

Revision ID: bf38cb572d0c
Revises: ca10c22f6f40
Create Date: 2026-12-06 19:03:22.146745
"""
from shared import schema_history

revision = 'bf38cb572d0c'
down_revision = 'ca10c22f6f40'
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema_history.create_dead_letters()


def downgrade() -> None:
    schema_history.drop_dead_letters()
