"""SMS counters spread over shards (concurrent transactions no longer queue on one row per counter)

Revision ID: b7e2c4d9a013
Revises: a1d17e5ea103
Create Date: 2026-12-07 02:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'b7e2c4d9a013'
down_revision = 'a1d17e5ea103'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('sms_counter', sa.Column('shard', sa.SmallInteger(), server_default='0', nullable=False))
    op.drop_constraint(op.f('pk_sms_counter'), 'sms_counter', type_='primary')
    op.create_primary_key(op.f('pk_sms_counter'), 'sms_counter', ['name', 'shard'])


def downgrade() -> None:
    op.execute("CREATE TEMP TABLE sms_counter_sum AS SELECT name, sum(value) AS value FROM sms_counter GROUP BY name")
    op.execute("DELETE FROM sms_counter")
    op.drop_constraint(op.f('pk_sms_counter'), 'sms_counter', type_='primary')
    op.drop_column('sms_counter', 'shard')
    op.create_primary_key(op.f('pk_sms_counter'), 'sms_counter', ['name'])
    op.execute("INSERT INTO sms_counter (name, value) SELECT name, value FROM sms_counter_sum")
