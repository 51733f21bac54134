"""Supervisors' use-cases on the review queue: release or reassign someone else's hold."""

from __future__ import annotations

import uuid

from service import audit
from service.db import Connection
from service.effects import Effects
from service.errors import Conflict, Forbidden
from service.reviewers.caller import Caller
from service.reviews import repository
from service.reviews import service as reviews


def _supervisor(me: Caller) -> None:
    if me.role not in ("supervisor", "admin"):
        raise Forbidden("only supervisors and admins can release or reassign someone's hold")


async def release_hold(
    conn: Connection, me: Caller, review_id: uuid.UUID
) -> tuple[uuid.UUID | None, Effects]:
    """A supervisor gives someone's claim back to the queue (they left, or it is stuck).
    Returns who held it."""
    _supervisor(me)
    row = await reviews.get_for_reviewer(conn, review_id, me)
    if not await repository.unclaim(conn, review_id):
        raise Conflict("Nobody holds this item any more.")
    await audit.record(
        conn, me.actor, "review.released", "review", review_id, former_holder=str(row.claimed_by)
    )
    effects = Effects()
    effects.publish("review.released", review_id=review_id, team=row.team, by=me.email)
    return row.claimed_by, effects


async def reassign_hold(
    conn: Connection, me: Caller, review_id: uuid.UUID, to: uuid.UUID, lease_seconds: int
) -> tuple[str, Effects]:
    """Hands someone's claim to another member of the item's team, with a fresh lease.
    Returns the new holder's email."""
    _supervisor(me)
    row = await reviews.get_for_reviewer(conn, review_id, me)
    email = await repository.hand_claim(conn, review_id, to, lease_seconds)
    if email is None:
        raise Conflict(
            "Not reassigned: the item is no longer held, or that person is not in its team."
        )
    await audit.record(
        conn,
        me.actor,
        "review.reassigned",
        "review",
        review_id,
        former_holder=str(row.claimed_by),
        holder=str(to),
    )
    effects = Effects()
    effects.publish("review.claimed", review_id=review_id, team=row.team, by=email)
    return email, effects
