"""The long-lived resources one process shares: settings, database pool, Redis/arq, policy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import job_key_prefix
from arq.jobs import serialize_job

from service import db
from service.channels.keys import KeyCache
from service.detection.live import LiveDetector
from service.effects import Effects
from service.policy.holder import PolicyHolder
from service.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
# A use-case bound to its arguments: run in a transaction, it returns what it did and its effects.
Work = Callable[[db.Connection], Awaitable[tuple[T, Effects]]]
Read = Callable[[db.Connection], Awaitable[T]]

DELIVER_JOB = "webhooks.deliver"
ASSIGN_JOB = "transfers.assign"
DEFAULT_EXPIRES_MS = 86_400_000  # arq's own default: a job not started within a day is dropped
LAPSE_JOB = "transfers.lapse"
ASSIGN_WAITING_JOB = "transfers.assign_waiting"


def queue_name(settings: Settings) -> str:
    return f"{settings.redis_prefix}:queue"


def live_channel(settings: Settings) -> str:
    return f"{settings.redis_prefix}:live"


def redis_settings(settings: Settings) -> RedisSettings:
    if not settings.redis_url:
        raise RuntimeError("HITL_REDIS_URL is not set and no embedded Redis is running")
    return RedisSettings.from_dsn(settings.redis_url)


@dataclass
class Runtime:
    settings: Settings
    pg: asyncpg.Pool
    redis: ArqRedis
    policies: PolicyHolder
    shadow: PolicyHolder | None = None
    keys: KeyCache = field(default_factory=KeyCache)
    detector_: LiveDetector | None = None
    secret_key: str = ""  # HITL_SECRET_KEY, or the one generated for the embedded default
    _watcher: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    async def start(
        cls, settings: Settings, policies: PolicyHolder | None = None, *, detect: bool = False
    ) -> Runtime:
        """detect: start the detector process now (its model loads in about 1.5 s), as a process
        that decides turns needs it; the worker does not."""
        holder = policies or PolicyHolder(settings.policy_path)
        redis = await create_pool(redis_settings(settings), default_queue_name=queue_name(settings))
        pg = await db.create_pool(settings)
        shadow = PolicyHolder(settings.shadow_policy_path) if settings.shadow_policy_path else None
        detector = None
        if detect:
            detector = LiveDetector()
            await detector.start()
        runtime = cls(
            settings,
            pg,
            redis,
            holder,
            shadow,
            detector_=detector,
            secret_key=settings.resolved_secret_key(),
        )
        if detector is not None:
            await detector.prepare(holder.current)
            if shadow is not None:
                await detector.prepare(shadow.current)
        return runtime

    @property
    def detector(self) -> LiveDetector:
        if self.detector_ is None:
            raise RuntimeError("this process was started without the detector (detect=False)")
        return self.detector_

    async def close(self) -> None:
        if self.detector_ is not None:
            await self.detector_.close()
        await self.redis.aclose()
        await self.pg.close()

    async def commit(self, work: Work[T]) -> T:
        """The unit of work of a request or job: run `work` in one transaction, and ring the
        doorbells only once it has committed."""
        async with db.transaction(self.pg, self.settings.db_acquire_timeout_seconds) as conn:
            result, effects = await work(conn)
        await self.dispatch(effects)
        return result

    async def commit_statement(self, work: Work[T]) -> T:
        """A unit of work that is one statement: `work` sends it on a pool connection, where it
        is its own transaction (one round trip, no BEGIN or COMMIT to wait for); the doorbells
        ring once it has returned. For a hot write that fits one statement (claim-next)."""
        async with self.connection() as conn:
            result, effects = await work(conn)
        await self.dispatch(effects)
        return result

    async def read(self, work: Read[T]) -> T:
        """The read side: `work` on one pooled connection, nothing written, nothing to ring."""
        async with self.connection() as conn:
            return await work(conn)

    def connection(self) -> asyncpg.pool.PoolAcquireContext:
        """A pooled connection, waited for at most HITL_DB_ACQUIRE_TIMEOUT_SECONDS (then 503)."""
        return self.pg.acquire(timeout=self.settings.db_acquire_timeout_seconds)

    async def dispatch(self, effects: Effects) -> None:
        """After a commit: ring the doorbells, all in one Redis round trip. A failure here loses
        nothing (the sweeper re-finds the work in Postgres), so it is logged, not raised."""
        jobs = [
            *(
                (DELIVER_JOB, f"{DELIVER_JOB}:{o}:{n}", str(o), at)
                for o, n, at in effects.deliveries
            ),
            *(
                (ASSIGN_JOB, f"{ASSIGN_JOB}:{t}:{uuid.uuid4()}", str(t), None)
                for t in effects.assignments
            ),
            *(
                (LAPSE_JOB, f"{LAPSE_JOB}:{t}:{e.timestamp()}", str(t), e)
                for t, e in effects.offer_deadlines
            ),
        ]
        if effects.waiting_teams:
            teams = ",".join(sorted(set(effects.waiting_teams)))
            jobs.append((ASSIGN_WAITING_JOB, f"{ASSIGN_WAITING_JOB}:{uuid.uuid4()}", teams, None))
        if not jobs and not effects.live:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for function, job_id, argument, at in jobs:
                    self._enqueue(pipe, function, job_id, argument, at)
                for event in effects.live:
                    pipe.publish(live_channel(self.settings), json.dumps(event))
                await pipe.execute()
        except Exception:  # Redis down or flushed: Postgres still holds everything
            log.warning("dispatch after commit failed; the sweeper will catch up", exc_info=True)

    def _enqueue(
        self, pipe: Any, function: str, job_id: str, argument: str, at: datetime | None
    ) -> None:
        """An arq job written the way arq's enqueue_job writes it, minus its WATCH/EXISTS round
        trips: NX keeps a queued job from being replaced, and our jobs are safe to run twice
        anyway (every effect is a conditional update or a keyed outbox row)."""
        now_ms = int(time.time() * 1000)
        score = int(at.timestamp() * 1000) if at else now_ms
        job = serialize_job(function, (argument,), {}, None, now_ms)
        expires_ms = max(score - now_ms, 0) + DEFAULT_EXPIRES_MS
        pipe.set(job_key_prefix + job_id, job, px=expires_ms, nx=True)
        pipe.zadd(queue_name(self.settings), {job_id: score}, nx=True)

    def watch_policy(self, interval: float = 2.0) -> None:
        """Reload the policy on SIGHUP or when its file changes; an invalid one is logged and the
        current policy kept (the holder decides that)."""
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(NotImplementedError, RuntimeError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._reload_policy)
        self._watcher = asyncio.create_task(self._watch_file(interval))

    def unwatch_policy(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()

    def _reload_policy(self) -> None:
        if self.shadow is not None and (shadow_errors := self.shadow.reload()):
            log.error("shadow policy reload refused", extra={"errors": shadow_errors})
        errors = self.policies.reload()
        if errors:
            log.error(
                "policy reload refused; keeping version %s",
                self.policies.current.version,
                extra={"errors": errors},
            )
        else:
            log.info("policy loaded: version %s", self.policies.current.version)

    async def _watch_file(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                if self.policies.check_for_change() or (
                    self.shadow is not None and self.shadow.check_for_change()
                ):
                    self._reload_policy()
            except Exception:
                log.exception("policy watch failed")

    def arq_kwargs(self) -> dict[str, Any]:
        return {"queue_name": queue_name(self.settings)}
