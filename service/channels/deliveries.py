"""Webhook deliveries: an attempt begun and its result recorded (the worker sends it between
the two), and what supervisors do about deliveries that gave up: see them, and retry them once
the receiver is fixed (which also switches a disabled endpoint back on)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from service import audit
from service.channels import outbox, secrets
from service.db import Connection
from service.effects import Effects
from service.errors import Conflict, Forbidden
from service.reviewers.caller import Caller
from service.settings import Settings

OVERSEERS = ("supervisor", "admin")


@dataclass(frozen=True)
class Stuck:
    """The supervisor's view: what gave up, and which endpoints are switched off."""

    given_up: list[outbox.GaveUp]
    total: int
    disabled: list[tuple[str, str, datetime]]


# Standard Webhooks: a receiver answers 410 Gone to say the endpoint no longer exists.
GONE = "HTTP 410 Gone"


async def begin(
    conn: Connection, event_id: uuid.UUID
) -> tuple[tuple[outbox.Delivery, list[str]] | None, Effects]:
    """Takes a due delivery for one attempt, with the channel's signing secrets; None if it is
    done, not due, or being attempted elsewhere."""
    delivery = await outbox.claim(conn, event_id)
    if delivery is None:
        return None, Effects()
    return (delivery, (await secrets.signing_secrets(conn, delivery.channel)).all()), Effects()


async def record(
    conn: Connection, delivery: outbox.Delivery, error: str | None, settings: Settings
) -> tuple[str, Effects]:
    """The attempt's result: delivered; or the next attempt, scheduled by the retry rule; or
    given up (a receiver that said 410 Gone also has its endpoint switched off)."""
    effects = Effects()
    if error is None:
        await outbox.mark_delivered(conn, delivery.id)
        return "delivered", effects
    in_ = outbox.next_attempt_in(
        delivery.attempts,
        (datetime.now(UTC) - delivery.since).total_seconds(),
        settings.webhook_backoff_base_seconds,
        settings.webhook_backoff_max_seconds,
        settings.webhook_retry_for_seconds,
    )
    # Retrying cannot help: an address we may not call, an endpoint its owner removed.
    hopeless = "private address" in error or error == GONE or delivery.disabled is not None
    give_up = hopeless or in_ is None
    next_at = await outbox.mark_retry(
        conn, delivery.id, delay_seconds=in_ or 0.0, error=error, give_up=give_up
    )
    if error == GONE:
        await outbox.disable_endpoint(
            conn, delivery.channel, f"{GONE} at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        )
    if next_at is not None:
        effects.deliveries.append((delivery.id, str(delivery.attempts), next_at))
    return ("gave up" if give_up else "will retry"), effects


def _overseer(me: Caller) -> None:
    if me.role not in OVERSEERS:
        raise Forbidden("supervisors and admins only")


async def stuck(conn: Connection, me: Caller, limit: int = 50) -> Stuck:
    _overseer(me)
    given_up, total = await outbox.given_up(conn, limit)
    return Stuck(given_up, total, await outbox.disabled_endpoints(conn))


async def retry(
    conn: Connection,
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
    effects.deliveries += [(event, f"{attempts}:retry", None) for event, attempts in again]
    await audit.record(
        conn,
        me.actor,
        "webhook.retried",
        "channel" if event_id is None else "outbox_event",
        channel if event_id is None else event_id,
        deliveries=len(again),
    )
    return len(again), effects
