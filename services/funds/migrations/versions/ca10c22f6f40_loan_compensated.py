"""loan compensated

Revision ID: ca10c22f6f40
Revises: 9f5e497f7138
Create Date: 2026-11-23 03:50:37.862200
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'ca10c22f6f40'
down_revision = '9f5e497f7138'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('loan', sa.Column('compensated', sa.BigInteger(), server_default='0', nullable=False))


def downgrade() -> None:
    op.drop_column('loan', 'compensated')
