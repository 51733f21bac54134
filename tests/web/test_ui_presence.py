"""Presence from open pages, over real WebSockets against two `hitl serve` processes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from support import Process, free_port, process_env, wait_http_ready
from ui_client import Desk
from websockets.asyncio.client import ClientConnection, connect

from service.reviewers.presence import GRACE_SECONDS
from service.settings import Settings

EMAIL = "rita@example.com"


@pytest.fixture
def second_server(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """Another `hitl serve` process on the same Postgres and Redis."""
    port = free_port()
    proc = Process(["serve"], process_env(settings) | {"HITL_PORT": str(port)}, tmp_path / "b.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http_ready(f"{base}/readyz", proc)
        yield base
    finally:
        proc.stop()


def page(base: str, desk: Desk, view: str = "queue") -> Any:
    """The socket a page of the desk opens (view=presence: a page with nothing live)."""
    url = base.replace("http://", "ws://") + f"/ui/ws?view={view}"
    cookie = {"Cookie": f"hitl_session={desk.session_cookie}"}
    return connect(url, origin=base, additional_headers=cookie)  # type: ignore[arg-type]


async def presence(db: asyncpg.Connection) -> str:
    return str(await db.fetchval("SELECT presence FROM reviewer WHERE email = $1", EMAIL))


async def becomes(db: asyncpg.Connection, wanted: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while (now := await presence(db)) != wanted:
        assert time.monotonic() < deadline, f"presence stayed {now!r}, wanted {wanted!r}"
        await asyncio.sleep(0.1)


async def counted(
    redis_client: aioredis.Redis, settings: Settings, db: asyncpg.Connection, pages: int
) -> None:
    """Waits until this many of Rita's sockets count (the server registers one after accepting)."""
    rid = await db.fetchval("SELECT id FROM reviewer WHERE email = $1", EMAIL)
    key = f"{settings.redis_prefix}:presence:{rid}"
    for _ in range(100):
        if await redis_client.zcount(key, time.time(), "+inf") == pages:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not {pages} open pages counted")


async def closed(ws: ClientConnection) -> None:
    await ws.close()
    await asyncio.sleep(GRACE_SECONDS + 1.5)  # past the grace a closing page still has


async def test_online_while_any_page_is_open_on_any_process_until_the_last_one_closes(
    server: str,
    second_server: str,
    reviewer: Any,
    db: asyncpg.Connection,
    redis_client: aioredis.Redis,
    settings: Settings,
) -> None:
    await reviewer(EMAIL)
    async with Desk(server) as rita:
        await rita.sign_in(EMAIL)
        assert await presence(db) == "offline"  # signed in, but no page holds a socket yet
        # Pages without live content of their own hold a presence socket all the same.
        queue_page = (await rita.get("/ui/queue")).text
        assert queue_page.count("ws-connect=") == 1 and "view=presence" not in queue_page
        refused = (await rita.get("/ui/supervisor")).text  # an error page is a page too
        assert 'ws-connect="/ui/ws?view=presence"' in refused
        # Two tabs, served by two processes.
        first = await page(server, rita)
        await asyncio.wait_for(first.recv(), 5)
        await becomes(db, "online")
        second = await page(second_server, rita, "presence")
        await counted(redis_client, settings, db, 2)
        # Closing one tab leaves her online; closing the last one (on the other process) does not.
        await closed(first)
        assert await presence(db) == "online"
        await second.close()
        await becomes(db, "offline", within=GRACE_SECONDS + 5)
        # Moving from one page to the next (the old socket closes first) does not flap.
        async with page(server, rita):
            await becomes(db, "online")
            since = await db.fetchval("SELECT last_seen_at FROM reviewer WHERE email = $1", EMAIL)
        async with page(second_server, rita, "presence"):
            await counted(redis_client, settings, db, 1)
            await asyncio.sleep(GRACE_SECONDS + 1)
            assert await presence(db) == "online"
            assert since == await db.fetchval(
                "SELECT last_seen_at FROM reviewer WHERE email = $1", EMAIL
            )  # never set offline and back in between
        await becomes(db, "offline", within=GRACE_SECONDS + 5)


