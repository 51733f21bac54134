"""The long-lived resources one process shares: settings, database engine, Redis/arq, policy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from arq.connections import ArqRedis, RedisSettings, create_pool
from sqlalchemy.ext.asyncio import AsyncEngine

from service import db
from service.channels.keys import KeyCache
from service.effects import Effects
from service.policy.holder import PolicyHolder
from service.settings import Settings

log = logging.getLogger(__name__)

EXPIRE_JOB = "reviews.expire"
DELIVER_JOB = "webhooks.deliver"
ASSIGN_JOB = "transfers.assign"
LAPSE_JOB = "transfers.lapse"


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
    engine: AsyncEngine
    redis: ArqRedis
    policies: PolicyHolder
    pg: asyncpg.Pool
    shadow: PolicyHolder | None = None
    keys: KeyCache = field(default_factory=KeyCache)
    _watcher: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    async def start(cls, settings: Settings, policies: PolicyHolder | None = None) -> Runtime:
        holder = policies or PolicyHolder(settings.policy_path)
        redis = await create_pool(redis_settings(settings), default_queue_name=queue_name(settings))
        pg = await db.create_pool(settings)
        shadow = PolicyHolder(settings.shadow_policy_path) if settings.shadow_policy_path else None
        return cls(settings, db.create_engine(settings), redis, holder, pg, shadow)

    async def close(self) -> None:
        await self.redis.aclose()
        await self.pg.close()
        await self.engine.dispose()

    async def dispatch(self, effects: Effects) -> None:
        """After a commit: ring the doorbells. A failure here loses nothing (the sweeper re-finds
        the work in Postgres), so it is logged, not raised."""
        try:
            for review_id, deadline in effects.deadlines:
                await self.redis.enqueue_job(
                    EXPIRE_JOB,
                    str(review_id),
                    _job_id=f"{EXPIRE_JOB}:{review_id}",
                    _defer_until=deadline,
                )
            for outbox_id in effects.deliveries:
                await self.redis.enqueue_job(
                    DELIVER_JOB, str(outbox_id), _job_id=f"{DELIVER_JOB}:{outbox_id}:0"
                )
            for transfer_id in effects.assignments:
                await self.redis.enqueue_job(
                    ASSIGN_JOB,
                    str(transfer_id),
                    _job_id=f"{ASSIGN_JOB}:{transfer_id}:{uuid.uuid4()}",
                )
            for transfer_id, expires in effects.offer_deadlines:
                await self.redis.enqueue_job(
                    LAPSE_JOB,
                    str(transfer_id),
                    _job_id=f"{LAPSE_JOB}:{transfer_id}:{expires.timestamp()}",
                    _defer_until=expires,
                )
            for event in effects.live:
                await self.redis.publish(live_channel(self.settings), json.dumps(event))
        except Exception:  # Redis down or flushed: Postgres still holds everything
            log.warning("dispatch after commit failed; the sweeper will catch up", exc_info=True)

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
