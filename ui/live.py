"""One Redis pub/sub subscription per process, fanned out to every open WebSocket in it.

Events are published by whichever `hitl serve` (or worker) process committed the change, so
every process sees every change; a process only holds one Redis connection however many
reviewers it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from service.runtime import Runtime, live_channel

log = logging.getLogger(__name__)

# Sent to every subscriber after a (re)connection to Redis: events may have been missed, so
# each page re-renders what it shows from Postgres.
RESYNC: dict[str, Any] = {"kind": "resync"}


class Hub:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=256)
        self.subscribers.add(queue)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.subscribers.discard(queue)

    def _fan_out(self, event: dict[str, Any]) -> None:
        for queue in list(self.subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a stalled socket: it re-renders everything once drained
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(RESYNC)

    async def _run(self) -> None:
        channel = live_channel(self.runtime.settings)
        delay = 0.5
        while True:
            pubsub = self.runtime.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel)
                self.ready.set()
                self._fan_out(RESYNC)
                delay = 0.5
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        event = json.loads(message["data"])
                    except (TypeError, ValueError):
                        continue
                    if isinstance(event, dict):
                        self._fan_out(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("live updates: Redis subscription lost; reconnecting", exc_info=True)
                self.ready.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


def hub_of(app: Any) -> Hub:
    hub = getattr(app.state, "live_hub", None)
    if hub is None:
        hub = Hub(app.state.runtime)
        app.state.live_hub = hub
    return hub  # type: ignore[no-any-return]


async def stop(app: Any) -> None:
    hub = getattr(app.state, "live_hub", None)
    if hub is not None and hub.task is not None:
        hub.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await hub.task