async def test_an_explicit_away_is_kept_whatever_pages_open_or_close(
    server: str,
    reviewer: Any,
    db: asyncpg.Connection,
    redis_client: aioredis.Redis,
    settings: Settings,
) -> None:
    await reviewer(EMAIL)
    async with Desk(server) as rita:
        await rita.sign_in(EMAIL)
        assert (await rita.post("/ui/handoffs/presence", {"presence": "away"})).status_code == 303
        assert await presence(db) == "away"
        async with page(server, rita, "handoffs") as ws:
            shown = str(await asyncio.wait_for(ws.recv(), 5))
            assert 'id="presence-form"' in shown and ">Away</span>" in shown
            await counted(redis_client, settings, db, 1)
            await asyncio.sleep(0.5)
            assert await presence(db) == "away"  # opening a page did not override her choice
        await asyncio.sleep(GRACE_SECONDS + 1.5)
        assert await presence(db) == "away"  # nor did closing it
        # "Go online" from the open Handoffs page: it says so live; then pages decide again.
        async with page(server, rita, "handoffs") as ws:
            await asyncio.wait_for(ws.recv(), 5)
            r = await rita.post("/ui/handoffs/presence", {"presence": "online"})
            assert r.status_code == 303 and await presence(db) == "online"
            pushed = ""
            while ">Online</span>" not in pushed:
                pushed = str(await asyncio.wait_for(ws.recv(), 5))
            assert ">Go away</button>" in pushed
        await becomes(db, "offline", within=GRACE_SECONDS + 5)


async def becomes_status(db: asyncpg.Connection, status: str, within: float = 10.0) -> None:
    for _ in range(int(within / 0.05)):
        if await db.fetchval("SELECT status FROM transfer") == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the transfer did not become {status} within {within} s")


async def test_opening_a_page_gets_waiting_transfers_offered(
    server: str,
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    db: asyncpg.Connection,
    start_worker: Any,
) -> None:
    await reviewer(EMAIL)
    start_worker()
    chat = await channel_key("chat")
    r = await http.post(
        "/v1/turns",
        headers={"Authorization": f"Bearer {chat}"},
        json={
            "conversation_id": "c-presence",
            "channel": "chat",
            "customer_id": "cust-presence",
            "message": "I want to talk to a human agent now",
            "draft": {"text": "Let me help.", "confidence": 0.9, "intent": "other"},
        },
    )
    assert r.json()["action"] == "transfer", r.text
    # Nobody is online: the worker has nobody to offer it to, and it waits in the queue.
    await becomes_status(db, "queued")
    async with Desk(server) as rita:
        await rita.sign_in(EMAIL)
        async with page(server, rita):
            for _ in range(100):
                row = await db.fetchrow("SELECT status, assigned_to FROM transfer")
                if row["status"] == "offered":
                    break
                await asyncio.sleep(0.1)
            rita_id = await db.fetchval("SELECT id FROM reviewer WHERE email = $1", EMAIL)
            assert row["status"] == "offered" and row["assigned_to"] == rita_id


async def test_a_desk_process_that_dies_leaves_its_person_offline_within_a_minute(
    settings: Settings,
    tmp_path: Path,
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    db: asyncpg.Connection,
    start_worker: Any,
) -> None:
    """Rita's only page is served by a process that is killed (no socket close, no clean-up):
    the sweeper finds her heartbeats lapsed, sets her offline, and her offer moves on to Ann.
    Team care has no offer_timeout, so only her going offline can move it."""
    await reviewer(EMAIL, teams=("care",))
    ann = await reviewer("ann@example.com", teams=("care",))
    start_worker()
    port = free_port()
    doomed = Process(
        ["serve"], process_env(settings) | {"HITL_PORT": str(port)}, tmp_path / "d.log"
    )
    base = f"http://127.0.0.1:{port}"
    wait_http_ready(f"{base}/readyz", doomed)
    key = await channel_key("letters")
    async with Desk(base) as rita:
        await rita.sign_in(EMAIL)
        socket = await page(base, rita)
        await asyncio.wait_for(socket.recv(), 5)
        await becomes(db, "online")
        r = await http.post(
            "/v1/turns",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "conversation_id": "c-dies",
                "channel": "letters",
                "customer_id": "cust-dies",
                "message": "my partner hurt me again and I'm afraid to go home",
                "draft": {"text": "I'm sorry.", "confidence": 0.9, "intent": None},
            },
        )
        assert r.json()["transfer"]["team"] == "care", r.text
        holder = "SELECT a.email FROM transfer x JOIN reviewer a ON a.id = x.assigned_to"
        for _ in range(100):
            if await db.fetchval(holder) == EMAIL:
                break
            await asyncio.sleep(0.05)
        assert await db.fetchval(holder) == EMAIL
        renew = await http.put(
            "/v1/me/presence",
            json={"presence": "online"},
            headers={"Authorization": f"Bearer {ann}"},
        )
        assert renew.json()["renew_within_seconds"] == 60
        doomed.stop(signal.SIGKILL)
        died = time.monotonic()
        await becomes(db, "offline", within=60)
        offline_after = time.monotonic() - died
        for _ in range(100):
            if await db.fetchval(holder) == "ann@example.com":
                break
            await asyncio.sleep(0.05)
        assert await db.fetchval(holder) == "ann@example.com", "the offer moved on"
        print(f"offline {offline_after:.1f} s after the desk process died")
        with contextlib.suppress(Exception):
            await socket.close()
