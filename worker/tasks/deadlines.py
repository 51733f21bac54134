"""The deadline clock: at a review's deadline, apply its channel's on_timeout (once, whoever runs it).

Every worker process ticks five times a second. A tick ends whatever is past its deadline: the
fallbacks that only send a text in batches (a statement each for the reviews, their
conversations, the audit rows and the deliveries, however many fell due together), then the
transfers one by one. So a deadline is met within a tick and a batch, whatever the load. One arq
job per deadline cost a job each instead: 10,000 deadlines falling within 10 s were ended up to
14 s late; with the clock, p99 0.2 s at a million open reviews (bench/review_queue.py).
Only Postgres decides what is due, so a flushed Redis loses no deadline, and two workers never
end one review twice (SKIP LOCKED and conditional updates).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid

from service.db import Connection
from service.effects import Effects
from service.metrics import prom
from service.policy.holder import PolicyHolder
from service.reviews import repository
from service.reviews import service as reviews
from service.runtime import Runtime
from service.settings import Settings

log = logging.getLogger(__name__)

TICK_SECONDS = 0.2
BATCH = 500  # reviews a statement ends: a short transaction, even on a busy table
ONE_BY_ONE = 50  # transfer fallbacks a tick builds; the rest wait for the next tick


class Clock(threading.Thread):
    """The clock ticks on a thread of its own, with connections of its own: the worker's event
    loop may be running 50 deliveries at once, and a deadline must not wait its turn behind
    them (in that loop, 10,000 deadlines within 10 s beside their 10,000 deliveries were ended
    p99 1.18 s late; bench/review_queue.py)."""

    def __init__(self, settings: Settings, policies: PolicyHolder) -> None:
        super().__init__(name="deadline clock", daemon=True)
        self.settings, self.policies = settings, policies
        self.stopping = threading.Event()

    def run(self) -> None:
        asyncio.run(self._ticks())

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.join(timeout)

    async def _ticks(self) -> None:
        runtime = await Runtime.start(self.settings, self.policies)
        try:
            while not self.stopping.is_set():
                started = time.monotonic()
                try:
                    ended = await tick(runtime)
                except Exception:
                    log.warning("deadline tick failed; trying again", exc_info=True)
                    ended = 0
                if ended < BATCH:  # a full batch means more are due now: no pause
                    # Ticks start every TICK_SECONDS; one that took longer is followed at once.
                    await asyncio.sleep(max(0.0, TICK_SECONDS - (time.monotonic() - started)))
        finally:
            await runtime.close()


async def tick(runtime: Runtime) -> int:
    """Ends every review due now (up to a batch and ONE_BY_ONE transfers); returns how many."""
    policy = runtime.policies.current

    async def batch(conn: Connection) -> tuple[list[uuid.UUID], Effects]:
        return await reviews.expire_due(conn, policy, BATCH)

    ended = len(await runtime.commit(batch))
    if ended < BATCH:
        # What the batch leaves: fallbacks that transfer, and rows another worker was ending.
        batched = list(reviews.batch_plans(policy))
        overdue = await runtime.read(lambda conn: repository.overdue(conn, ONE_BY_ONE, batched))
        for review_id in overdue:
            ended += await expire_now(runtime, review_id)
    if ended:
        prom.REVIEW_OUTCOMES.labels("expired").inc(ended)
    return ended


async def expire_now(runtime: Runtime, review_id: uuid.UUID) -> bool:
    """One review's fallback, whatever it is; False if it was not due or already ended."""

    async def work(conn: Connection) -> tuple[bool, Effects]:
        return await reviews.expire(conn, review_id, runtime.policies.current)

    return await runtime.commit(work)
