"""Queries over transfers and agents' load; every status change is a conditional UPDATE."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from service import db
from service.db import Connection, Row, Statement, json_value
from service.transfers.assignment import Agent
from service.transfers.schemas import DeskTransfer, Said, TransferRead

VIEW = """
SELECT x.id, x.conversation_id, x.channel, x.mode, x.team, x.reason, x.status, x.assigned_to,
       x.summary, x.triggers, x.passed_by, x.offered_at, x.offer_expires_at, x.resolution,
       x.created_at, x.accepted_at, x.closed_at, x.priority,
       c.external_id AS conversation_external_id, c.customer_id,
       a.email AS assigned_email, a.display_name AS assigned_name,
       w.queue_position, w.estimated_wait_seconds, w.online AS team_online
FROM transfer x JOIN conversation c ON c.id = x.conversation_id
LEFT JOIN reviewer a ON a.id = x.assigned_to
LEFT JOIN LATERAL transfer_wait(x.team, x.priority, x.created_at, x.id) w
  ON x.status IN ('created', 'offered', 'queued')
"""

OPEN = ("created", "offered", "queued", "accepted")  # a person has the conversation
WAITING = ("created", "offered", "queued")


async def get(conn: Connection, transfer_id: uuid.UUID) -> TransferRead | None:
    row = await db.first(conn, VIEW + " WHERE x.id = :id", {"id": transfer_id})
    return TransferRead.of(row) if row else None


async def list_open(conn: Connection, teams: Sequence[str] | None) -> list[TransferRead]:
    where = "x.status IN ('created', 'offered', 'queued', 'accepted')" + db.of_teams(
        "x.team", teams
    )
    sql = VIEW + f" WHERE {where} ORDER BY x.priority DESC, x.created_at LIMIT 500"
    return [TransferRead.of(r) for r in await db.rows(conn, sql, {"teams": list(teams or [])})]


async def change_load(conn: Connection, agent: uuid.UUID, delta: int) -> None:
    # The CHECK (active_transfers BETWEEN 0 AND capacity) refuses any overbooking.
    await db.execute(
        conn,
        "UPDATE reviewer SET active_transfers = active_transfers + :d, "
        "last_assigned_at = CASE WHEN :d > 0 THEN now() ELSE last_assigned_at END WHERE id = :id",
        {"id": agent, "d": delta},
    )


async def lapse_offer(conn: Connection, transfer_id: uuid.UUID) -> uuid.UUID | None:
    """An offer nobody accepted in time goes back to waiting; returns who let it lapse."""
    row = await db.first(
        conn,
        "WITH old AS (SELECT id, assigned_to FROM transfer WHERE id = :id "
        "AND status = 'offered' AND offer_expires_at <= now() FOR UPDATE) "
        "UPDATE transfer x SET status = 'queued', assigned_to = NULL, offered_at = NULL, "
        "offer_expires_at = NULL, passed_by = x.passed_by || old.assigned_to "
        "FROM old WHERE x.id = old.id RETURNING old.assigned_to",
        {"id": transfer_id},
    )
    return row.assigned_to if row else None


async def accept(conn: Connection, transfer_id: uuid.UUID, agent: uuid.UUID) -> Row | None:
    """Offered to this agent, or waiting in the queue: returns the previous status and holder."""
    return await db.first(
        conn,
        "WITH old AS (SELECT id, status, assigned_to FROM transfer WHERE id = :id "
        "AND (status IN ('created', 'queued') OR (status = 'offered' AND assigned_to = :agent)) "
        "FOR UPDATE) "
        "UPDATE transfer x SET status = 'accepted', assigned_to = :agent, "
        "accepted_at = now(), offer_expires_at = NULL "
        "FROM old WHERE x.id = old.id RETURNING old.status AS was",
        {"id": transfer_id, "agent": agent},
    )


async def end(
    conn: Connection,
    transfer_id: uuid.UUID,
    status: str,
    from_statuses: Sequence[str],
    resolution: str | None,
) -> Row | None:
    """close or cancel; returns the previous status and holder, so their load can be released."""
    return await db.first(
        conn,
        "WITH old AS (SELECT id, status, assigned_to FROM transfer WHERE id = :id "
        "AND status = ANY(:from_statuses) FOR UPDATE) "
        "UPDATE transfer x SET status = :status, resolution = :resolution, "
        "closed_at = now(), offer_expires_at = NULL "
        "FROM old WHERE x.id = old.id RETURNING old.status AS was, old.assigned_to AS holder",
        {
            "id": transfer_id,
            "status": status,
            "from_statuses": list(from_statuses),
            "resolution": resolution,
        },
    )


async def end_offers_of(conn: Connection, agent: uuid.UUID) -> list[tuple[uuid.UUID, datetime]]:
    """The offers someone holds, due now: they went away or offline, so the offers move on."""
    rows = await db.rows(
        conn,
        "UPDATE transfer SET offer_expires_at = now() "
        "WHERE assigned_to = :id AND status = 'offered' RETURNING id, offer_expires_at",
        {"id": agent},
    )
    return [(r.id, r.offer_expires_at) for r in rows]


async def unattended(
    conn: Connection, team: str, waited: timedelta, limit: int = 200
) -> list[uuid.UUID]:
    """Transfers of a team with nobody of it online that have waited this long and had no
    fallback yet (moved from a team, or told the customer to hold)."""
    return await db.column(
        conn,
        "SELECT x.id FROM transfer x WHERE x.team = :team AND x.status IN ('created', 'queued') "
        "AND x.created_at <= now() - make_interval(secs => :secs) "
        "AND NOT EXISTS (SELECT 1 FROM reviewer r JOIN reviewer_team t ON t.reviewer_id = r.id "
        "  WHERE t.team = :team AND r.presence = 'online') "
        "AND NOT EXISTS (SELECT 1 FROM transfer_event e WHERE e.transfer_id = x.id "
        "  AND e.status IN ('rerouted', 'holding')) "
        "ORDER BY x.priority DESC, x.created_at LIMIT :n",
        {"team": team, "secs": waited.total_seconds(), "n": limit},
    )


async def hold_for_fallback(conn: Connection, transfer_id: uuid.UUID) -> bool:
    """Locks the transfer and says whether it has yet to follow a fallback. Two sweeps can run
    at once (a slow one and the next tick): the second waits here for the first to commit, and
    the check is a statement of its own so that it sees what the first wrote."""
    await db.execute(conn, "SELECT 1 FROM transfer WHERE id = :id FOR UPDATE", {"id": transfer_id})
    return not await db.value(
        conn,
        "SELECT EXISTS (SELECT 1 FROM transfer_event WHERE transfer_id = :id "
        "AND status IN ('rerouted', 'holding'))",
        {"id": transfer_id},
    )


async def reroute(conn: Connection, transfer_id: uuid.UUID, old: str, new: str) -> bool:
    return (
        await db.execute(
            conn,
            "UPDATE transfer SET team = :new "
            "WHERE id = :id AND team = :old AND status IN ('created', 'queued')",
            {"id": transfer_id, "old": old, "new": new},
        )
        > 0
    )


async def add_holding(conn: Connection, transfer_id: uuid.UUID, text_: str) -> Row:
    return await db.one(
        conn,
        "INSERT INTO transfer_message (transfer_id, sender, author, text) "
        "VALUES (:id, 'system', 'holding message', :text) RETURNING id, at",
        {"id": transfer_id, "text": text_},
    )


async def end_offers_to_absent(conn: Connection, limit: int = 200) -> list[uuid.UUID]:
    """Offers held by someone who is not online (away, offline, or set so by the sweeper):
    due now, so the sweeper moves them on."""
    return await db.column(
        conn,
        "UPDATE transfer SET offer_expires_at = now() WHERE id IN ("
        "  SELECT x.id FROM transfer x JOIN reviewer r ON r.id = x.assigned_to"
        "  WHERE x.status = 'offered' AND r.presence <> 'online'"
        "    AND (x.offer_expires_at IS NULL OR x.offer_expires_at > now())"
        "  LIMIT :n) RETURNING id",
        {"n": limit},
    )


async def queue(conn: Connection, transfer_id: uuid.UUID) -> bool:
    """Nobody could be offered it: it waits in the team's queue (True if it was just created)."""
    return (
        await db.execute(
            conn,
            "UPDATE transfer SET status = 'queued' WHERE id = :id AND status = 'created'",
            {"id": transfer_id},
        )
        > 0
    )


