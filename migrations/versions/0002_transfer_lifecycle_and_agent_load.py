"""transfer lifecycle and agent load

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 22:14:15.843729
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('transfer_event',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('transfer_id', sa.UUID(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfer.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_transfer_event_transfer_id'), 'transfer_event', ['transfer_id'], unique=False)
    op.add_column('reviewer', sa.Column('active_transfers', sa.Integer(), server_default='0', nullable=False))
    op.add_column('reviewer', sa.Column('last_assigned_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('transfer', sa.Column('passed_by', postgresql.ARRAY(sa.UUID()), server_default=sa.text("'{}'"), nullable=False))
    op.add_column('transfer', sa.Column('offered_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('transfer', sa.Column('offer_expires_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('transfer', sa.Column('resolution', sa.String(), nullable=True))
    op.create_check_constraint(
        'reviewer_within_capacity', 'reviewer', 'active_transfers BETWEEN 0 AND capacity')
    op.create_check_constraint(
        'transfer_offer_has_agent', 'transfer',
        "status NOT IN ('offered', 'accepted') OR assigned_to IS NOT NULL")
    op.create_index('transfer_offers_due', 'transfer', ['offer_expires_at'],
                    postgresql_where=sa.text("status = 'offered'"))
    op.create_index('transfer_load', 'transfer', ['assigned_to'],
                    postgresql_where=sa.text("status IN ('offered', 'accepted')"))


def downgrade() -> None:
    op.drop_index('transfer_load', table_name='transfer')
    op.drop_index('transfer_offers_due', table_name='transfer')
    op.drop_constraint('transfer_offer_has_agent', 'transfer')
    op.drop_constraint('reviewer_within_capacity', 'reviewer')
    op.drop_column('transfer', 'resolution')
    op.drop_column('transfer', 'offer_expires_at')
    op.drop_column('transfer', 'offered_at')
    op.drop_column('transfer', 'passed_by')
    op.drop_column('reviewer', 'last_assigned_at')
    op.drop_column('reviewer', 'active_transfers')
    op.drop_index(op.f('ix_transfer_event_transfer_id'), table_name='transfer_event')
    op.drop_table('transfer_event')
