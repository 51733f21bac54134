"""The outbox: webhook deliveries written in the same transaction as the change they announce."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service import db
from service.db import Connection

# A delivery being attempted is hidden from other workers for this long.
LOCK_SECONDS = 60


def envelope(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The Standard Webhooks payload shape: type, timestamp, data."""
    return {"type": event_type, "timestamp": datetime.now(UTC).isoformat(), "data": data}


async def add(
    conn: Connection, *, channel: str, event_type: str, dedupe_key: str, data: dict[str, Any]
) -> uuid.UUID | None:
    """Queue one delivery; a repeat of the same dedupe_key adds nothing and returns None."""
    added = await add_many(conn, [Event(channel, event_type, dedupe_key, data)])
    return added[0] if added else None


@dataclass(frozen=True)
class Event:
    """A delivery to queue: the channel it goes to, its type, the key that makes it once-only."""

    channel: str
    event_type: str
    dedupe_key: str
    data: dict[str, Any]


async def add_many(conn: Connection, events: list[Event]) -> list[uuid.UUID]:
    """Queue deliveries in one statement; keys already queued add nothing and are not returned."""
    if not events:
        return []
    rows = await db.rows(
        conn,
        "INSERT INTO outbox_event (dedupe_key, channel, event_type, payload, status) "
        "SELECT k, c, t, CAST(p AS jsonb), 'pending' FROM unnest(CAST(:k AS text[]), "
        "CAST(:c AS text[]), CAST(:t AS text[]), CAST(:p AS text[])) AS e(k, c, t, p) "
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        {
            "k": [e.dedupe_key for e in events],
            "c": [e.channel for e in events],
            "t": [e.event_type for e in events],
            "p": [json.dumps(envelope(e.event_type, e.data), default=str) for e in events],
        },
    )
    return [r.id for r in rows]


@dataclass(frozen=True)
class Delivery:
    id: uuid.UUID
    channel: str
    event_type: str
    body: str
    attempts: int
    since: datetime  # the retry window counts from here: created, or retried by a supervisor
    disabled: str | None  # why the channel's endpoint is switched off (410 Gone), if it is


async def claim(conn: Connection, event_id: uuid.UUID) -> Delivery | None:
    """Take a due delivery for one attempt; None if it is done, not due, or being attempted."""
    row = await db.first(
        conn,
        "UPDATE outbox_event SET attempts = attempts + 1, "
        f"locked_until = now() + interval '{LOCK_SECONDS} seconds' "
        "WHERE id = :id AND status = 'pending' AND next_attempt_at <= now() "
        "AND (locked_until IS NULL OR locked_until < now()) "
        "RETURNING id, channel, event_type, payload::text AS body, attempts, "
        "COALESCE(retried_at, created_at) AS since, "
        "(SELECT reason FROM webhook_endpoint_disabled d "
        " WHERE d.channel = outbox_event.channel) AS disabled",
        {"id": event_id},
    )
    if row is None:
        return None
    return Delivery(
        row.id, row.channel, row.event_type, row.body, row.attempts, row.since, row.disabled
    )


async def mark_delivered(conn: Connection, event_id: uuid.UUID) -> None:
    await db.execute(
        conn,
        "UPDATE outbox_event SET status = 'delivered', delivered_at = now(), "
        "locked_until = NULL, last_error = NULL WHERE id = :id AND status = 'pending'",
        {"id": event_id},
    )


async def mark_retry(
    conn: Connection, event_id: uuid.UUID, *, delay_seconds: float, error: str, give_up: bool
) -> datetime | None:
    """Record a failed attempt; returns when to try next, or None if it was given up."""
    row = await db.first(
        conn,
        "UPDATE outbox_event SET last_error = :e, locked_until = NULL, "
        "status = CASE WHEN :give_up THEN 'failed' ELSE 'pending' END, "
        "next_attempt_at = now() + make_interval(secs => :d) "
        "WHERE id = :id AND status = 'pending' RETURNING status, next_attempt_at",
        {"id": event_id, "e": error[:500], "d": delay_seconds, "give_up": give_up},
    )
    if row is None or row.status != "pending":
        return None
    return row.next_attempt_at  # type: ignore[no-any-return]