async def messages(conn: Connection, transfer_id: uuid.UUID) -> list[Said]:
    """The conversation since the transfer began: the customer's turns and the person's replies."""
    found = await db.rows(
        conn,
        "SELECT id, at, sender, author, text, draft_text, triggers FROM transfer_message "
        "WHERE transfer_id = :id ORDER BY id",
        {"id": transfer_id},
    )
    return db.read_as(Said, found)


async def add_reply(
    conn: Connection, transfer_id: uuid.UUID, author: str, text_: str, key: str | None
) -> tuple[Row, bool]:
    """The reply, and whether it is new (False: this Idempotency-Key sent it before)."""
    row = await db.first(
        conn,
        "INSERT INTO transfer_message (transfer_id, sender, author, text, idempotency_key) "
        "VALUES (:id, 'person', :author, :text, :key) "
        "ON CONFLICT (transfer_id, idempotency_key) WHERE idempotency_key IS NOT NULL "
        "DO NOTHING RETURNING id, at, text",
        {"id": transfer_id, "author": author, "text": text_, "key": key},
    )
    if row is not None:
        return row, True
    first = await db.one(
        conn,
        "SELECT id, at, text FROM transfer_message "
        "WHERE transfer_id = :id AND idempotency_key = :key",
        {"id": transfer_id, "key": key},
    )
    return first, False


