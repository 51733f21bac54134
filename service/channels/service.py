"""A channel's own use-cases beside its turns: how a conversation ended."""

from __future__ import annotations

import uuid

from service import audit, db
from service.db import Connection
from service.effects import Effects
from service.errors import NotFound


async def record_outcome(
    conn: Connection, channel: str, conversation: str, resolved: bool, csat: int | None
) -> tuple[uuid.UUID, Effects]:
    """Whether the conversation was resolved, and the customer's CSAT; returns its id."""
    row = await db.first(
        conn,
        "UPDATE conversation SET resolved = :r, csat = :c, outcome_at = now() "
        "WHERE channel = :ch AND external_id = :id RETURNING id",
        {"r": resolved, "c": csat, "ch": channel, "id": conversation},
    )
    if row is None:
        raise NotFound(f"no conversation {conversation!r} on channel {channel!r}")
    # The row keeps only the latest outcome; the audit trail keeps each one at its time, which
    # is what replay needs to rebuild a conversation as it was.
    await audit.record(
        conn,
        f"channel:{channel}",
        "conversation.outcome",
        "conversation",
        row.id,
        resolved=resolved,
        csat=csat,
    )
    return row.id, Effects()
