"""What a warm package needs, from what the decision's facts query loaded: the recent
transcript (turns.facts returns the text of the latest turns) and the prior contacts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.policy.engine import PriorContact
from service.transfers.package import Contact, Exchange, Situation


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
    """The situation of a conversation, from the transcript its facts carry (oldest first)."""
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
