"""Loads what the policy needs to know about a conversation and its customer: one indexed query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from service import db
from service.db import Connection, Statement, json_value
from service.policy.engine import Facts, PriorContact, PriorTurn
from service.transfers.package import MAX_TRANSCRIPT_TURNS, Exchange

# Enough history for any sensible loop or sentiment window, and a bound on the work per turn.
MAX_PRIOR_TURNS = 50
MAX_CONTACTS = 20

FACTS = Statement(f"""
WITH conv AS (
  SELECT id, resolved FROM conversation WHERE channel = :channel AND external_id = :conversation
)
SELECT
  (SELECT jsonb_build_array(x.id, x.mode, x.team, x.status, x.priority, x.created_at, x.summary)
     FROM transfer x JOIN conv ON x.conversation_id = conv.id
     WHERE x.status IN ('created', 'offered', 'queued', 'accepted')) AS owner,
  (SELECT jsonb_build_array(d.response, t.request_hash) FROM turn t
    JOIN decision d ON d.turn_id = t.id
    WHERE t.channel = :channel AND t.idempotency_key = :key) AS replay,
  (SELECT resolved FROM conv) AS resolved,
  -- The latest turns also carry their text: a warm transfer's transcript needs no query of its own.
  (SELECT COALESCE(json_agg(json_build_array(p.intent, p.sentiment,
            CASE WHEN p.recent <= {MAX_TRANSCRIPT_TURNS} THEN
              json_build_array(p.created_at, p.message, p.draft_text) END) ORDER BY p.seq), '[]')
     FROM (SELECT t.intent, t.sentiment, t.seq, t.created_at, t.message, t.draft_text,
                  row_number() OVER (ORDER BY t.seq DESC) AS recent
           FROM turn t JOIN conv ON t.conversation_id = conv.id
           ORDER BY t.seq DESC LIMIT {MAX_PRIOR_TURNS}) p) AS turns,
  (SELECT COALESCE(json_agg(json_build_array(c.external_id, c.resolved, c.last_turn_at,
            (SELECT COALESCE(array_agg(DISTINCT t.intent) FILTER (WHERE t.intent IS NOT NULL), '{{}}')
               FROM turn t WHERE t.conversation_id = c.id),
            (SELECT COALESCE(array_agg(DISTINCT x), '{{}}') FROM turn t, unnest(t.topics) x
               WHERE t.conversation_id = c.id))), '[]')
     FROM (SELECT * FROM conversation
           WHERE customer_id = :customer AND last_turn_at >= now() - make_interval(secs => :window)
             AND NOT (channel = :channel AND external_id = :conversation)
           ORDER BY last_turn_at DESC LIMIT {MAX_CONTACTS}) c) AS contacts
""")


@dataclass(frozen=True)
class OpenTransfer:
    """The transfer through which a person has the conversation now."""

    id: str
    mode: str
    team: str
    status: str
    priority: int
    created_at: str
    summary: dict[str, Any] | None


@dataclass(frozen=True)
class Loaded:
    facts: Facts
    replay: dict[str, Any] | None  # the stored answer when this Idempotency-Key was seen before
    replay_hash: str | None = None  # the body hash that key was first used with
    owner: OpenTransfer | None = None  # set while a person has the conversation
    transcript: tuple[Exchange, ...] = ()  # the latest turns stored, oldest first


async def load(
    conn: Connection,
    *,
    channel: str,
    conversation: str,
    customer: str,
    repeat_window: timedelta,
    idempotency_key: str | None = None,
) -> Loaded:
    """What the policy needs to know of a conversation before it decides: one statement. With an
    idempotency key, also the answer already given to that key (a retried turn)."""
    params = {
        "channel": channel,
        "conversation": conversation,
        "customer": customer,
        "key": idempotency_key,
        "window": repeat_window.total_seconds(),
    }
    row = await db.one(conn, FACTS, params)  # a SELECT without FROM: always its one row
    # [the stored answer, the body hash that key was first used with]
    replay, replay_hash = json_value(row["replay"]) if row["replay"] is not None else (None, None)
    prior = json_value(row["turns"])
    turns = tuple(PriorTurn(intent=i, sentiment=s) for i, s, _ in prior)
    transcript = tuple(
        Exchange(datetime.fromisoformat(text[0]), text[1], text[2], intent, sentiment)
        for intent, sentiment, text in prior
        if text is not None
    )
    contacts = tuple(
        PriorContact(
            conversation_id=cid,
            intents=tuple(intents),
            topics=tuple(topics),
            resolved=resolved,
            last_at=datetime.fromisoformat(at),
        )
        for cid, resolved, at, intents, topics in json_value(row["contacts"])
    )
    facts = Facts(turns=turns, resolved=bool(row["resolved"]), contacts=contacts)
    owner = OpenTransfer(*json_value(row["owner"])) if row["owner"] is not None else None
    return Loaded(facts, replay, replay_hash, owner, transcript)