async def record(
    conn: Connection, transfer_id: uuid.UUID, actor: str, status: str, **detail: Any
) -> None:
    await db.execute(
        conn,
        "INSERT INTO transfer_event (transfer_id, actor, status, detail) "
        "VALUES (:id, :actor, :status, CAST(:detail AS jsonb))",
        {
            "id": transfer_id,
            "actor": actor,
            "status": status,
            "detail": json.dumps(detail, default=str),
        },
    )


async def waiting(
    conn: Connection, limit: int = 200, teams: Sequence[str] | None = None
) -> list[uuid.UUID]:
    """Transfers nobody is offered yet, most urgent first (of these teams, or of all)."""
    where = db.of_teams("team", teams)
    return await db.column(
        conn,
        f"SELECT id FROM transfer WHERE status IN ('created', 'queued'){where} "
        "ORDER BY priority DESC, created_at LIMIT :n",
        {"n": limit, "teams": list(teams or [])},
    )


LAPSED = """SELECT id FROM transfer WHERE status = 'offered' AND offer_expires_at <= now()
ORDER BY offer_expires_at LIMIT :n"""


async def lapsed_offers(conn: Connection, limit: int = 200) -> list[uuid.UUID]:
    """Offers whose time ran out, the longest lapsed first: the sweeper moves them on."""
    return await db.column(conn, LAPSED, {"n": limit})


# The assignment path in two statements (it runs for every transfer, so round trips count):
# the waiting transfer, locked, with its team's free-looking agents; then reserve, offer, record.
WAITING_WITH_AGENTS = Statement("""
SELECT x.team, x.passed_by,
  (SELECT COALESCE(json_agg(json_build_array(r.id, r.presence, r.active_transfers, r.capacity,
                                             r.last_assigned_at)), '[]')
     FROM reviewer r JOIN reviewer_team t ON t.reviewer_id = r.id
     WHERE t.team = x.team AND r.presence = 'online' AND r.active_transfers < r.capacity) AS agents
FROM transfer x WHERE x.id = :id AND x.status IN ('created', 'queued')
FOR UPDATE OF x SKIP LOCKED""")

