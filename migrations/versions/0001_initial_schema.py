"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 21:52:43.340295
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('audit_event',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor', sa.String(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('subject_type', sa.String(), nullable=False),
    sa.Column('subject_id', sa.String(), nullable=False),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_audit_event_subject_id'), 'audit_event', ['subject_id'], unique=False)
    op.create_table('channel_key',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('channel', sa.String(), nullable=False),
    sa.Column('key_hash', sa.String(), nullable=False),
    sa.Column('prefix', sa.String(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    op.create_index(op.f('ix_channel_key_channel'), 'channel_key', ['channel'], unique=False)
    op.create_table('channel_secret',
    sa.Column('channel', sa.String(), nullable=False),
    sa.Column('secret', sa.String(), nullable=False),
    sa.Column('previous_secret', sa.String(), nullable=True),
    sa.Column('rotated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('channel')
    )
    op.create_table('conversation',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('channel', sa.String(), nullable=False),
    sa.Column('external_id', sa.String(), nullable=False),
    sa.Column('customer_id', sa.String(), nullable=False),
    sa.Column('handled_by', sa.String(), nullable=False),
    sa.Column('resolved', sa.Boolean(), nullable=True),
    sa.Column('csat', sa.Integer(), nullable=True),
    sa.Column('outcome_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('turn_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_turn_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("handled_by IN ('ai', 'review', 'human')", name='conversation_handler_allowed'),
    sa.CheckConstraint('csat IS NULL OR csat BETWEEN 1 AND 5', name='conversation_csat_range'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'external_id', name='conversation_channel_external_id')
    )
    op.create_index('conversation_customer_recent', 'conversation', ['customer_id', 'last_turn_at'], unique=False)
    op.create_table('outbox_event',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('dedupe_key', sa.String(), nullable=False),
    sa.Column('channel', sa.String(), nullable=False),
    sa.Column('event_type', sa.String(), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name='outbox_status_allowed'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    op.create_index('outbox_due', 'outbox_event', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.create_table('reviewer',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('email', sa.String(), nullable=False),
    sa.Column('display_name', sa.String(), nullable=False),
    sa.Column('password_hash', sa.String(), nullable=True),
    sa.Column('role', sa.String(), nullable=False),
    sa.Column('presence', sa.String(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("presence IN ('online', 'away', 'offline')", name='reviewer_presence_allowed'),
    sa.CheckConstraint("role IN ('reviewer', 'supervisor', 'admin')", name='reviewer_role_allowed'),
    sa.CheckConstraint('capacity >= 0', name='reviewer_capacity_nonnegative'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email')
    )
    op.create_table('team',
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('reviewer_team',
    sa.Column('reviewer_id', sa.UUID(), nullable=False),
    sa.Column('team', sa.String(), nullable=False),
    sa.ForeignKeyConstraint(['reviewer_id'], ['reviewer.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team'], ['team.name'], ),
    sa.PrimaryKeyConstraint('reviewer_id', 'team')
    )
    op.create_table('reviewer_token',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('reviewer_id', sa.UUID(), nullable=False),
    sa.Column('token_hash', sa.String(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['reviewer_id'], ['reviewer.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('turn',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('conversation_id', sa.UUID(), nullable=False),
    sa.Column('channel', sa.String(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(), nullable=True),
    sa.Column('message', sa.String(), nullable=False),
    sa.Column('draft_text', sa.String(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('intent', sa.String(), nullable=True),
    sa.Column('topics', postgresql.ARRAY(sa.String()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('sentiment', sa.Float(), nullable=True),
    sa.Column('locale', sa.String(), nullable=True),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('confidence BETWEEN 0 AND 1', name='turn_confidence_range'),
    sa.CheckConstraint('sentiment IS NULL OR sentiment BETWEEN -1 AND 1', name='turn_sentiment_range'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversation.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('turn_channel_idempotency_key', 'turn', ['channel', 'idempotency_key'], unique=True, postgresql_where=sa.text('idempotency_key IS NOT NULL'))
    op.create_index('turn_conversation_seq', 'turn', ['conversation_id', 'seq'], unique=True)
    op.create_table('decision',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('turn_id', sa.UUID(), nullable=False),
    sa.Column('action', sa.String(), nullable=False),
    sa.Column('triggers', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('rule_ids', postgresql.ARRAY(sa.String()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('policy_version', sa.String(), nullable=False),
    sa.Column('response', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("action IN ('send', 'review', 'transfer')", name='decision_action_allowed'),
    sa.ForeignKeyConstraint(['turn_id'], ['turn.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('turn_id')
    )
    op.create_table('review',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('turn_id', sa.UUID(), nullable=False),
    sa.Column('conversation_id', sa.UUID(), nullable=False),
    sa.Column('channel', sa.String(), nullable=False),
    sa.Column('team', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('priority', sa.Integer(), server_default='0', nullable=False),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.UUID(), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('draft_text', sa.String(), nullable=False),
    sa.Column('final_text', sa.String(), nullable=True),
    sa.Column('outcome_by', sa.String(), nullable=True),
    sa.Column('fallback', sa.String(), nullable=True),
    sa.Column('decided_by', sa.UUID(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("fallback IS NULL OR fallback IN ('send_draft', 'transfer', 'holding_message')", name='review_fallback_allowed'),
    sa.CheckConstraint("outcome_by IS NULL OR outcome_by IN ('reviewer', 'timeout')", name='review_outcome_by_allowed'),
    sa.CheckConstraint("status <> 'claimed' OR (claimed_by IS NOT NULL AND lease_until IS NOT NULL)", name='review_claim_has_holder'),
    sa.CheckConstraint("status IN ('pending', 'claimed', 'approved', 'edited', 'taken_over', 'expired', 'superseded')", name='review_status_allowed'),
    sa.ForeignKeyConstraint(['claimed_by'], ['reviewer.id'], ),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversation.id'], ),
    sa.ForeignKeyConstraint(['decided_by'], ['reviewer.id'], ),
    sa.ForeignKeyConstraint(['turn_id'], ['turn.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('review_conversation', 'review', ['conversation_id'], unique=False)
    op.create_index('review_one_open_per_turn', 'review', ['turn_id'], unique=True, postgresql_where=sa.text("status IN ('pending', 'claimed')"))
    op.create_index('review_open_deadline', 'review', ['deadline'], unique=False, postgresql_where=sa.text("status IN ('pending', 'claimed')"))
    op.create_index('review_open_queue', 'review', ['team', 'deadline', 'priority'], unique=False, postgresql_where=sa.text("status IN ('pending', 'claimed')"))
    op.create_table('transfer',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('conversation_id', sa.UUID(), nullable=False),
    sa.Column('turn_id', sa.UUID(), nullable=True),
    sa.Column('review_id', sa.UUID(), nullable=True),
    sa.Column('channel', sa.String(), nullable=False),
    sa.Column('mode', sa.String(), nullable=False),
    sa.Column('team', sa.String(), nullable=False),
    sa.Column('reason', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('assigned_to', sa.UUID(), nullable=True),
    sa.Column('summary', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('triggers', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("mode IN ('warm', 'cold')", name='transfer_mode_allowed'),
    sa.CheckConstraint("reason IN ('trigger', 'sync_low_confidence', 'take_over', 'timeout')", name='transfer_reason_allowed'),
    sa.CheckConstraint("status IN ('created', 'offered', 'accepted', 'closed', 'cancelled')", name='transfer_status_allowed'),
    sa.ForeignKeyConstraint(['assigned_to'], ['reviewer.id'], ),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversation.id'], ),
    sa.ForeignKeyConstraint(['review_id'], ['review.id'], ),
    sa.ForeignKeyConstraint(['turn_id'], ['turn.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('transfer_one_per_review', 'transfer', ['review_id'], unique=True, postgresql_where=sa.text('review_id IS NOT NULL'))
    op.create_index('transfer_open_by_team', 'transfer', ['team', 'created_at'], unique=False, postgresql_where=sa.text("status IN ('created', 'offered')"))



def downgrade() -> None:

    op.drop_index('transfer_open_by_team', table_name='transfer', postgresql_where=sa.text("status IN ('created', 'offered')"))
    op.drop_index('transfer_one_per_review', table_name='transfer', postgresql_where=sa.text('review_id IS NOT NULL'))
    op.drop_table('transfer')
    op.drop_index('review_open_queue', table_name='review', postgresql_where=sa.text("status IN ('pending', 'claimed')"))
    op.drop_index('review_open_deadline', table_name='review', postgresql_where=sa.text("status IN ('pending', 'claimed')"))
    op.drop_index('review_one_open_per_turn', table_name='review', postgresql_where=sa.text("status IN ('pending', 'claimed')"))
    op.drop_index('review_conversation', table_name='review')
    op.drop_table('review')
    op.drop_table('decision')
    op.drop_index('turn_conversation_seq', table_name='turn')
    op.drop_index('turn_channel_idempotency_key', table_name='turn', postgresql_where=sa.text('idempotency_key IS NOT NULL'))
    op.drop_table('turn')
    op.drop_table('reviewer_token')
    op.drop_table('reviewer_team')
    op.drop_table('team')
    op.drop_table('reviewer')
    op.drop_index('outbox_due', table_name='outbox_event', postgresql_where=sa.text("status = 'pending'"))
    op.drop_table('outbox_event')
    op.drop_index('conversation_customer_recent', table_name='conversation')
    op.drop_table('conversation')
    op.drop_table('channel_secret')
    op.drop_index(op.f('ix_channel_key_channel'), table_name='channel_key')
    op.drop_table('channel_key')
    op.drop_index(op.f('ix_audit_event_subject_id'), table_name='audit_event')
    op.drop_table('audit_event')

