"""Read-only queries behind the UI's pages (the writes go through the service use-cases)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from service.reviews import repository
from service.reviews.schemas import ReviewRead

# The queue page renders at most this many rows (the most urgent) plus a count of the rest:
# a person scans the top of the list, and the page stays fast with 10,000 items open.
QUEUE_ROWS = 200


def _team_filter(teams: Sequence[str] | None, column: str = "team") -> str:
    return "" if teams is None else f" AND {column} = ANY(:teams)"


async def queue(
    conn: AsyncConnection, teams: Sequence[str] | None, limit: int = QUEUE_ROWS
) -> tuple[Sequence[ReviewRead], int]:
    rows = await repository.list_open(conn, teams, limit=limit)
    total = len(rows)
    if total >= limit:
        total = int(
            (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM review WHERE status IN ('pending', 'claimed')"
                        + _team_filter(teams)
                    ),
                    {"teams": list(teams or [])},
                )
            ).scalar_one()
        )
    return rows, total


async def history(conn: AsyncConnection, turn_id: uuid.UUID, limit: int = 20) -> Sequence[Row[Any]]:
    """The conversation before this turn: what the customer said and what was answered."""
    sql = """
    SELECT t.seq, t.message, t.draft_text, t.created_at, d.action, r.status AS review_status,
           r.final_text
    FROM turn t JOIN decision d ON d.turn_id = t.id LEFT JOIN review r ON r.turn_id = t.id
    WHERE t.conversation_id = (SELECT conversation_id FROM turn WHERE id = :turn)
      AND t.seq < (SELECT seq FROM turn WHERE id = :turn)
    ORDER BY t.seq DESC LIMIT :n
    """
    rows = (await conn.execute(text(sql), {"turn": turn_id, "n": limit})).all()
    return list(reversed(rows))


async def prior_contacts(
    conn: AsyncConnection, customer_id: str, conversation_id: uuid.UUID, limit: int = 5
) -> Sequence[Row[Any]]:
    sql = """
    SELECT channel, created_at, turn_count, resolved FROM conversation
    WHERE customer_id = :c AND id <> :conv ORDER BY created_at DESC LIMIT :n
    """
    return (
        await conn.execute(text(sql), {"c": customer_id, "conv": conversation_id, "n": limit})
    ).all()


async def reviewer_name(conn: AsyncConnection, reviewer_id: uuid.UUID | None) -> str | None:
    if reviewer_id is None:
        return None
    row = (
        await conn.execute(
            text("SELECT display_name, email FROM reviewer WHERE id = :id"), {"id": reviewer_id}
        )
    ).first()
    return f"{row.display_name} ({row.email})" if row else None


async def team_health(conn: AsyncConnection, teams: Sequence[str] | None) -> Sequence[Row[Any]]:
    """Per team: queue depth, oldest item, items past 80% of their budget, breaches today."""
    sql = (
        """
    SELECT t.name AS team,
      count(r.id) FILTER (WHERE r.status IN ('pending', 'claimed')) AS depth,
      max(EXTRACT(EPOCH FROM now() - r.created_at))
        FILTER (WHERE r.status IN ('pending', 'claimed')) AS oldest_seconds,
      count(r.id) FILTER (WHERE r.status IN ('pending', 'claimed')
        AND now() >= r.created_at + (r.deadline - r.created_at) * 0.8) AS at_risk,
      count(r.id) FILTER (WHERE r.status = 'expired'
        AND r.decided_at >= date_trunc('day', now())) AS breaches_today,
      count(r.id) FILTER (WHERE r.status = 'claimed') AS held
    FROM team t LEFT JOIN review r ON r.team = t.name
      AND (r.status IN ('pending', 'claimed') OR r.decided_at >= date_trunc('day', now()))
    WHERE true"""
        + _team_filter(teams, "t.name")
        + """
    GROUP BY t.name ORDER BY t.name
    """
    )
    return (await conn.execute(text(sql), {"teams": list(teams or [])})).all()


async def holds(conn: AsyncConnection, teams: Sequence[str] | None) -> Sequence[Row[Any]]:
    """Who holds what right now."""
    sql = (
        """
    SELECT r.id, r.team, r.channel, r.deadline, r.lease_until, r.created_at, c.customer_id,
           r.claimed_by,
           h.display_name AS holder_name, h.email AS holder_email
    FROM review r JOIN reviewer h ON h.id = r.claimed_by
    JOIN conversation c ON c.id = r.conversation_id
    WHERE r.status = 'claimed'"""
        + _team_filter(teams, "r.team")
        + """
    ORDER BY h.display_name, r.deadline LIMIT 500
    """
    )
    return (await conn.execute(text(sql), {"teams": list(teams or [])})).all()


async def people(conn: AsyncConnection, teams: Sequence[str] | None) -> Sequence[Row[Any]]:
    """The people of these teams: presence, and how much each holds right now."""
    sql = (
        """
    SELECT r.id, r.display_name, r.email, r.presence, r.last_seen_at,
      array_agg(t.team ORDER BY t.team) AS teams,
      (SELECT count(*) FROM review v WHERE v.claimed_by = r.id AND v.status = 'claimed')
        AS holding,
      (SELECT count(*) FROM transfer x WHERE x.assigned_to = r.id AND x.status = 'accepted')
        AS conversations
    FROM reviewer r JOIN reviewer_team t ON t.reviewer_id = r.id
    WHERE true"""
        + _team_filter(teams, "t.team")
        + """
    GROUP BY r.id ORDER BY (r.presence = 'online') DESC, r.display_name LIMIT 500
    """
    )
    return (await conn.execute(text(sql), {"teams": list(teams or [])})).all()
