"""Queries about the people who review and take transfers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from service import db
from service.db import Connection, of_teams, read_as
from service.reviewers.accounts import CALLER_SQL, caller_of_row
from service.reviewers.caller import Caller
from service.reviewers.schemas import Person


async def presence_of(conn: Connection, reviewer_id: uuid.UUID) -> str | None:
    """online, away or offline; None if there is no such person."""
    value = await db.value(
        conn, "SELECT presence FROM reviewer WHERE id = :id", {"id": reviewer_id}
    )
    return str(value) if value is not None else None


async def online(conn: Connection, limit: int = 1000) -> list[Caller]:
    """Everyone Postgres says is online: the sweeper checks each against their heartbeats."""
    rows = await db.rows(
        conn,
        CALLER_SQL + " WHERE r.presence = 'online' GROUP BY r.id ORDER BY r.id LIMIT :n",
        {"n": limit},
    )
    return [caller_of_row(r) for r in rows]


async def people(conn: Connection, teams: Sequence[str] | None) -> list[Person]:
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
        + of_teams("t.team", teams)
        + """
    GROUP BY r.id ORDER BY (r.presence = 'online') DESC, r.display_name LIMIT 500
    """
    )
    return read_as(Person, await db.rows(conn, sql, {"teams": list(teams or [])}))


async def name_of(conn: Connection, reviewer_id: uuid.UUID | None) -> str | None:
    """A person as the desk names who decided, "Name (email)"; None for nobody."""
    if reviewer_id is None:
        return None
    row = await db.first(
        conn, "SELECT display_name, email FROM reviewer WHERE id = :id", {"id": reviewer_id}
    )
    return f"{row.display_name} ({row.email})" if row else None
