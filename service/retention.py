"""Deleting what the policy's `retention` no longer keeps, in small batches: each batch is one
short transaction that takes the oldest rows it can lock (SKIP LOCKED), so pruning never holds
a hot table's rows for long nor waits behind a turn, a review or a delivery in progress.

A conversation goes as a whole (its turns, decisions, reviews, transfers and their messages and
events) once its last turn is older than `retention.conversations` and nothing of it is open:
history is never left half there, which repeat-contact and loop detection would misread."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg

from service import db
from service.policy.model import RetentionPolicy

BATCH = 500

# A conversation the AI has again, nothing open, its last turn past the limit.
_DOOMED = """
SELECT c.id FROM conversation c
WHERE c.last_turn_at < now() - make_interval(secs => :secs) AND c.handled_by = 'ai'
  AND NOT EXISTS (SELECT 1 FROM review r
                  WHERE r.conversation_id = c.id AND r.status IN ('pending', 'claimed'))
  AND NOT EXISTS (SELECT 1 FROM transfer x WHERE x.conversation_id = c.id
                  AND x.status IN ('created', 'offered', 'queued', 'accepted'))
"""
# One statement: PostgreSQL checks the foreign keys at its end, when parents and children are
# gone together.
CONVERSATIONS = f"""
WITH doomed AS ({_DOOMED} ORDER BY c.last_turn_at LIMIT :n FOR UPDATE OF c SKIP LOCKED),
transfers AS (SELECT id FROM transfer WHERE conversation_id IN (SELECT id FROM doomed)),
turns AS (SELECT id FROM turn WHERE conversation_id IN (SELECT id FROM doomed)),
messages AS (DELETE FROM transfer_message WHERE transfer_id IN (SELECT id FROM transfers)),
events AS (DELETE FROM transfer_event WHERE transfer_id IN (SELECT id FROM transfers)),
gone_transfers AS (DELETE FROM transfer WHERE id IN (SELECT id FROM transfers)),
reviews AS (DELETE FROM review WHERE conversation_id IN (SELECT id FROM doomed)),
decisions AS (DELETE FROM decision WHERE turn_id IN (SELECT id FROM turns)),
gone_turns AS (DELETE FROM turn WHERE id IN (SELECT id FROM turns) RETURNING 1),
gone AS (DELETE FROM conversation WHERE id IN (SELECT id FROM doomed) RETURNING 1)
SELECT (SELECT count(*) FROM gone) AS rows, (SELECT count(*) FROM gone_turns) AS turns
"""
DELIVERIES = """
WITH doomed AS (
  SELECT id FROM outbox_event WHERE status IN ('delivered', 'failed')
    AND created_at < now() - make_interval(secs => :secs)
  ORDER BY created_at LIMIT :n FOR UPDATE SKIP LOCKED),
gone AS (DELETE FROM outbox_event WHERE id IN (SELECT id FROM doomed) RETURNING 1)
SELECT count(*) AS rows, 0 AS turns FROM gone
"""
AUDIT = """
WITH doomed AS (
  SELECT id FROM audit_event WHERE at < now() - make_interval(secs => :secs)
  ORDER BY at LIMIT :n FOR UPDATE SKIP LOCKED),
gone AS (DELETE FROM audit_event WHERE id IN (SELECT id FROM doomed) RETURNING 1)
SELECT count(*) AS rows, 0 AS turns FROM gone
"""
COUNTS = {
    "conversations": f"SELECT count(*) FROM ({_DOOMED}) d",
    "deliveries": "SELECT count(*) FROM outbox_event WHERE status IN ('delivered', 'failed') "
    "AND created_at < now() - make_interval(secs => :secs)",
    "audit": "SELECT count(*) FROM audit_event WHERE at < now() - make_interval(secs => :secs)",
}
STATEMENTS = {"conversations": CONVERSATIONS, "deliveries": DELIVERIES, "audit": AUDIT}


@dataclass
class Pruned:
    rows: dict[str, int] = field(default_factory=dict)  # per kind: conversations, ...
    turns: int = 0  # the turns that went with the conversations

    def __str__(self) -> str:
        parts = [f"{self.rows.get(k, 0):,} {k}" for k in STATEMENTS if k in self.rows]
        return ", ".join(parts) + f" ({self.turns:,} turns)" if parts else "nothing to prune"


def limits(policy: RetentionPolicy) -> dict[str, timedelta]:
    """The kinds the policy limits, and how long each is kept."""
    kept = {
        "conversations": policy.conversations,
        "deliveries": policy.deliveries,
        "audit": policy.audit,
    }
    return {kind: age for kind, age in kept.items() if age is not None}


async def due(conn: db.Connection, policy: RetentionPolicy) -> dict[str, int]:
    """How many of each kind are past their limit now (for a dry run or a progress bar)."""
    found = {}
    for kind, age in limits(policy).items():
        row = await db.first(conn, COUNTS[kind], {"secs": age.total_seconds()})
        found[kind] = int(row[0]) if row else 0
    return found


async def prune(
    pool: asyncpg.Pool,
    policy: RetentionPolicy,
    *,
    batch: int = BATCH,
    progress: Callable[[str, int], None] | None = None,
    budget_seconds: float | None = None,
) -> Pruned:
    """Deletes everything past its limit, batch by batch, each in a transaction of its own;
    with a budget, stops after the batch that spends it (the rest waits for the next run)."""
    pruned = Pruned()
    ends = None if budget_seconds is None else time.monotonic() + budget_seconds
    for kind, age in limits(policy).items():
        pruned.rows[kind] = 0
        while ends is None or time.monotonic() < ends:
            async with db.transaction(pool) as conn:
                row = await db.one(
                    conn, STATEMENTS[kind], {"secs": age.total_seconds(), "n": batch}
                )
            pruned.rows[kind] += int(row.rows)
            pruned.turns += int(row.turns)
            if progress is not None:
                progress(kind, int(row.rows))
            if row.rows < batch:
                break
    return pruned
