"""sms parts, sms counters, unread index, inbox dedupe key

Revision ID: c89de7ed3350
Revises: 8950c1ef23aa
Create Date: 2026-12-06 22:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision = 'c89de7ed3350'
down_revision = '8950c1ef23aa'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('sms_message', sa.Column('parts', sa.SmallInteger(), server_default='1', nullable=False))
    # messages already stored: UCS-2 units (a character beyond the BMP counts 2), 70 in one part, else 67 a part
    op.execute(r"""
        UPDATE sms_message SET parts = CASE WHEN u <= 70 THEN 1 ELSE ceil(u / 67.0)::int END
        FROM (SELECT id AS uid, char_length(text)
                     + char_length(regexp_replace(text, '[\u0001-\uffff]', '', 'g')) AS u
              FROM sms_message) AS units
        WHERE id = uid
    """)
    op.create_table('sms_counter',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Float(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_sms_counter'))
    )
    op.add_column('inbox_message', sa.Column('dedupe_key', sa.Text(), nullable=True))
    op.create_index('ix_inbox_message_unread', 'inbox_message', ['user_id'], unique=False,
                    postgresql_where=sa.text('read_at IS NULL'))
    op.create_index('uq_inbox_message_user_dedupe', 'inbox_message', ['user_id', 'dedupe_key'], unique=True,
                    postgresql_where=sa.text('dedupe_key IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('uq_inbox_message_user_dedupe', table_name='inbox_message',
                  postgresql_where=sa.text('dedupe_key IS NOT NULL'))
    op.drop_index('ix_inbox_message_unread', table_name='inbox_message', postgresql_where=sa.text('read_at IS NULL'))
    op.drop_column('inbox_message', 'dedupe_key')
    op.drop_table('sms_counter')
    op.drop_column('sms_message', 'parts')
