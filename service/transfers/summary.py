"""The warm-transfer context package, built from what we know of the turn (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def build(
    *,
    customer_id: str,
    message: str,
    draft_text: str,
    intent: str | None,
    topics: Sequence[str],
    sentiment: float | None,
    triggers: Sequence[dict[str, Any]],
    locale: str | None = None,
) -> dict[str, Any]:
    """What a person needs before engaging, so the customer need not repeat themselves."""
    reasons = [t.get("detail") for t in triggers if t.get("detail")]
    headline = f"Customer {customer_id}"
    if intent:
        headline += f" about {intent.replace('_', ' ')}"
    if reasons:
        headline += f": {reasons[0]}"
    return {
        "headline": headline,
        "customer_id": customer_id,
        "locale": locale,
        "issue": {"intent": intent, "topics": list(topics)},
        "last_message": message,
        "ai_draft": draft_text,
        "sentiment": sentiment,
        "escalated_because": list(triggers),
    }
