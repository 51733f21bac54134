"""webhook endpoints a receiver disabled (410 Gone), and deliveries a supervisor retried

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One row per channel whose receiver answered 410 Gone: nothing is sent to it until a
    # supervisor retries (which deletes the row). Absent row: the endpoint is in use.
    op.create_table(
        'webhook_endpoint_disabled',
        sa.Column('channel', sa.String(), nullable=False),
        sa.Column('reason', sa.String(), nullable=False),
        sa.Column('disabled_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('channel'),
    )
    # A retried delivery gets the whole retry window again, counted from the retry.
    op.add_column('outbox_event', sa.Column('retried_at', sa.DateTime(timezone=True), nullable=True))
    # The supervisor's list of deliveries that gave up, newest first.
    op.create_index(
        'outbox_failed', 'outbox_event', ['created_at'], unique=False,
        postgresql_where=sa.text("status = 'failed'"),
    )


def downgrade() -> None:
    op.drop_index('outbox_failed', table_name='outbox_event')
    op.drop_column('outbox_event', 'retried_at')
    op.drop_table('webhook_endpoint_disabled')
