"""transfers.assign and transfers.lapse: offers to agents, and what happens when one goes
unanswered; assign_waiting: a team's queue offered again when someone of it comes online."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from service.db import Connection
from service.effects import Effects
from service.policy.model import Policy
from service.runtime import Runtime
from service.transfers import offers, repository

Step = Callable[[Connection, uuid.UUID, Policy], Awaitable[tuple[str, Effects]]]


async def apply(runtime: Runtime, step: Step, transfer_id: uuid.UUID) -> str:
    """One transfer step in a transaction of its own; returns its outcome, and its effects go
    out after the commit."""
    return await runtime.commit(lambda conn: step(conn, transfer_id, runtime.policies.current))


async def _run(ctx: dict[str, Any], transfer_id: str, step: Step) -> str:
    return await apply(ctx["runtime"], step, uuid.UUID(transfer_id))


async def assign_transfer(ctx: dict[str, Any], transfer_id: str) -> str:
    return await _run(ctx, transfer_id, offers.assign)


async def lapse_offer(ctx: dict[str, Any], transfer_id: str) -> str:
    return await _run(ctx, transfer_id, offers.lapse)


async def assign_waiting(ctx: dict[str, Any], teams: str) -> str:
    """Someone of these teams came online: offer their waiting transfers, most urgent first,
    until one finds nobody free (the rest would not either)."""
    runtime: Runtime = ctx["runtime"]
    waiting = await runtime.read(lambda conn: repository.waiting(conn, teams=teams.split(",")))
    offered = 0
    for transfer_id in waiting:
        if await apply(runtime, offers.assign, transfer_id) != "offered":
            break
        offered += 1
    return f"{offered} of {len(waiting)} offered"
