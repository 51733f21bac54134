"""indexes for pruning old data in small batches (retention)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The oldest conversations first; a conversation's transfers (every status) to delete with it.
    op.create_index('conversation_last_turn', 'conversation', ['last_turn_at'])
    op.create_index('transfer_by_conversation', 'transfer', ['conversation_id'])
    # Finished deliveries by age; the audit trail by time.
    op.create_index(
        'outbox_finished', 'outbox_event', ['created_at'],
        postgresql_where=sa.text("status IN ('delivered', 'failed')"),
    )
    op.create_index('audit_event_at', 'audit_event', ['at'])


def downgrade() -> None:
    op.drop_index('audit_event_at', table_name='audit_event')
    op.drop_index('outbox_finished', table_name='outbox_event')
    op.drop_index('transfer_by_conversation', table_name='transfer')
    op.drop_index('conversation_last_turn', table_name='conversation')
