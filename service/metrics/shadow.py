"""How a candidate (shadow) policy compares with the live one on the same recorded turns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from service import db
from service.db import Connection

SUMMARY = """
SELECT d.action AS live, d.shadow->>'action' AS shadow, count(*) AS n
FROM decision d WHERE d.shadow IS NOT NULL AND d.created_at >= now() - make_interval(secs => :secs)
GROUP BY 1, 2
"""

DIFFERING = """
SELECT c.external_id AS conversation_id, c.channel, t.seq, t.message, d.action AS live_action,
       d.rule_ids AS live_rules, d.shadow->>'action' AS shadow_action,
       d.shadow->'rule_ids' AS shadow_rules, d.created_at
FROM decision d JOIN turn t ON t.id = d.turn_id JOIN conversation c ON c.id = t.conversation_id
WHERE d.shadow IS NOT NULL AND d.created_at >= now() - make_interval(secs => :secs)
  AND (d.action <> d.shadow->>'action' OR to_jsonb(d.rule_ids) <> d.shadow->'rule_ids')
  {scope}
ORDER BY d.created_at DESC LIMIT :n
"""

# A supervisor reads the customer's words only of turns their teams had or would have had:
# the live decision's review or transfer, or the shadow policy's team.
TEAM_SCOPE = """
  AND (d.shadow->>'team' = ANY(:teams)
       OR EXISTS (SELECT 1 FROM review r WHERE r.turn_id = t.id AND r.team = ANY(:teams))
       OR EXISTS (SELECT 1 FROM transfer x WHERE x.turn_id = t.id AND x.team = ANY(:teams)))
"""


async def compare(
    conn: Connection,
    since: timedelta,
    limit: int = 100,
    teams: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The agreement over every turn (counts only), and the differing turns themselves, with
    the customer's message, of these teams only (None: an admin, every team)."""
    params = {"secs": since.total_seconds(), "n": limit, "teams": list(teams or [])}
    matrix = await db.rows(conn, SUMMARY, params)
    turns = sum(r.n for r in matrix)
    agreed = sum(r.n for r in matrix if r.live == r.shadow)
    scope = "" if teams is None else TEAM_SCOPE
    differing = await db.rows(conn, DIFFERING.format(scope=scope), params)
    return {
        "since_seconds": since.total_seconds(),
        "turns": turns,
        "same_action": agreed,
        "agreement": round(agreed / turns, 4) if turns else None,
        "actions": [{"live": r.live, "shadow": r.shadow, "turns": r.n} for r in matrix],
        "differing": [
            {
                "conversation_id": r.conversation_id,
                "channel": r.channel,
                "turn": r.seq,
                "message": r.message,
                "live": {"action": r.live_action, "rules": list(r.live_rules)},
                "shadow": {"action": r.shadow_action, "rules": r.shadow_rules},
                "at": r.created_at.isoformat(),
            }
            for r in differing
        ],
    }
