"""The outbox: webhook deliveries written in the same transaction as the change they announce."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# A delivery being attempted is hidden from other workers for this long.
LOCK_SECONDS = 60


def envelope(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The Standard Webhooks payload shape: type, timestamp, data."""
    return {"type": event_type, "timestamp": datetime.now(UTC).isoformat(), "data": data}


async def add(
    conn: AsyncConnection, *, channel: str, event_type: str, dedupe_key: str, data: dict[str, Any]
) -> uuid.UUID | None:
    """Queue one delivery; a repeat of the same dedupe_key adds nothing and returns None."""
    row = (
        await conn.execute(
            text(
                "INSERT INTO outbox_event (dedupe_key, channel, event_type, payload, status) "
                "VALUES (:k, :c, :t, CAST(:p AS jsonb), 'pending') "
                "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
            ),
            {
                "k": dedupe_key,
                "c": channel,
                "t": event_type,
                "p": json.dumps(envelope(event_type, data), default=str),
            },
        )
    ).first()
    return row.id if row else None


@dataclass(frozen=True)
class Delivery:
    id: uuid.UUID
    channel: str
    event_type: str
    body: str
    attempts: int
    created_at: datetime


async def claim(conn: AsyncConnection, event_id: uuid.UUID) -> Delivery | None:
    """Take a due delivery for one attempt; None if it is done, not due, or being attempted."""
    row = (
        await conn.execute(
            text(
                "UPDATE outbox_event SET attempts = attempts + 1, "
                f"locked_until = now() + interval '{LOCK_SECONDS} seconds' "
                "WHERE id = :id AND status = 'pending' AND next_attempt_at <= now() "
                "AND (locked_until IS NULL OR locked_until < now()) "
                "RETURNING id, channel, event_type, payload::text AS body, attempts, created_at"
            ),
            {"id": event_id},
        )
    ).first()
    if row is None:
        return None
    return Delivery(row.id, row.channel, row.event_type, row.body, row.attempts, row.created_at)


async def mark_delivered(conn: AsyncConnection, event_id: uuid.UUID) -> None:
    await conn.execute(
        text(
            "UPDATE outbox_event SET status = 'delivered', delivered_at = now(), "
            "locked_until = NULL, last_error = NULL WHERE id = :id AND status = 'pending'"
        ),
        {"id": event_id},
    )


async def mark_retry(
    conn: AsyncConnection, event_id: uuid.UUID, *, delay_seconds: float, error: str, give_up: bool
) -> datetime | None:
    """Record a failed attempt; returns when to try next, or None if it was given up."""
    row = (
        await conn.execute(
            text(
                "UPDATE outbox_event SET last_error = :e, locked_until = NULL, "
                "status = CASE WHEN :give_up THEN 'failed' ELSE 'pending' END, "
                "next_attempt_at = now() + make_interval(secs => :d) "
                "WHERE id = :id AND status = 'pending' RETURNING status, next_attempt_at"
            ),
            {"id": event_id, "e": error[:500], "d": delay_seconds, "give_up": give_up},
        )
    ).first()
    if row is None or row.status != "pending":
        return None
    return row.next_attempt_at  # type: ignore[no-any-return]


async def due(conn: AsyncConnection, limit: int = 500) -> list[tuple[uuid.UUID, int]]:
    rows = await conn.execute(
        text(
            "SELECT id, attempts FROM outbox_event WHERE status = 'pending' AND next_attempt_at <= now() "
            "AND (locked_until IS NULL OR locked_until < now()) ORDER BY next_attempt_at LIMIT :n"
        ),
        {"n": limit},
    )
    return [(r.id, r.attempts) for r in rows]


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: spreads retries of many failed deliveries apart."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)