async def disable_endpoint(conn: Connection, channel: str, reason: str) -> int:
    """The receiver said its endpoint is gone (410): stop sending to it. Every delivery still
    waiting for it gives up now, so supervisors see them all, with a retry, at once."""
    await db.execute(
        conn,
        "INSERT INTO webhook_endpoint_disabled (channel, reason) VALUES (:c, :r) "
        "ON CONFLICT (channel) DO NOTHING",
        {"c": channel, "r": reason[:500]},
    )
    return await db.execute(
        conn,
        "UPDATE outbox_event SET status = 'failed', locked_until = NULL, "
        "last_error = 'not sent: the endpoint is disabled (' || :r || ')' "
        "WHERE channel = :c AND status = 'pending'",
        {"c": channel, "r": reason[:400]},
    )


@dataclass(frozen=True)
class GaveUp:
    """A delivery that will not be attempted again unless someone retries it."""

    id: uuid.UUID
    channel: str
    event_type: str
    attempts: int
    last_error: str | None
    created_at: datetime


async def given_up(conn: Connection, limit: int = 100) -> tuple[list[GaveUp], int]:
    """The newest deliveries that gave up, and how many there are in all."""
    found = await db.rows(
        conn,
        "SELECT id, channel, event_type, attempts, last_error, created_at, "
        "count(*) OVER () AS total FROM outbox_event WHERE status = 'failed' "
        "ORDER BY created_at DESC LIMIT :n",
        {"n": limit},
    )
    total = int(found[0].total) if found else 0
    return [
        GaveUp(r.id, r.channel, r.event_type, r.attempts, r.last_error, r.created_at) for r in found
    ], total


async def disabled_endpoints(conn: Connection) -> list[tuple[str, str, datetime]]:
    rows = await db.rows(
        conn, "SELECT channel, reason, disabled_at FROM webhook_endpoint_disabled ORDER BY channel"
    )
    return [(r.channel, r.reason, r.disabled_at) for r in rows]


async def retry(
    conn: Connection, *, event_id: uuid.UUID | None = None, channel: str | None = None
) -> list[tuple[uuid.UUID, int]]:
    """Give deliveries that gave up (one, or all of a channel) another full retry window from
    now, and switch their channel's endpoint back on. Returns (id, attempts) of each."""
    if event_id is None and channel is None:
        raise ValueError("retry one delivery or one channel's, never all at once by accident")
    again = await db.rows(
        conn,
        "UPDATE outbox_event SET status = 'pending', retried_at = now(), "
        "next_attempt_at = now(), locked_until = NULL "
        "WHERE status = 'failed' AND (CAST(:id AS uuid) IS NULL OR id = :id) "
        "AND (CAST(:c AS text) IS NULL OR channel = :c) RETURNING id, channel, attempts",
        {"id": event_id, "c": channel},
    )
    channels = sorted({r.channel for r in again} | ({channel} if channel else set()))
    await db.execute(
        conn, "DELETE FROM webhook_endpoint_disabled WHERE channel = ANY(:c)", {"c": channels}
    )
    return [(r.id, r.attempts) for r in again]


DUE = """SELECT id, attempts FROM outbox_event
WHERE status = 'pending' AND next_attempt_at <= now()
  AND (locked_until IS NULL OR locked_until < now())
ORDER BY next_attempt_at LIMIT :n"""


async def due(conn: Connection, limit: int = 500) -> list[tuple[uuid.UUID, int]]:
    """Deliveries due that nobody is attempting, oldest first, with their attempt counts."""
    return [(r.id, r.attempts) for r in await db.rows(conn, DUE, {"n": limit})]


def next_attempt_in(
    attempts: int,
    age_seconds: float,
    base: float,
    cap: float,
    retry_for: float,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones, `age_seconds` into the
    delivery's retry window; None when that would fall past the window (it gives up)."""
    delay = backoff_delay(attempts, base, cap, rng)
    return None if age_seconds + delay > retry_for else delay


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: spreads retries of many failed deliveries apart."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)
