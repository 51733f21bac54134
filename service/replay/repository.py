"""Reads the service's own recorded turns, decisions and outcomes back as replay events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service import db
from service.db import Connection, Statement, json_value
from service.detection.reading import Reading
from service.replay.runner import Event, OutcomeEvent, TurnEvent, Verdict
from service.turns.signals import signals_for

# Every conversation active since the lead-in: those the period's turns belong to, and every
# one that could be a repeat contact for them. All their turns build state; only the ones at
# or after :since (and on :channel, when given) are counted.
TURNS = Statement("""
SELECT c.channel, c.external_id, c.customer_id, t.seq, t.created_at, t.message, t.draft_text,
       t.confidence, t.intent, t.topics, t.sentiment, t.scores, t.locale, t.metadata,
       d.action, d.triggers, d.rule_ids, d.policy_version, d.owned,
       CASE d.action
         WHEN 'transfer' THEN (SELECT x.team FROM transfer x
                               WHERE x.turn_id = t.id AND x.review_id IS NULL LIMIT 1)
         WHEN 'review' THEN (SELECT r.team FROM review r
                             WHERE r.turn_id = t.id ORDER BY r.created_at LIMIT 1)
       END AS team
FROM conversation c
JOIN turn t ON t.conversation_id = c.id
JOIN decision d ON d.turn_id = t.id
WHERE c.last_turn_at >= :lead_in
ORDER BY t.created_at, t.conversation_id, t.seq
""")

# The conversation row keeps only its latest outcome. When the outcome endpoint also writes an
# audit row per outcome ('conversation.outcome'), every outcome is replayed at its own time, so
# an outcome that was later changed still switches the rules off for the turns in between.
OUTCOMES = Statement("""
SELECT c.channel, c.external_id, (a.data->>'resolved')::boolean AS resolved,
       (a.data->>'csat')::int AS csat, a.at AS outcome_at
FROM audit_event a JOIN conversation c ON a.subject_id = c.id::text
WHERE a.kind = 'conversation.outcome' AND a.subject_type = 'conversation'
  AND c.last_turn_at >= :lead_in AND a.data ? 'resolved'
UNION ALL
SELECT c.channel, c.external_id, c.resolved, c.csat, c.outcome_at FROM conversation c
WHERE c.outcome_at IS NOT NULL AND c.resolved IS NOT NULL AND c.last_turn_at >= :lead_in
  AND NOT EXISTS (SELECT 1 FROM audit_event a WHERE a.subject_id = c.id::text
                  AND a.kind = 'conversation.outcome' AND a.subject_type = 'conversation')
""")


async def load_history(
    conn: Connection, *, since: datetime, lead_in: datetime, channel: str | None
) -> list[Event]:
    """Turns and outcomes in the order the service saw them (an outcome before a turn of the
    same instant: it committed before that turn's facts were read)."""
    events: list[Event] = []
    async with conn.transaction(readonly=True, isolation="repeatable_read"):
        args = TURNS.args({"lead_in": lead_in})
        ordinal = 0
        async for row in conn.cursor(TURNS.sql, *args, prefetch=5000):
            # A turn answered by the person who had the conversation was not the policy's
            # decision: it builds state (it is a prior turn) but is not replayed as a decision.
            counted = (
                row["created_at"] >= since
                and (channel is None or row["channel"] == channel)
                and not row["owned"]
            )
            ordinal += 1
            events.append(_turn(row, ordinal, counted))
        outcomes = await db.rows(conn, OUTCOMES, {"lead_in": lead_in})
    events.extend(
        OutcomeEvent(
            (o["channel"], o["external_id"]), o["outcome_at"].timestamp(), o["resolved"], o["csat"]
        )
        for o in outcomes
    )
    events.sort(key=lambda e: (e.at, isinstance(e, TurnEvent)))
    return events


def _turn(row: Any, ordinal: int, counted: bool) -> TurnEvent:
    signals = signals_for(
        message=row["message"],
        draft_text=row["draft_text"],
        confidence=row["confidence"],
        intent=row["intent"],
        topics=row["topics"],
        # The stored score is the one the decision used, given by the channel or computed.
        sentiment=row["sentiment"],
        locale=row["locale"],
        metadata=json_value(row["metadata"]),
    )
    triggers = json_value(row["triggers"]) or []
    recorded = Verdict(
        row["action"],
        tuple(t["type"] for t in triggers),
        tuple(row["rule_ids"]),
        row["team"],
    )
    scores = json_value(row["scores"])
    return TurnEvent(
        (row["channel"], row["external_id"]),
        row["customer_id"],
        row["created_at"].timestamp(),
        ordinal,
        row["seq"] - 1,
        signals,
        tuple(row["topics"]),
        recorded,
        row["policy_version"],
        counted,
        Reading.from_stored(scores) if scores else None,
    )
