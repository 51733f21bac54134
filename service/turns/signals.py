"""What the engine reads from a turn's body: one function shared by the live service and replay."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from service.detection.reading import Reading
from service.policy.engine import Signals


def signals_for(
    *,
    message: str,
    draft_text: str,
    confidence: float,
    intent: str | None,
    topics: Sequence[str],
    sentiment: float | None,
    locale: str | None,
    metadata: Mapping[str, Any] | None,
    reading: Reading | None = None,
) -> Signals:
    """Built from stored fields too, so a replayed turn reads exactly what the live one did."""
    return Signals(
        message=message,
        draft_text=draft_text,
        confidence=confidence,
        intent=intent,
        topics=tuple(topics),
        sentiment=sentiment,
        locale=locale,
        customer_tier=str((metadata or {}).get("customer_tier") or "") or None,
        reading=reading,
    )
