"""The figures behind /ui/dashboard: escalations by trigger over time, review outcomes, CSAT
after escalation, queue load and budget breaches. Every rate carries its denominator."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from service import db
from service.db import Connection


@dataclass(frozen=True)
class Period:
    name: str
    length: timedelta
    bucket: str  # date_trunc unit


PERIODS = {
    "24h": Period("24h", timedelta(hours=24), "hour"),
    "7d": Period("7d", timedelta(days=7), "day"),
    "30d": Period("30d", timedelta(days=30), "day"),
}
OUTCOMES = ("approved", "edited", "taken_over", "expired", "superseded")

# A supervisor sees the escalations that reached their teams (a review or a transfer of theirs);
# :teams is NULL for an admin. The turns the AI sent are no team's: they stay the denominator.
TO_TEAMS = """(CAST(:teams AS text[]) IS NULL
  OR EXISTS (SELECT 1 FROM review r WHERE r.turn_id = d.turn_id AND r.team = ANY(:teams))
  OR EXISTS (SELECT 1 FROM transfer x WHERE x.turn_id = d.turn_id AND x.team = ANY(:teams)))"""
OF_TEAMS = "(CAST(:teams AS text[]) IS NULL OR team = ANY(:teams))"

# Every bucket of the period, empty ones included, so time reads evenly along the axis.
DECISIONS = f"""
SELECT b AS bucket, count(d.id) AS decisions,
  count(d.id) FILTER (WHERE d.action <> 'send' AND {TO_TEAMS}) AS escalated
FROM generate_series(date_trunc(:unit, now() - make_interval(secs => :secs)),
                     date_trunc(:unit, now()), CAST('1 ' || :unit AS interval)) b
LEFT JOIN decision d ON date_trunc(:unit, d.created_at) = b
  AND d.created_at >= now() - make_interval(secs => :secs)
GROUP BY b ORDER BY b
"""
BY_TRIGGER = f"""
SELECT date_trunc(:unit, d.created_at) AS bucket, t.type, count(DISTINCT d.id) AS n
FROM decision d, LATERAL (SELECT DISTINCT x->>'type' AS type FROM jsonb_array_elements(d.triggers) x) t
WHERE d.created_at >= now() - make_interval(secs => :secs) AND d.action <> 'send' AND {TO_TEAMS}
GROUP BY 1, 2 ORDER BY 1
"""
REVIEW_OUTCOMES = f"""
SELECT status, count(*) AS n FROM review
WHERE decided_at >= now() - make_interval(secs => :secs) AND status = ANY(:ended) AND {OF_TEAMS}
GROUP BY 1
"""
EDITS = f"""
SELECT draft_text, final_text FROM review
WHERE status = 'edited' AND decided_at >= now() - make_interval(secs => :secs) AND {OF_TEAMS}
ORDER BY decided_at DESC LIMIT 2000
"""
# Conversations that were not escalated are the baseline every team compares against.
CSAT = f"""
WITH escalated AS (
  SELECT DISTINCT t.conversation_id, x->>'type' AS type
  FROM decision d JOIN turn t ON t.id = d.turn_id, jsonb_array_elements(d.triggers) x
  WHERE d.action <> 'send' AND d.created_at >= now() - make_interval(secs => :secs) AND {TO_TEAMS}),
any_escalation AS (
  SELECT DISTINCT t.conversation_id FROM decision d JOIN turn t ON t.id = d.turn_id
  WHERE d.action <> 'send' AND d.created_at >= now() - make_interval(secs => :secs))
SELECT COALESCE(e.type, 'not escalated') AS type, avg(c.csat)::float AS csat, count(*) AS n
FROM conversation c LEFT JOIN escalated e ON e.conversation_id = c.id
WHERE c.csat IS NOT NULL AND c.outcome_at >= now() - make_interval(secs => :secs)
  AND (e.type IS NOT NULL
       OR NOT EXISTS (SELECT 1 FROM any_escalation a WHERE a.conversation_id = c.id))