RESERVE_AND_OFFER = Statement("""
WITH slot AS (
  UPDATE reviewer SET active_transfers = active_transfers + 1, last_assigned_at = now()
  WHERE id = :agent AND presence = 'online' AND active_transfers < capacity RETURNING id),
offer AS (
  UPDATE transfer SET status = 'offered', assigned_to = slot.id, offered_at = now(),
    offer_expires_at = now() + make_interval(secs => CAST(:secs AS float8))
  FROM slot WHERE transfer.id = :id AND transfer.status IN ('created', 'queued')
  RETURNING offer_expires_at),
event AS (
  INSERT INTO transfer_event (transfer_id, actor, status, detail)
  SELECT :id, 'system', 'offered', jsonb_build_object('agent', CAST(:agent AS text)) FROM offer)
SELECT EXISTS (SELECT 1 FROM offer) AS offered, (SELECT offer_expires_at FROM offer) AS expires""")


async def waiting_with_agents(
    conn: Connection, transfer_id: uuid.UUID
) -> tuple[str, list[uuid.UUID], list[Agent]] | None:
    row = await db.first(conn, WAITING_WITH_AGENTS, {"id": transfer_id})
    if row is None:
        return None
    agents = [
        Agent(uuid.UUID(a[0]), a[1], a[2], a[3], datetime.fromisoformat(a[4]) if a[4] else None)
        for a in json_value(row["agents"])
    ]
    return row["team"], list(row["passed_by"]), agents


async def reserve_and_offer(
    conn: Connection, transfer_id: uuid.UUID, agent: uuid.UUID, expires_after: timedelta | None
) -> tuple[bool, datetime | None]:
    """Offered, and when the offer lapses; (False, None) if the agent's last slot went meanwhile.
    No expiry (NULL seconds) leaves offer_expires_at NULL: the offer waits for that agent."""
    secs = expires_after.total_seconds() if expires_after else None
    row = await db.one(conn, RESERVE_AND_OFFER, {"id": transfer_id, "agent": agent, "secs": secs})
    return bool(row["offered"]), row["expires"]


DESK = """
SELECT x.id, x.mode, x.team, x.status, x.reason, x.summary, x.triggers, x.created_at,
       x.accepted_at, x.channel, x.assigned_to, h.display_name AS assigned_name, x.priority,
       (SELECT count(*) FROM transfer_message m WHERE m.transfer_id = x.id
          AND m.sender = 'customer') AS customer_messages,
       c.customer_id, c.external_id AS conversation_external_id,
       EXTRACT(EPOCH FROM now() - x.created_at)::float AS waiting_seconds
FROM transfer x JOIN conversation c ON c.id = x.conversation_id
LEFT JOIN reviewer h ON h.id = x.assigned_to
"""


async def desk_list(
    conn: Connection, teams: Sequence[str] | None, me: uuid.UUID
) -> tuple[list[DeskTransfer], list[DeskTransfer]]:
    """Transfers waiting for a person of these teams (what is offered to this person first, then
    the most urgent, then the oldest), and the ones this person accepted."""
    team = db.of_teams("x.team", teams)
    waiting = await db.rows(
        conn,
        f"{DESK} WHERE x.status IN ('created', 'offered', 'queued'){team} "
        "ORDER BY (x.status = 'offered' AND x.assigned_to = :me) DESC, "
        "x.priority DESC, x.created_at LIMIT 200",
        {"teams": list(teams or []), "me": me},
    )
    mine = await db.rows(
        conn,
        f"{DESK} WHERE x.status = 'accepted' AND x.assigned_to = :me "
        "ORDER BY x.accepted_at DESC LIMIT 50",
        {"me": me},
    )
    return [DeskTransfer.of(r) for r in waiting], [DeskTransfer.of(r) for r in mine]
