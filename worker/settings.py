"""arq WorkerSettings, built from the service Settings so one environment configures both."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from arq import cron, func
from arq.worker import Worker

from service.logs import configure_logging
from service.runtime import (
    ASSIGN_JOB,
    ASSIGN_WAITING_JOB,
    DELIVER_JOB,
    LAPSE_JOB,
    Runtime,
    queue_name,
    redis_settings,
)
from service.settings import Settings
from worker.tasks.deadlines import Clock
from worker.tasks.deliveries import deliver
from worker.tasks.handoffs import assign_transfer, assign_waiting, lapse_offer
from worker.tasks.retention import prune_old
from worker.tasks.sweeper import sweep


def build_worker(settings: Settings, *, burst: bool = False, **overrides: Any) -> Worker:
    async def startup(ctx: dict[str, Any]) -> None:
        ctx["runtime"] = await Runtime.start(settings)
        ctx["http"] = httpx.AsyncClient(follow_redirects=False)
        # Deadlines are not jobs: every worker's clock ends what is due (worker/tasks/deadlines.py).
        ctx["clock"] = Clock(settings, ctx["runtime"].policies)
        ctx["clock"].start()

    async def shutdown(ctx: dict[str, Any]) -> None:
        await asyncio.to_thread(ctx["clock"].stop)
        await ctx["http"].aclose()
        await ctx["runtime"].close()

    every = settings.sweep_interval_seconds
    options: dict[str, Any] = {
        "functions": [
            func(deliver, name=DELIVER_JOB, max_tries=3),  # type: ignore[arg-type]
            func(assign_transfer, name=ASSIGN_JOB, max_tries=5),  # type: ignore[arg-type]
            func(lapse_offer, name=LAPSE_JOB, max_tries=5),  # type: ignore[arg-type]
            func(assign_waiting, name=ASSIGN_WAITING_JOB, max_tries=5),  # type: ignore[arg-type]
        ],
        "cron_jobs": [
            cron(
                sweep,
                name="sweeper",
                second=set(range(0, 60, every)),
                run_at_startup=True,  # type: ignore[arg-type]
                unique=True,
                timeout=60,
            ),
            # Every ten minutes, off the round minutes, for at most 45 s of small batches: a
            # timeout above the others' would stretch arq's lease on every running job (killed
            # workers' jobs would wait that long to run again).
            cron(
                prune_old,
                name="retention",
                minute=set(range(7, 60, 10)),
                unique=True,
                timeout=60,
            ),
        ],
        "queue_name": queue_name(settings),
        "redis_settings": redis_settings(settings),
        "on_startup": startup,
        "on_shutdown": shutdown,
        # Offers lapse and deliveries retry on time: poll Redis often.
        "poll_delay": 0.1,
        "max_jobs": 50,
        "job_timeout": 60,
        "keep_result": 60,
        "burst": burst,
        "health_check_key": f"{settings.redis_prefix}:health-check",
    }
    options.update(overrides)
    configure_logging()
    return Worker(**options)
