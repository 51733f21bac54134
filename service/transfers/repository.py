"""Queries over transfers and agents' load; every status change is a conditional UPDATE."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from service.transfers.assignment import Agent

VIEW = """
SELECT x.id, x.conversation_id, x.channel, x.mode, x.team, x.reason, x.status, x.assigned_to,
       x.summary, x.triggers, x.passed_by, x.offered_at, x.offer_expires_at, x.resolution,
       x.created_at, x.accepted_at, x.closed_at, x.version,
       c.external_id AS conversation_external_id, c.customer_id,
       a.email AS assigned_email, a.display_name AS assigned_name
FROM transfer x JOIN conversation c ON c.id = x.conversation_id
LEFT JOIN reviewer a ON a.id = x.assigned_to
"""


async def get(conn: AsyncConnection, transfer_id: uuid.UUID) -> Row[Any] | None:
    return (await conn.execute(text(VIEW + " WHERE x.id = :id"), {"id": transfer_id})).first()


async def list_open(conn: AsyncConnection, teams: Sequence[str] | None) -> Sequence[Row[Any]]:
    where = "x.status IN ('created', 'offered', 'accepted')"
    if teams is not None:
        where += " AND x.team = ANY(:teams)"
    sql = VIEW + f" WHERE {where} ORDER BY x.created_at LIMIT 500"
    return (await conn.execute(text(sql), {"teams": list(teams or [])})).all()


async def lock_waiting(conn: AsyncConnection, transfer_id: uuid.UUID) -> Row[Any] | None:
    """The transfer if it waits for an agent; locked so that one assigner at a time handles it."""
    return (
        await conn.execute(
            text(
                "SELECT id, team, passed_by FROM transfer WHERE id = :id AND status = 'created' "
                "FOR UPDATE SKIP LOCKED"
            ),
            {"id": transfer_id},
        )
    ).first()


async def candidates(conn: AsyncConnection, team: str) -> list[Agent]:
    """The team's agents who look free now; `reserve` settles who really gets the slot."""
    rows = await conn.execute(
        text(
            "SELECT r.id, r.presence, r.active_transfers, r.capacity, r.last_assigned_at "
            "FROM reviewer r JOIN reviewer_team t ON t.reviewer_id = r.id "
            "WHERE t.team = :team AND r.presence = 'online' AND r.active_transfers < r.capacity"
        ),
        {"team": team},
    )
    return [
        Agent(r.id, r.presence, r.active_transfers, r.capacity, r.last_assigned_at) for r in rows
    ]


async def reserve(conn: AsyncConnection, agent: uuid.UUID) -> bool:
    """Take one slot of the agent's capacity if they still have one: concurrent assigners queue
    on the agent's row and Postgres re-checks the condition, so nobody is ever overbooked."""
    row = await conn.execute(
        text(
            "UPDATE reviewer SET active_transfers = active_transfers + 1, last_assigned_at = now() "
            "WHERE id = :id AND presence = 'online' AND active_transfers < capacity RETURNING id"
        ),
        {"id": agent},
    )
    return row.first() is not None


async def change_load(conn: AsyncConnection, agent: uuid.UUID, delta: int) -> None:
    # The CHECK (active_transfers BETWEEN 0 AND capacity) refuses any overbooking.
    await conn.execute(
        text(
            "UPDATE reviewer SET active_transfers = active_transfers + :d, "
            "last_assigned_at = CASE WHEN :d > 0 THEN now() ELSE last_assigned_at END WHERE id = :id"
        ),
        {"id": agent, "d": delta},
    )


async def offer(
    conn: AsyncConnection, transfer_id: uuid.UUID, agent: uuid.UUID, expires_after: timedelta | None
) -> Row[Any] | None:
    return (
        await conn.execute(
            text(
                "UPDATE transfer SET status = 'offered', assigned_to = :agent, offered_at = now(), "
                "offer_expires_at = CASE WHEN CAST(:secs AS float8) IS NULL THEN NULL "
                "ELSE now() + make_interval(secs => CAST(:secs AS float8)) END, "
                "version = version + 1 WHERE id = :id AND status = 'created' "
                "RETURNING offer_expires_at"
            ),
            {
                "id": transfer_id,
                "agent": agent,
                "secs": expires_after.total_seconds() if expires_after else None,
            },
        )
    ).first()


