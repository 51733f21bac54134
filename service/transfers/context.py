"""Loads what a warm package needs: the recent transcript and the customer's prior contacts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.db import PgConnection, Statement
from service.policy.engine import PriorContact
from service.transfers.package import MAX_TRANSCRIPT_TURNS, Contact, Exchange, Situation

TRANSCRIPT = Statement(f"""
SELECT created_at, message, draft_text, intent, sentiment FROM (
  SELECT t.created_at, t.message, t.draft_text, t.intent, t.sentiment, t.seq FROM turn t
  JOIN conversation c ON c.id = t.conversation_id
  WHERE c.channel = :channel AND c.external_id = :conversation
  ORDER BY t.seq DESC LIMIT {MAX_TRANSCRIPT_TURNS}) recent
ORDER BY seq""")


async def situation(
    pg: PgConnection,
    *,
    channel: str,
    conversation: str,
    customer_id: str,
    triggers: Sequence[dict[str, Any]],
    topics: Sequence[str],
    contacts: Sequence[PriorContact],
    locale: str | None,
    tier: str | None,
    current: Exchange | None = None,
) -> Situation:
    """`current` is the turn being decided, not yet written; None when it is already stored."""
    rows = await pg.fetch(
        TRANSCRIPT.sql, *TRANSCRIPT.args({"channel": channel, "conversation": conversation})
    )
    exchanges = [
        Exchange(r["created_at"], r["message"], r["draft_text"], r["intent"], r["sentiment"])
        for r in rows
    ]
    if current is not None:
        exchanges.append(current)
    return assemble(
        exchanges,
        customer_id=customer_id,
        triggers=triggers,
        topics=topics,
        contacts=contacts,
        locale=locale,
        tier=tier,
    )


def assemble(
    exchanges: Sequence[Exchange],
    *,
    customer_id: str,
    triggers: Sequence[dict[str, Any]],
    topics: Sequence[str],
    contacts: Sequence[PriorContact],
    locale: str | None,
    tier: str | None,
) -> Situation:
    """The situation from a transcript already in hand (a turn's facts carry it)."""
    return Situation(
        customer_id=customer_id,
        exchanges=list(exchanges),
        triggers=triggers,
        topics=topics,
        contacts=[
            Contact(c.conversation_id, c.intents, c.topics, c.resolved, c.last_at) for c in contacts
        ],
        locale=locale,
        tier=tier,
    )
