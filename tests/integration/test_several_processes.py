"""Several processes over one Postgres and Redis (issue 13): `hitl serve --workers 2` and two
`hitl worker` processes. Every request goes on a connection of its own, so the kernel spreads
them over both HTTP processes (checked: both spend CPU on them). What must hold across them:
sessions, the sign-in limit, live updates and presence, and deadlines (each fires once)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest
from support import Process, Receiver, free_port, process_env, wait_http_ready
from websockets.asyncio.client import connect

PASSWORD = "correct horse battery"


@pytest.fixture
def two_of_each(settings: Any, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = process_env(settings) | {"HITL_PORT": str(port)}
    serve = Process(["serve", "--workers", "2"], env, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"
    wait_http_ready(f"{base}/readyz", serve)
    workers = [Process(["worker"], process_env(settings), tmp_path / f"w{n}.log") for n in (1, 2)]
    yield base
    for proc in [serve, *workers]:
        proc.stop()


def http_processes(base: str) -> list[psutil.Process]:
    port = int(base.rsplit(":", 1)[1])
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "serve" in cmd and "--workers" in cmd:
            with_port = proc.environ().get("HITL_PORT") if proc.is_running() else None
            if with_port == str(port):  # uvicorn's workers, not multiprocessing's tracker
                return [
                    c for c in proc.children() if "resource_tracker" not in " ".join(c.cmdline())
                ]
    raise AssertionError("the serve process is not found")


def fresh() -> httpx.AsyncClient:
    """A client whose every request opens a new connection (no keep-alive)."""
    return httpx.AsyncClient(timeout=15, limits=httpx.Limits(max_keepalive_connections=0))


async def signed_in(base: str, email: str) -> tuple[str, str]:
    async with fresh() as client:
        page = await client.get(f"{base}/ui/login")
        csrf = page.text.split('name="_csrf" value="', 1)[1].split('"', 1)[0]
        cookie = page.cookies.get("hitl_session")
        r = await client.post(
            f"{base}/ui/login",
            data={"email": email, "password": PASSWORD, "_csrf": csrf},
            cookies={"hitl_session": cookie or ""},
        )
        assert r.status_code == 303, r.text
        return r.cookies["hitl_session"], csrf


async def test_state_is_shared_across_processes(
    two_of_each: str,
    channel_key: Any,
    reviewer: Any,
    receiver: Receiver,
    db: asyncpg.Connection,
    fresh_sign_in_limits: None,
) -> None:
    base = two_of_each
    receiver.clear()
    children = http_processes(base)
    assert len(children) == 2
    before = [c.cpu_times().user + c.cpu_times().system for c in children]
    await reviewer("rita@example.com")
    await reviewer("max@example.com")
    key = await channel_key("email")

    # Sessions: signed in on one process, recognised by both.
    session, _ = await signed_in(base, "rita@example.com")
    async with fresh() as client:
        pages = await asyncio.gather(
            *(client.get(f"{base}/ui/queue", cookies={"hitl_session": session}) for _ in range(30))
        )
    assert {p.status_code for p in pages} == {200}

    # The sign-in limit: 20 wrong passwords at once over both processes, 5 reach the check.
    async def wrong() -> int:
        async with fresh() as client:
            page = await client.get(f"{base}/ui/login")
            csrf = page.text.split('name="_csrf" value="', 1)[1].split('"', 1)[0]
            r = await client.post(
                f"{base}/ui/login",
                data={"email": "max@example.com", "password": "wrong", "_csrf": csrf},
                cookies={"hitl_session": page.cookies.get("hitl_session") or ""},
            )
            return r.status_code

    codes = sorted(await asyncio.gather(*(wrong() for _ in range(20))))
    assert codes.count(401) == 5 and codes.count(429) == 15, codes

    # Live updates and presence: the queue's socket (on one process) shows turns decided on
    # either, and counts Rita online for everyone.
    url = base.replace("http://", "ws://") + "/ui/ws?view=queue"
    async with connect(
        url,
        origin=base,  # type: ignore[arg-type]
        additional_headers={"Cookie": f"hitl_session={session}"},
    ) as socket:
        await asyncio.wait_for(socket.recv(), 10)  # the first render
        customers = [f"multi-{uuid.uuid4().hex[:8]}" for _ in range(6)]
        async with fresh() as client:
            for customer in customers:
                r = await client.post(
                    f"{base}/v1/turns",
                    headers={"Authorization": f"Bearer {key}"},
                    json={
                        "conversation_id": customer,
                        "channel": "email",
                        "customer_id": customer,
                        "message": "Can I change my delivery address?",
                        "draft": {"text": "Yes.", "confidence": 0.3, "intent": "address"},
                    },
                )
                assert r.status_code == 200 and r.json()["action"] == "review", r.text
        shown = ""
        while not all(c in shown for c in customers):
            shown = str(await asyncio.wait_for(socket.recv(), 10))
        assert (
            await db.fetchval("SELECT presence FROM reviewer WHERE email = 'rita@example.com'")
            == "online"
        )
    after = [c.cpu_times().user + c.cpu_times().system for c in children]
    assert all(a - b > 0.05 for a, b in zip(after, before, strict=True)), (before, after)

    # Deadlines, with two workers: the six held drafts run out (3 s) and each fires once.
    for _ in range(200):
        ended = await db.fetchval("SELECT count(*) FROM review WHERE status = 'expired'")
        if ended == 6 and len(receiver.on("/hooks/email")) >= 6:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)
    outcomes = [json.loads(r.body)["data"]["review_id"] for r in receiver.on("/hooks/email")]
    assert len(outcomes) == len(set(outcomes)) == 6, outcomes
    events = await db.fetchval("SELECT count(*) FROM audit_event WHERE kind = 'review.expired'")
    assert events == 6, "one expiry per review, whichever worker ran it"
