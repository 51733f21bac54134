"""Queries over the review queue. Every state change is one conditional UPDATE decided by Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from service import db
from service.db import Connection
from service.reviews.schemas import Hold, ReviewRead, TeamHealth

# The review joined with what a reviewer needs to judge it.
VIEW_COLUMNS = """
SELECT r.id, r.status, r.team, r.channel, r.priority, r.deadline, r.claimed_by, r.lease_until,
       r.draft_text, r.final_text, r.outcome_by, r.fallback, r.decided_by, r.decided_at,
       r.created_at, r.turn_id, r.conversation_id,
       t.message, t.confidence, t.intent, t.topics, t.sentiment, t.locale, t.metadata,
       c.external_id AS conversation_external_id, c.customer_id,
       d.triggers, d.policy_version,
       h.email AS claimed_by_email, h.display_name AS claimed_by_name
"""
VIEW_JOINS = """
JOIN turn t ON t.id = r.turn_id
JOIN conversation c ON c.id = r.conversation_id
JOIN decision d ON d.turn_id = r.turn_id
LEFT JOIN reviewer h ON h.id = r.claimed_by
"""
SELECT_VIEW = f"{VIEW_COLUMNS}FROM review r{VIEW_JOINS}"

# An item a reviewer may act on: pending, or claimed by them, or claimed under a lapsed lease.
ACTIONABLE_BY = (
    "(status = 'pending' OR (status = 'claimed' AND (claimed_by = :who OR lease_until < now())))"
)


async def get(conn: Connection, review_id: uuid.UUID) -> ReviewRead | None:
    row = await db.first(conn, SELECT_VIEW + " WHERE r.id = :id", {"id": review_id})
    return ReviewRead.of(row) if row else None


async def list_open(
    conn: Connection, teams: Sequence[str] | None, limit: int = 500
) -> list[ReviewRead]:
    """Open reviews, most urgent first; teams=None means every team."""
    where = "r.status IN ('pending', 'claimed')" + db.of_teams("r.team", teams)
    params: dict[str, Any] = {"n": limit, "teams": list(teams or [])}
    sql = (
        SELECT_VIEW + f" WHERE {where} ORDER BY r.deadline, r.priority DESC, r.created_at LIMIT :n"
    )
    return [ReviewRead.of(r) for r in await db.rows(conn, sql, params)]


# A claim is a lease, not an outcome: its commit need not wait for the WAL to reach the disk
# (that wait was most of a claim's tail). If PostgreSQL crashes in the fraction of a second
# before the flush, the claim is forgotten and the item is pending again, which its reviewer
# can still act on; the outcome itself (approve, edit, take over) commits synchronously.
# set_config in RETURNING is SET LOCAL without another round trip, and only when a row was taken.
LEASE_COMMIT = "set_config('synchronous_commit', 'off', true) AS lease_commit"


async def claim(conn: Connection, review_id: uuid.UUID, who: uuid.UUID, lease_seconds: int) -> bool:
    row = await db.first(
        conn,
        "UPDATE review SET status = 'claimed', claimed_by = :who, "
        "lease_until = now() + make_interval(secs => :lease) "
        f"WHERE id = :id AND deadline > now() AND {ACTIONABLE_BY} RETURNING id, {LEASE_COMMIT}",
        {"id": review_id, "who": who, "lease": lease_seconds},
    )
    return row is not None


async def claim_next(
    conn: db.Connection, who: uuid.UUID, teams: Sequence[str] | None, lease_seconds: int
) -> ReviewRead | None:
    """The most urgent free item of these teams, claimed and read back in one statement: on a
    pool connection that is one round trip, with no BEGIN or COMMIT of its own to wait for."""
    sql, args = claim_next_statement(who, teams, lease_seconds)
    row = await conn.fetchrow(sql, *args)
    return ReviewRead.of(row) if row else None


def claim_next_statement(
    who: uuid.UUID, teams: Sequence[str] | None, lease_seconds: int
) -> tuple[str, list[Any]]:
    """Claim-next's compiled statement for these teams and its arguments (the bench sends it
    alone as the floor)."""
    scope: dict[str, Any] = (
        {} if teams is None else {"team": teams[0]} if len(teams) == 1 else {"teams": list(teams)}
    )
    statement = CLAIM_NEXT[tuple(scope)]
    return statement.sql, statement.args({"who": who, "lease": lease_seconds} | scope)


def _claim_next(team_filter: str) -> db.Statement:
    """Two candidates, each from an index in the queue's order: the first pending item, and the
    first item whose claim lapsed (few: the sweeper returns them to pending). The more urgent
    one is taken. Pending and claimed items are never scanned together: with claimed items in
    one index, every claim walked past all those already claimed. SKIP LOCKED lets reviewers
    claim in parallel."""
    order = "ORDER BY deadline, priority DESC, created_at"
    return db.Statement(
        "WITH pending AS ("
        f"SELECT id, deadline, priority, created_at FROM review WHERE status = 'pending' "
        f"AND deadline > now() {team_filter} {order} LIMIT 1 FOR UPDATE SKIP LOCKED), "
        "lapsed AS ("
        f"SELECT id, deadline, priority, created_at FROM review WHERE status = 'claimed' "
        f"AND lease_until < now() AND deadline > now() {team_filter} {order} LIMIT 1 "
        "FOR UPDATE SKIP LOCKED), "
        "next AS (SELECT id FROM (SELECT * FROM pending UNION ALL SELECT * FROM lapsed) c "
        f"{order} LIMIT 1), "
        "claimed AS (UPDATE review r SET status = 'claimed', claimed_by = :who, "
        "lease_until = now() + make_interval(secs => :lease) "
        f"FROM next WHERE r.id = next.id RETURNING r.*, {LEASE_COMMIT}) "
        f"{VIEW_COLUMNS}FROM claimed r{VIEW_JOINS}"
    )


# By the teams' parameter: every team, one team by equality (the planner then walks
# review_pending_queue in order; with ANY(...) it filters the cross-team index instead), several.
CLAIM_NEXT = {
    (): _claim_next(""),
    ("team",): _claim_next("AND team = :team"),
    ("teams",): _claim_next("AND team = ANY(:teams)"),
}


async def release(conn: Connection, review_id: uuid.UUID, who: uuid.UUID) -> bool:
    row = await db.first(
        conn,
        "UPDATE review SET status = 'pending', claimed_by = NULL, lease_until = NULL "
        "WHERE id = :id AND status = 'claimed' AND claimed_by = :who "
        "RETURNING id",
        {"id": review_id, "who": who},
    )
    return row is not None


async def finish_by_reviewer(
    conn: Connection, review_id: uuid.UUID, who: uuid.UUID, status: str, final_text: str | None
) -> bool:
    """approve / edit / take over: wins only if still actionable by `who` and before the deadline."""
    row = await db.first(
        conn,
        "UPDATE review SET status = :status, final_text = :final, outcome_by = 'reviewer', "
        "decided_by = :who, decided_at = now(), lease_until = NULL "
        f"WHERE id = :id AND deadline > now() AND {ACTIONABLE_BY} RETURNING id",
        {"id": review_id, "who": who, "status": status, "final": final_text},
    )
    return row is not None


async def expire(
    conn: Connection, review_id: uuid.UUID, fallback: str, final_text: str | None
) -> bool:
    """The budget ran out: applies the channel's on_timeout, only if nobody finished it first."""
    row = await db.first(
        conn,
        "UPDATE review SET status = 'expired', outcome_by = 'timeout', fallback = :fallback, "
        "final_text = :final, decided_at = now(), lease_until = NULL "
        "WHERE id = :id AND status IN ('pending', 'claimed') AND deadline <= now() RETURNING id",
        {"id": review_id, "fallback": fallback, "final": final_text},
    )
    return row is not None


