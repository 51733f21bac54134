"""Supervisors' use-cases on the review queue: release or reassign someone else's hold."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.effects import Effects
from service.errors import Conflict, Forbidden
from service.reviewers.caller import Caller
from service.reviews import service as reviews


def _supervisor(me: Caller) -> None:
    if me.role not in ("supervisor", "admin"):
        raise Forbidden("only supervisors and admins can release or reassign someone's hold")


async def release_hold(conn: AsyncConnection, me: Caller, review_id: uuid.UUID) -> Effects:
    """A supervisor gives someone's claim back to the queue (they left, or it is stuck)."""
    _supervisor(me)
    row = await reviews.get_for_reviewer(conn, review_id, me)
    done = (
        await conn.execute(
            text(
                "UPDATE review SET status = 'pending', claimed_by = NULL, lease_until = NULL, "
                "version = version + 1 WHERE id = :id AND status = 'claimed' RETURNING id"
            ),
            {"id": review_id},
        )
    ).first()
    if done is None:
        raise Conflict("Nobody holds this item any more.")
    await audit.record(
        conn, me.actor, "review.released", "review", review_id, former_holder=str(row.claimed_by)
    )
    effects = Effects()
    effects.publish("review.released", review_id=review_id, team=row.team, by=me.email)
    return effects


async def reassign_hold(
    conn: AsyncConnection, me: Caller, review_id: uuid.UUID, to: uuid.UUID, lease_seconds: int
) -> Effects:
    """Hands someone's claim to another member of the item's team, with a fresh lease."""
    _supervisor(me)
    row = await reviews.get_for_reviewer(conn, review_id, me)
    done = (
        await conn.execute(
            text(
                "UPDATE review SET claimed_by = :to, version = version + 1, "
                "lease_until = now() + make_interval(secs => :lease) "
                "WHERE id = :id AND status = 'claimed' AND deadline > now() AND EXISTS ("
                "SELECT 1 FROM reviewer_team m WHERE m.reviewer_id = :to AND m.team = review.team) "
                "RETURNING (SELECT email FROM reviewer WHERE id = :to) AS email"
            ),
            {"id": review_id, "to": to, "lease": lease_seconds},
        )
    ).first()
    if done is None:
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
    effects.publish("review.claimed", review_id=review_id, team=row.team, by=done.email)
    return effects
