"""Queries about the people who review and take transfers."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from service.reviewers.accounts import CALLER_SQL, caller_of_row
from service.reviewers.caller import Caller


async def presence_of(conn: AsyncConnection, reviewer_id: uuid.UUID) -> str | None:
    """online, away or offline; None if there is no such person."""
    value = await conn.scalar(
        text("SELECT presence FROM reviewer WHERE id = :id"), {"id": reviewer_id}
    )
    return str(value) if value is not None else None


async def online(conn: AsyncConnection, limit: int = 1000) -> list[Caller]:
    """Everyone Postgres says is online: the sweeper checks each against their heartbeats."""
    rows = await conn.execute(
        text(CALLER_SQL + " WHERE r.presence = 'online' GROUP BY r.id ORDER BY r.id LIMIT :n"),
        {"n": limit},
    )
    return [caller_of_row(r) for r in rows]