GROUP BY 1 ORDER BY 1
"""
QUEUE = f"""
SELECT b AS bucket,
  (SELECT count(*) FROM review WHERE date_trunc(:unit, created_at) = b AND {OF_TEAMS}) AS arrived,
  (SELECT count(*) FROM review WHERE date_trunc(:unit, decided_at) = b AND outcome_by = 'reviewer'
     AND {OF_TEAMS}) AS by_people,
  (SELECT count(*) FROM review WHERE date_trunc(:unit, decided_at) = b AND status = 'expired'
     AND {OF_TEAMS}) AS breached
FROM generate_series(date_trunc(:unit, now() - make_interval(secs => :secs)),
                     date_trunc(:unit, now()), CAST('1 ' || :unit AS interval)) b
"""


def edit_share(draft: str, final: str) -> float:
    """How much of the draft a reviewer changed: 0 = nothing, 1 = everything."""
    return 1.0 - difflib.SequenceMatcher(None, draft, final, autojunk=False).ratio()


def shares(counts: dict[str, int], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Parts of a whole that add up to 100% (largest-remainder rounding to one decimal)."""
    total = sum(counts.get(k, 0) for k in keys)
    if not total:
        return [{"key": k, "n": 0, "pct": 0.0} for k in keys]
    raw = [counts.get(k, 0) * 1000 / total for k in keys]
    floors = [int(r) for r in raw]
    left = 1000 - sum(floors)
    for i in sorted(range(len(keys)), key=lambda i: raw[i] - floors[i], reverse=True)[:left]:
        floors[i] += 1
    return [
        {"key": k, "n": counts.get(k, 0), "pct": f / 10} for k, f in zip(keys, floors, strict=True)
    ]


async def figures(
    conn: Connection, period: Period, teams: Sequence[str] | None = None
) -> dict[str, Any]:
    """The period's figures, of these teams' escalations (None: an admin, every team)."""
    p = {
        "unit": period.bucket,
        "secs": period.length.total_seconds(),
        "teams": None if teams is None else list(teams),
    }
    decisions = await db.rows(conn, DECISIONS, p)
    by_trigger = await db.rows(conn, BY_TRIGGER, p)
    outcomes = {
        r.status: r.n for r in await db.rows(conn, REVIEW_OUTCOMES, p | {"ended": list(OUTCOMES)})
    }
    edits = [edit_share(r.draft_text, r.final_text or "") for r in await db.rows(conn, EDITS, p)]
    csat = await db.rows(conn, CSAT, p)
    queue = await db.rows(conn, QUEUE, p)
    total = sum(r.decisions for r in decisions)
    escalated = sum(r.escalated for r in decisions)
    explicit = sum(r.n for r in by_trigger if r.type == "explicit_request")
    ended = sum(outcomes.values())
    return {
        "period": period.name,
        "teams": None if teams is None else sorted(teams),
        "decisions": total,
        "escalated": escalated,
        "escalation_rate": escalated / total if total else None,
        "explicit_requests": explicit,
        "explicit_share": explicit / escalated if escalated else None,
        "over_time": _over_time(decisions, by_trigger),
        "review_outcomes": shares(outcomes, OUTCOMES),
        "reviews_ended": ended,
        "edit_share_mean": sum(edits) / len(edits) if edits else None,
        "edits": len(edits),
        "csat": [{"type": r.type, "csat": r.csat, "n": r.n} for r in csat],
        "queue": [
            {
                "bucket": r.bucket.isoformat(),
                "arrived": r.arrived,
                "by_people": r.by_people,
                "breached": r.breached,
            }
            for r in queue
        ],
        "breach_rate": outcomes.get("expired", 0) / ended if ended else None,
    }


def _over_time(decisions: Any, by_trigger: Any) -> list[dict[str, Any]]:
    rows: dict[Any, dict[str, Any]] = {
        r.bucket: {"bucket": r.bucket.isoformat(), "decisions": r.decisions, "by_type": {}}
        for r in decisions
    }
    for r in by_trigger:
        rows[r.bucket]["by_type"][r.type] = r.n
    return list(rows.values())