async def expire_due(
    conn: Connection, plans: Mapping[str, tuple[str, str | None]], limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Ends up to `limit` overdue reviews of the channels planned (channel -> (fallback, the
    text it sends unless that is the draft)) in one statement, oldest deadline first, skipping
    rows another worker holds. Returns (review, conversation) of each one ended."""
    if not plans:
        return []
    rows = await db.rows(
        conn,
        "WITH due AS (SELECT id FROM review WHERE status IN ('pending', 'claimed') "
        "AND deadline <= now() AND channel = ANY(CAST(:channels AS text[])) "
        "ORDER BY deadline LIMIT :n FOR UPDATE SKIP LOCKED), "
        "plan AS (SELECT * FROM unnest(CAST(:channels AS text[]), "
        "CAST(:fallbacks AS text[]), CAST(:texts AS text[])) AS p(channel, fallback, final)) "
        "UPDATE review r SET status = 'expired', outcome_by = 'timeout', "
        "fallback = plan.fallback, final_text = CASE WHEN plan.fallback = 'send_draft' "
        "THEN r.draft_text ELSE plan.final END, decided_at = now(), "
        "lease_until = NULL "
        "FROM due, plan WHERE r.id = due.id AND plan.channel = r.channel "
        "RETURNING r.id, r.conversation_id",
        {
            "channels": list(plans),
            "fallbacks": [fallback for fallback, _ in plans.values()],
            "texts": [final for _, final in plans.values()],
            "n": limit,
        },
    )
    return [(r.id, r.conversation_id) for r in rows]


async def get_many(conn: Connection, review_ids: Sequence[uuid.UUID]) -> list[ReviewRead]:
    sql = SELECT_VIEW + " WHERE r.id = ANY(CAST(:ids AS uuid[]))"
    return [ReviewRead.of(r) for r in await db.rows(conn, sql, {"ids": list(review_ids)})]


async def unclaim(conn: Connection, review_id: uuid.UUID) -> bool:
    """A held item back to the queue, whoever held it."""
    row = await db.first(
        conn,
        "UPDATE review SET status = 'pending', claimed_by = NULL, lease_until = NULL "
        "WHERE id = :id AND status = 'claimed' RETURNING id",
        {"id": review_id},
    )
    return row is not None


async def hand_claim(
    conn: Connection, review_id: uuid.UUID, to: uuid.UUID, lease_seconds: int
) -> str | None:
    """A held item to another member of its team with a fresh lease; their email, or None if
    it is no longer held (or they are not of the team)."""
    row = await db.first(
        conn,
        "UPDATE review SET claimed_by = :to, "
        "lease_until = now() + make_interval(secs => :lease) "
        "WHERE id = :id AND status = 'claimed' AND deadline > now() AND EXISTS ("
        "SELECT 1 FROM reviewer_team m WHERE m.reviewer_id = :to AND m.team = review.team) "
        "RETURNING (SELECT email FROM reviewer WHERE id = :to) AS email",
        {"id": review_id, "to": to, "lease": lease_seconds},
    )
    return row.email if row else None


# Batched channels' reviews come here only once a batch had its chance: while deadlines fell
# due at 1,000 a second, this read found the ones due since the batch began and ended them one
# transaction each, 50 at a time, and the next batch started up to a second late.
OVERDUE = """SELECT id FROM review WHERE status IN ('pending', 'claimed') AND deadline <= now()
AND (channel <> ALL(CAST(:batched AS text[])) OR deadline <= now() - interval '1 second')
ORDER BY deadline LIMIT :n"""


async def overdue(
    conn: Connection, limit: int = 500, batched: Sequence[str] = ()
) -> list[uuid.UUID]:
    """Open reviews past their deadline, earliest first (the clock's one-by-one path): those of
    channels the batch does not end (`batched`: the channels it does), and any overdue for more
    than a second (another worker held it, or its batch failed)."""
    return await db.column(conn, OVERDUE, {"n": limit, "batched": list(batched)})


async def return_lapsed_leases(conn: Connection) -> list[tuple[uuid.UUID, str, uuid.UUID]]:
    """Claims whose lease ran out go back to the queue; returns (review, team, former holder)."""
    rows = await db.rows(
        conn,
        "UPDATE review r SET status = 'pending', claimed_by = NULL, lease_until = NULL "
        "FROM (SELECT id, claimed_by FROM review WHERE status = 'claimed' "
        "AND lease_until < now() AND deadline > now() FOR UPDATE SKIP LOCKED) old "
        "WHERE r.id = old.id RETURNING r.id, r.team, old.claimed_by",
    )
    return [(r.id, r.team, r.claimed_by) for r in rows]


async def seconds_until_deadline(conn: Connection, review_id: uuid.UUID) -> float | None:
    row = await db.first(
        conn,
        "SELECT EXTRACT(EPOCH FROM deadline - now()) AS s FROM review "
        "WHERE id = :id AND status IN ('pending', 'claimed')",
        {"id": review_id},
    )
    return float(row.s) if row else None


async def team_health(conn: Connection, teams: Sequence[str] | None) -> list[TeamHealth]:
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
        + db.of_teams("t.name", teams)
        + """
    GROUP BY t.name ORDER BY t.name
    """
    )
    return db.read_as(TeamHealth, await db.rows(conn, sql, {"teams": list(teams or [])}))


async def holds(conn: Connection, teams: Sequence[str] | None) -> list[Hold]:
    """Who holds what right now."""
    sql = (
        """
    SELECT r.id, r.team, r.channel, r.deadline, r.lease_until, r.created_at, c.customer_id,
           r.claimed_by,
           h.display_name AS holder_name, h.email AS holder_email
    FROM review r JOIN reviewer h ON h.id = r.claimed_by
    JOIN conversation c ON c.id = r.conversation_id
    WHERE r.status = 'claimed'"""
        + db.of_teams("r.team", teams)
        + """
    ORDER BY h.display_name, r.deadline LIMIT 500
    """
    )
    return db.read_as(Hold, await db.rows(conn, sql, {"teams": list(teams or [])}))


async def open_page(
    conn: Connection, teams: Sequence[str] | None, limit: int
) -> tuple[list[ReviewRead], int]:
    """The `limit` most urgent open reviews, and how many are open in all (counted only when
    the page is full: a person scans the top of the list, and the page stays fast at 10,000)."""
    rows = await list_open(conn, teams, limit=limit)
    if len(rows) < limit:
        return rows, len(rows)
    sql = "SELECT count(*) FROM review WHERE status IN ('pending', 'claimed')" + db.of_teams(
        "team", teams
    )
    return rows, int(await db.value(conn, sql, {"teams": list(teams or [])}) or 0)
