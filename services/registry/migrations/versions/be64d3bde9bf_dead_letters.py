"""dead letters

Revision ID: be64d3bde9bf
Revises: 26d178dd40cf
Create Date: 2026-12-06 19:03:14.737091
"""
from shared import schema_history

revision = 'be64d3bde9bf'
down_revision = '26d178dd40cf'
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema_history.create_dead_letters()


def downgrade() -> None:
    schema_history.drop_dead_letters()
