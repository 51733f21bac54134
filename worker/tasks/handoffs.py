"""transfers.assign and transfers.lapse: offers to agents, and what happens when one goes unanswered."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from service import db
from service.effects import Effects
from service.policy.model import Policy
from service.runtime import Runtime
from service.transfers import service as transfers

Step = Callable[[AsyncConnection, uuid.UUID, Policy], Awaitable[Effects]]


async def _run(ctx: dict[str, Any], transfer_id: str, step: Step) -> str:
    runtime: Runtime = ctx["runtime"]
    async with db.transaction(runtime.engine) as conn:
        effects = await step(conn, uuid.UUID(transfer_id), runtime.policies.current)
    await runtime.dispatch(effects)
    return ", ".join(e["kind"] for e in effects.live) or "nothing to do"


async def assign_transfer(ctx: dict[str, Any], transfer_id: str) -> str:
    return await _run(ctx, transfer_id, transfers.assign)


async def lapse_offer(ctx: dict[str, Any], transfer_id: str) -> str:
    return await _run(ctx, transfer_id, transfers.lapse)