async def lapse_offer(conn: AsyncConnection, transfer_id: uuid.UUID) -> uuid.UUID | None:
    """An offer nobody accepted in time goes back to waiting; returns who let it lapse."""
    row = (
        await conn.execute(
            text(
                "WITH old AS (SELECT id, assigned_to FROM transfer WHERE id = :id "
                "AND status = 'offered' AND offer_expires_at <= now() FOR UPDATE) "
                "UPDATE transfer x SET status = 'created', assigned_to = NULL, offered_at = NULL, "
                "offer_expires_at = NULL, passed_by = x.passed_by || old.assigned_to, "
                "version = x.version + 1 FROM old WHERE x.id = old.id RETURNING old.assigned_to"
            ),
            {"id": transfer_id},
        )
    ).first()
    return row.assigned_to if row else None


async def accept(
    conn: AsyncConnection, transfer_id: uuid.UUID, agent: uuid.UUID
) -> Row[Any] | None:
    """Offered to this agent, or waiting in the queue: returns the previous status and holder."""
    return (
        await conn.execute(
            text(
                "WITH old AS (SELECT id, status, assigned_to FROM transfer WHERE id = :id "
                "AND (status = 'created' OR (status = 'offered' AND assigned_to = :agent)) FOR UPDATE) "
                "UPDATE transfer x SET status = 'accepted', assigned_to = :agent, "
                "accepted_at = now(), offer_expires_at = NULL, version = x.version + 1 "
                "FROM old WHERE x.id = old.id RETURNING old.status AS was"
            ),
            {"id": transfer_id, "agent": agent},
        )
    ).first()


async def end(
    conn: AsyncConnection,
    transfer_id: uuid.UUID,
    status: str,
    from_statuses: Sequence[str],
    resolution: str | None,
) -> Row[Any] | None:
    """close or cancel; returns the previous status and holder, so their load can be released."""
    return (
        await conn.execute(
            text(
                "WITH old AS (SELECT id, status, assigned_to FROM transfer WHERE id = :id "
                "AND status = ANY(:from_statuses) FOR UPDATE) "
                "UPDATE transfer x SET status = :status, resolution = :resolution, "
                "closed_at = now(), offer_expires_at = NULL, version = x.version + 1 "
                "FROM old WHERE x.id = old.id RETURNING old.status AS was, old.assigned_to AS holder"
            ),
            {
                "id": transfer_id,
                "status": status,
                "from_statuses": list(from_statuses),
                "resolution": resolution,
            },
        )
    ).first()


async def record(
    conn: AsyncConnection, transfer_id: uuid.UUID, actor: str, status: str, **detail: Any
) -> None:
    await conn.execute(
        text(
            "INSERT INTO transfer_event (transfer_id, actor, status, detail) "
            "VALUES (:id, :actor, :status, CAST(:detail AS jsonb))"
        ),
        {
            "id": transfer_id,
            "actor": actor,
            "status": status,
            "detail": json.dumps(detail, default=str),
        },
    )


async def waiting(conn: AsyncConnection, limit: int = 200) -> list[uuid.UUID]:
    rows = await conn.execute(
        text("SELECT id FROM transfer WHERE status = 'created' ORDER BY created_at LIMIT :n"),
        {"n": limit},
    )
    return [r.id for r in rows]


async def lapsed_offers(conn: AsyncConnection, limit: int = 200) -> list[uuid.UUID]:
    rows = await conn.execute(
        text(
            "SELECT id FROM transfer WHERE status = 'offered' AND offer_expires_at <= now() "
            "ORDER BY offer_expires_at LIMIT :n"
        ),
        {"n": limit},
    )
    return [r.id for r in rows]
