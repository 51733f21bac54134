"""reviews.expire: at a review's deadline, apply its channel's on_timeout (once, whoever runs it)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from service.effects import Effects
from service.metrics import prom
from service.reviews import repository
from service.reviews import service as reviews
from service.runtime import EXPIRE_JOB, Runtime

log = logging.getLogger(__name__)

# A job that starts a little early waits in place rather than being re-queued.
MAX_INLINE_WAIT = 2.0


async def expire_review(ctx: dict[str, Any], review_id: str) -> str:
    runtime: Runtime = ctx["runtime"]
    rid = uuid.UUID(review_id)
    async with runtime.engine.connect() as conn:
        remaining = await repository.seconds_until_deadline(conn, rid)
    if remaining is None:
        return "already ended"
    if remaining > MAX_INLINE_WAIT:
        # Deadline moved or the job ran early: come back at the deadline (Postgres clock decides).
        await runtime.redis.enqueue_job(
            EXPIRE_JOB,
            review_id,
            _job_id=f"{EXPIRE_JOB}:{review_id}:{remaining:.0f}",
            _defer_by=remaining,
        )
        return "rescheduled"
    if remaining > 0:
        await asyncio.sleep(remaining + 0.01)
    return await expire_now(runtime, rid)


async def expire_now(runtime: Runtime, review_id: uuid.UUID) -> str:
    async def work(conn: AsyncConnection) -> tuple[Effects, Effects]:
        effects = await reviews.expire(conn, review_id, runtime.policies.current)
        return effects, effects

    if (await runtime.commit(work)).live:
        prom.REVIEW_OUTCOMES.labels("expired").inc()
        return "expired"
    return "not due or already ended"
