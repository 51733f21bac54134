"""What supervisors do about webhook deliveries that gave up: see them, and retry them once the
receiver is fixed (which also switches a disabled endpoint back on)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.channels import outbox
from service.effects import Effects
from service.errors import Conflict, Forbidden
from service.reviewers.caller import Caller

OVERSEERS = ("supervisor", "admin")


@dataclass(frozen=True)
class Stuck:
    """The supervisor's view: what gave up, and which endpoints are switched off."""

    given_up: list[outbox.GaveUp]
    total: int
    disabled: list[tuple[str, str, datetime]]


def _overseer(me: Caller) -> None:
    if me.role not in OVERSEERS:
        raise Forbidden("supervisors and admins only")


async def stuck(conn: AsyncConnection, me: Caller, limit: int = 50) -> Stuck:
    _overseer(me)
    given_up, total = await outbox.given_up(conn, limit)
    return Stuck(given_up, total, await outbox.disabled_endpoints(conn))


async def retry(
    conn: AsyncConnection,
    me: Caller,
    *,
    event_id: uuid.UUID | None = None,
    channel: str | None = None,
) -> tuple[int, Effects]:
    """One delivery, or every one of a channel, attempted again with a full retry window."""
    _overseer(me)
    again = await outbox.retry(conn, event_id=event_id, channel=channel)
    if event_id is not None and not again:
        raise Conflict("That delivery is not waiting for a retry any more.")
    effects = Effects()
    effects.redeliveries += again
    await audit.record(
        conn,
        me.actor,
        "webhook.retried",
        "channel" if event_id is None else "outbox_event",
        channel if event_id is None else event_id,
        deliveries=len(again),
    )
    return len(again), effects
