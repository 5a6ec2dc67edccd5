"""batches at county scale: notice items as rows, duplicate-payment warnings, lines paged by batch

Revision ID: a58f4e135d25
Revises: ee3d7b38336f
Create Date: 2026-12-06 22:20:00.000000
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 'a58f4e135d25'
down_revision = 'ee3d7b38336f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notice_item',
    sa.Column('notice_id', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=128), nullable=False),
    sa.Column('item', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.ForeignKeyConstraint(['notice_id'], ['notice.id'], name=op.f('fk_notice_item_notice_id_notice')),
    sa.PrimaryKeyConstraint('notice_id', 'seq', name=op.f('pk_notice_item')),
    sa.UniqueConstraint('notice_id', 'ref', name='uq_notice_item_ref')
    )
    op.add_column('notice', sa.Column('amount_total', sa.Numeric(precision=18, scale=2), nullable=True))
    op.execute("INSERT INTO notice_item (notice_id, seq, ref, item) "
               "SELECT n.id, e.seq, e.item->>'ref', e.item "
               "FROM notice n, jsonb_array_elements(n.items) WITH ORDINALITY AS e(item, seq)")
    op.execute("UPDATE notice n SET amount_total = (SELECT sum((e->>'amount')::numeric) "
               "FROM jsonb_array_elements(n.items) e WHERE e ? 'amount')")
    op.drop_column('notice', 'items')

    op.create_index('ix_disbursement_line_batch_line', 'disbursement_line', ['disbursement_id', 'id'], unique=False)
    op.create_table('disbursement_warning',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('disbursement_id', sa.BigInteger(), nullable=False),
    sa.Column('line_id', sa.BigInteger(), nullable=False),
    sa.Column('household_id', sa.BigInteger(), nullable=False),
    sa.Column('earlier_disbursement_id', sa.BigInteger(), nullable=False),
    sa.Column('earlier_line_id', sa.BigInteger(), nullable=False),
    sa.Column('earlier_status', sa.String(length=16), nullable=False),
    sa.CheckConstraint("earlier_status IN ('paid', 'committed')", name=op.f('ck_disbursement_warning_earlier_status')),
    sa.ForeignKeyConstraint(['disbursement_id'], ['disbursement.id'], name=op.f('fk_disbursement_warning_disbursement_id_disbursement')),
    sa.ForeignKeyConstraint(['earlier_disbursement_id'], ['disbursement.id'], name=op.f('fk_disbursement_warning_earlier_disbursement_id_disbursement')),
    sa.ForeignKeyConstraint(['earlier_line_id'], ['disbursement_line.id'], name=op.f('fk_disbursement_warning_earlier_line_id_disbursement_line')),
    sa.ForeignKeyConstraint(['line_id'], ['disbursement_line.id'], name=op.f('fk_disbursement_warning_line_id_disbursement_line')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disbursement_warning'))
    )
    op.create_index('ix_disbursement_warning_batch_line', 'disbursement_warning', ['disbursement_id', 'line_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_disbursement_warning_batch_line', table_name='disbursement_warning')
    op.drop_table('disbursement_warning')
    op.drop_index('ix_disbursement_line_batch_line', table_name='disbursement_line')

    op.add_column('notice', sa.Column('items', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.execute("UPDATE notice n SET items = COALESCE((SELECT jsonb_agg(i.item ORDER BY i.seq) FROM notice_item i "
               "WHERE i.notice_id = n.id), '[]'::jsonb)")
    op.alter_column('notice', 'items', nullable=False)
    op.drop_column('notice', 'amount_total')
    op.drop_table('notice_item')
