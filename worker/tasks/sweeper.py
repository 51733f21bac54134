"""The sweeper: re-finds in Postgres whatever Redis lost (overdue reviews, due deliveries, leases),
and sets offline the people whose heartbeats stopped."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from service.channels import outbox
from service.db import Connection
from service.effects import Effects
from service.reviewers import presence
from service.reviews import repository
from service.runtime import Runtime
from service.transfers import offers
from service.transfers import repository as transfer_queries
from worker.tasks import deadlines
from worker.tasks.handoffs import apply

log = logging.getLogger(__name__)


async def sweep(ctx: dict[str, Any]) -> dict[str, int]:
    runtime: Runtime = ctx["runtime"]
    due = await runtime.commit(_requeue_due)
    expired = await deadlines.tick(runtime)  # the clock's work too, should it have stalled
    offline = await presence.sweep(runtime)  # before transfers: their offers move on now
    handed = await _sweep_transfers(runtime)
    lapsed = await runtime.commit(_return_lapsed)
    if expired or due or lapsed or handed or offline:
        log.info(
            "sweep: %d expired, %d deliveries queued, %d leases returned, %d transfers moved, "
            "%d people offline",
            expired,
            len(due),
            len(lapsed),
            handed,
            offline,
        )
    return {
        "expired": expired,
        "deliveries": len(due),
        "leases": len(lapsed),
        "transfers": handed,
        "offline": offline,
    }


async def _requeue_due(conn: Connection) -> tuple[list[tuple[uuid.UUID, int]], Effects]:
    """Deliveries due whose job Redis lost: queued again. The job id names the attempt, so a
    delivery still queued is not queued twice; a job a killed worker held runs again once arq's
    lease on it ends (70 s: no job's timeout is over 60 s, see worker/settings.py)."""
    due = await outbox.due(conn)
    effects = Effects()
    effects.deliveries += [(event, f"{attempts}:sweep", None) for event, attempts in due]
    return due, effects


async def _return_lapsed(conn: Connection) -> tuple[list[Any], Effects]:
    lapsed = await repository.return_lapsed_leases(conn)
    effects = Effects()
    for review_id, team, holder in lapsed:
        effects.publish(
            "review.lease_lapsed", review_id=review_id, team=team, former_holder=str(holder)
        )
    return lapsed, effects


async def _sweep_transfers(runtime: Runtime) -> int:
    """Offers whose time ran out, or held by someone no longer online, move on; transfers of a team with nobody online past its
    `no_one_online` follow their fallback; waiting transfers try again for a free agent."""
    policy = runtime.policies.current

    async def end_offers(conn: Connection) -> tuple[None, Effects]:
        await transfer_queries.end_offers_to_absent(conn)  # due now: lapsed below
        return None, Effects()

    await runtime.commit(end_offers)

    async def due(conn: Connection) -> tuple[list[uuid.UUID], ...]:
        lapsed = list(await transfer_queries.lapsed_offers(conn))
        unattended = [
            transfer_id
            for team in policy.teams.values()
            if team.no_one_online is not None
            for transfer_id in await transfer_queries.unattended(
                conn, team.name, team.no_one_online.after
            )
        ]
        return lapsed, unattended, list(await transfer_queries.waiting(conn))

    lapsed, unattended, waiting = await runtime.read(due)
    moved = 0
    steps = (
        (offers.lapse, lapsed),
        (offers.fallback, unattended),
        (offers.assign, waiting),
    )
    for step, ids in steps:
        for transfer_id in ids:
            moved += await apply(runtime, step, transfer_id) not in offers.UNCHANGED
    return moved
