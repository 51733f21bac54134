"""conversation ownership: one open transfer per conversation, a queued status, urgency, and
the messages exchanged while a person has the conversation

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('created', 'offered', 'queued', 'accepted')"

# A waiting transfer's place in its team's queue (1 = next: higher priority first, then the
# oldest) and the expected wait: the team's recent time to accept once offered (30 s before
# there is any), plus, when more wait than the online people have free slots, one recent
# handling time (300 s before any) per round of the online people. NULL wait: nobody online.
# A function, so that the decision's statement and GET /v1/transfers/{id} say the same; it takes
# the transfer's values, not its id, because a transfer created by the same statement is not
# visible to it yet.
WAIT = """
CREATE OR REPLACE FUNCTION transfer_wait(p_team text, p_priority integer,
                                         p_created timestamptz, p_id uuid)
RETURNS TABLE (queue_position integer, estimated_wait_seconds integer, online integer)
LANGUAGE sql STABLE AS $$
WITH ahead AS (
  SELECT count(*) AS n FROM transfer w
  WHERE w.team = p_team AND w.status IN ('created', 'offered', 'queued') AND w.id <> p_id
    AND (w.priority > p_priority
         OR (w.priority = p_priority AND (w.created_at, w.id) < (p_created, p_id)))),
people AS (
  SELECT count(*) AS online, COALESCE(sum(GREATEST(r.capacity - r.active_transfers, 0)), 0) AS free
  FROM reviewer r JOIN reviewer_team t ON t.reviewer_id = r.id
  WHERE t.team = p_team AND r.presence = 'online'),
recent AS (
  SELECT avg(EXTRACT(epoch FROM x.accepted_at - COALESCE(x.offered_at, x.created_at))) AS accept_s,
         avg(EXTRACT(epoch FROM x.closed_at - x.accepted_at))
           FILTER (WHERE x.status = 'closed') AS handle_s
  FROM (SELECT * FROM transfer WHERE team = p_team AND accepted_at IS NOT NULL
          AND accepted_at > now() - interval '7 days'
        ORDER BY accepted_at DESC LIMIT 50) x)
SELECT (ahead.n + 1)::integer,
       CASE WHEN people.online = 0 THEN NULL
            ELSE round(COALESCE(recent.accept_s, 30)
                       + CASE WHEN ahead.n + 1 <= people.free THEN 0
                              ELSE ceil((ahead.n + 1 - people.free)::numeric / people.online)
                                   * COALESCE(recent.handle_s, 300) END)::integer END,
       people.online::integer
FROM ahead, people, recent
$$
"""


def upgrade() -> None:
    op.drop_constraint('transfer_status_allowed', 'transfer')
    op.create_check_constraint(
        'transfer_status_allowed', 'transfer',
        "status IN ('created', 'offered', 'queued', 'accepted', 'closed', 'cancelled')")
    # Before the rule existed a conversation could hold several open transfers: the newest stays.
    op.execute(f"""
        UPDATE transfer x SET status = 'cancelled', closed_at = now(),
          resolution = 'superseded by a newer transfer of the conversation'
        WHERE {OPEN.replace('status', 'x.status')} AND EXISTS (
          SELECT 1 FROM transfer y WHERE y.conversation_id = x.conversation_id
            AND {OPEN.replace('status', 'y.status')} AND (y.created_at, y.id) > (x.created_at, x.id))
    """)
    # The owner column agrees with the transfers: whoever has an open one is held by a person.
    op.execute(f"""
        UPDATE conversation c SET handled_by = 'human' WHERE EXISTS (
          SELECT 1 FROM transfer x WHERE x.conversation_id = c.id AND {OPEN.replace('status', 'x.status')})
    """)
    op.create_index('transfer_one_open_per_conversation', 'transfer', ['conversation_id'],
                    unique=True, postgresql_where=sa.text(OPEN))
    op.add_column('transfer', sa.Column('priority', sa.Integer(), server_default='0',
                                        nullable=False))
    op.drop_index('transfer_open_by_team', table_name='transfer')
    op.create_index('transfer_waiting_by_team', 'transfer',
                    ['team', sa.text('priority DESC'), 'created_at'],
                    postgresql_where=sa.text("status IN ('created', 'offered', 'queued')"))
    op.create_table('transfer_message',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('transfer_id', sa.UUID(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sender', sa.String(), nullable=False),
    sa.Column('author', sa.String(), nullable=True),
    sa.Column('text', sa.String(), nullable=False),
    sa.Column('turn_id', sa.UUID(), nullable=True),
    sa.Column('draft_text', sa.String(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('triggers', postgresql.JSONB(astext_type=sa.Text()),
              server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.CheckConstraint("sender IN ('customer', 'person', 'system')",
                       name='transfer_message_sender_allowed'),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfer.id'], ),
    sa.ForeignKeyConstraint(['turn_id'], ['turn.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('turn_id', name='transfer_message_one_per_turn'),
    )
    op.create_index('transfer_message_by_transfer', 'transfer_message', ['transfer_id', 'id'])
    op.create_index('transfer_message_idempotency_key', 'transfer_message',
                    ['transfer_id', 'idempotency_key'], unique=True,
                    postgresql_where=sa.text('idempotency_key IS NOT NULL'))
    op.create_index('transfer_accepted_by_team', 'transfer', ['team', 'accepted_at'],
                    postgresql_where=sa.text('accepted_at IS NOT NULL'))
    op.add_column('decision', sa.Column('owned', sa.Boolean(), server_default=sa.false(),
                                        nullable=False))
    op.execute(WAIT)


def downgrade() -> None:
    op.execute('DROP FUNCTION transfer_wait(text, integer, timestamptz, uuid)')
    op.drop_column('decision', 'owned')
    op.drop_index('transfer_accepted_by_team', table_name='transfer')
    op.drop_index('transfer_message_idempotency_key', table_name='transfer_message')
    op.drop_index('transfer_message_by_transfer', table_name='transfer_message')
    op.drop_table('transfer_message')
    op.drop_index('transfer_waiting_by_team', table_name='transfer')
    op.create_index('transfer_open_by_team', 'transfer', ['team', 'created_at'],
                    postgresql_where=sa.text("status IN ('created', 'offered')"))
    op.drop_column('transfer', 'priority')
    op.drop_index('transfer_one_open_per_conversation', table_name='transfer')
    op.execute("UPDATE transfer SET status = 'created' WHERE status = 'queued'")
    op.drop_constraint('transfer_status_allowed', 'transfer')
    op.create_check_constraint(
        'transfer_status_allowed', 'transfer',
        "status IN ('created', 'offered', 'accepted', 'closed', 'cancelled')")
