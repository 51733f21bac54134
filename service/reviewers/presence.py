"""Presence from heartbeats: a person with a page of the desk open (or an API client that says
so, again and again) is online for transfers; one whose heartbeats stop is not, within a minute.

Every page holds one WebSocket (/ui/ws); each open socket is a member of a per-person sorted set
in Redis, scored by the time it lapses and refreshed while the socket lives, so every `hitl
serve` process counts the same sockets. An API client's `PUT /v1/me/presence online` is a member
too, lapsing after API_LAPSE_SECONDS unless repeated. Whether the person should be online is
settled under a per-person Redis lock, and written to Postgres through the transfer use-case
(service.reviewers.service.set_presence), which offers the teams' waiting transfers to someone
coming online and passes on the offers of someone leaving:

- a page opens while they are offline: online;
- their last page closes (after a short grace, so moving from one page to the next does not
  flap): offline;
- a desk process dies, a laptop closes, a socket is lost: nobody settles at once, so the
  worker's sweeper (sweep(), every few seconds) finds the person online in Postgres with no
  heartbeat left in Redis, and sets them offline: at most LAPSE_SECONDS + the sweep interval;
- someone who chose "away" (on Handoffs or through the API) stays away whatever they open or
  close; "Go online" (or the API) brings them back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from redis.exceptions import LockError

from service.db import Connection
from service.effects import Effects
from service.reviewers import repository as people
from service.reviewers import service as reviewers
from service.reviewers.caller import Caller
from service.runtime import Runtime

log = logging.getLogger(__name__)

# A live socket renews its membership every REFRESH_SECONDS; one not renewed for
# LAPSE_SECONDS (its process died) no longer counts. With the sweeper's 5 s, a person whose
# desk died is offline within 45 s.
REFRESH_SECONDS = 12.0
LAPSE_SECONDS = 40.0
# An API client is online for this long after each `PUT /v1/me/presence online`.
API_LAPSE_SECONDS = 60.0
API_MEMBER = "api"
# The set itself outlives its longest-lived member (members carry their own lapse times).
KEY_SECONDS = int(max(API_LAPSE_SECONDS, LAPSE_SECONDS + 3.0)) + 1
# A page that closes still counts this long: the next page's socket opens meanwhile.
GRACE_SECONDS = 3.0
# Settling the last page's leaving, scheduled after the socket has gone.
_pending: set[asyncio.Task[None]] = set()


def _key(runtime: Runtime, me: Caller) -> str:
    return f"{runtime.settings.redis_prefix}:presence:{me.id}"


async def _mark(runtime: Runtime, me: Caller, token: str, until: float) -> bool:
    """Counts this socket until `until`; True if it was not counted before."""
    key = _key(runtime, me)
    async with runtime.redis.pipeline(transaction=True) as pipe:
        pipe.zadd(key, {token: until})
        pipe.expire(key, KEY_SECONDS)
        added, _ = await pipe.execute()
    return bool(added)


async def settle(runtime: Runtime, me: Caller) -> str | None:
    """Brings Postgres in line with the sockets open now; returns the presence it set, if any."""
    key = _key(runtime, me)
    lock = runtime.redis.lock(f"{key}:lock", timeout=10, blocking_timeout=10)
    try:
        async with lock:
            await runtime.redis.zremrangebyscore(key, "-inf", time.time())
            open_pages = await runtime.redis.zcard(key)

            async def work(conn: Connection) -> tuple[str | None, Effects]:
                now = await people.presence_of(conn, me.id)
                if open_pages and now == "offline":
                    return await reviewers.set_presence(conn, me, "online")
                if not open_pages and now == "online":
                    return await reviewers.set_presence(conn, me, "offline")
                return None, Effects()  # already right, or they chose away (or no longer exist)

            return await runtime.commit(work)
    except LockError:
        log.warning("presence of %s not settled: its lock stayed busy", me.email)
        return None


async def declare(runtime: Runtime, me: Caller, wanted: str) -> str:
    """An explicit choice (the API, or Handoffs' switch), written at once. Online from the API is
    a heartbeat: it holds for API_LAPSE_SECONDS, and the client repeats it to stay online."""
    key = _key(runtime, me)
    async with runtime.redis.pipeline(transaction=True) as pipe:
        if wanted == "online":
            pipe.zadd(key, {API_MEMBER: time.time() + API_LAPSE_SECONDS})
            pipe.expire(key, KEY_SECONDS)
        else:
            pipe.zrem(key, API_MEMBER)
        await pipe.execute()
    return await runtime.commit(lambda conn: reviewers.set_presence(conn, me, wanted))


async def sweep(runtime: Runtime) -> int:
    """Everyone online in Postgres whose heartbeats have all lapsed goes offline (their desk
    process died, their laptop closed); returns how many."""
    online = await runtime.read(people.online)
    gone = 0
    for me in online:
        gone += await settle(runtime, me) == "offline"
    return gone


async def arrive(runtime: Runtime, me: Caller) -> str:
    """A page of this person opened its socket; returns the socket's token."""
    token = uuid.uuid4().hex
    await _mark(runtime, me, token, time.time() + LAPSE_SECONDS)
    await settle(runtime, me)
    return token


async def stay(runtime: Runtime, me: Caller, token: str, still_signed_in: Any) -> None:
    """Runs while the socket is open: keeps it counted; stops when the session has ended."""
    while True:
        await asyncio.sleep(REFRESH_SECONDS)
        if not await still_signed_in():
            return
        if await _mark(runtime, me, token, time.time() + LAPSE_SECONDS):
            await settle(runtime, me)  # it had aged out (a long stall): count it again


def leave(
    runtime: Runtime, me: Caller, token: str, keeper: asyncio.Task[None] | None = None
) -> None:
    """The socket closed: it counts for GRACE_SECONDS more, then presence is settled again.
    `keeper` (the socket's stay(), cancelled) must be over first: a renewal landing after
    this would keep the socket counted for LAPSE_SECONDS with nothing left to settle it."""

    async def later() -> None:
        try:
            if keeper is not None:
                await asyncio.wait({keeper})
            await _mark(runtime, me, token, time.time() + GRACE_SECONDS)
            await asyncio.sleep(GRACE_SECONDS + 0.2)
            await settle(runtime, me)
        except Exception:
            log.warning("presence of %s not settled after a page closed", me.email, exc_info=True)

    task = asyncio.create_task(later())
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def stop() -> None:
    """At shutdown: drops the settling still waiting (the pages reconnect to another process)."""
    for task in list(_pending):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
