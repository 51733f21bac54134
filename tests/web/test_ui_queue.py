"""The queue page and its live WebSocket over real HTTP: team scope, order, escaping, origin."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest
from support import Process, environ, free_port, wait_http_ready
from ui_client import Desk, held_turn, submit
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

XSS_MESSAGE = '<script>alert("m")</script> where is my refund'
XSS_DRAFT = '<img src=x onerror=alert(1)> <div hx-get="/ui/logout" hx-trigger="load">x</div>'


def serve_env(settings: Any, port: int) -> dict[str, str]:
    """The environment of the session's `hitl serve`, on another port."""
    return environ(
        HITL_DATABASE_URL=settings.database_url,
        HITL_REDIS_URL=settings.redis_url,
        HITL_POLICY_PATH=str(settings.policy_path),
        HITL_STATE_DIR=str(settings.state_dir),
        HITL_REDIS_PREFIX=settings.redis_prefix,
        HITL_SECRET_KEY=settings.secret_key,
        HITL_PORT=str(port),
    )


def ws_url(server: str, view: str = "queue") -> str:
    return server.replace("http://", "ws://") + f"/ui/ws?view={view}"


async def test_queue_shows_own_teams_most_urgent_first(
    server: str, http: httpx.AsyncClient, channel_key: Any, reviewer: Any
) -> None:
    await reviewer("rita@example.com", teams=("general",))
    await reviewer("bill@example.com", teams=("billing",))
    letters, email = await channel_key("letters"), await channel_key("email")
    later = await submit(http, letters, held_turn("letters"))  # 1 h budget
    sooner = await submit(http, email, held_turn("email"))  # 3 s budget: more urgent
    async with Desk(server) as rita, Desk(server) as bill:
        await rita.sign_in("rita@example.com")
        await bill.sign_in("bill@example.com")
        page = (await rita.get("/ui/queue")).text
        assert page.index(f'href="/ui/reviews/{sooner}"') < page.index(
            f'href="/ui/reviews/{later}"'
        )
        assert "2 open" in page
        other = (await bill.get("/ui/queue")).text
        assert later not in other and sooner not in other and "Nothing is waiting" in other
        assert (await bill.get(f"/ui/reviews/{later}")).status_code == 403


async def test_customer_and_ai_text_renders_inert(
    server: str, http: httpx.AsyncClient, channel_key: Any, reviewer: Any
) -> None:
    await reviewer("rita@example.com")
    key = await channel_key("letters")
    body = held_turn(
        message=XSS_MESSAGE,
        customer_id='"><b>cust</b>',
        draft={"text": XSS_DRAFT, "confidence": 0.2, "intent": "<i>x</i>"},
    )
    review_id = await submit(http, key, body)
    async with Desk(server) as desk:
        await desk.sign_in("rita@example.com")
        for path in ("/ui/queue", f"/ui/reviews/{review_id}"):
            page = (await desk.get(path)).text
            assert "<script>alert" not in page and "<img src=x" not in page
            assert '<div hx-get="/ui/logout"' not in page and "<b>cust</b>" not in page
            assert "&lt;script&gt;" in page or "&lt;img" in page
        page = (await desk.get(f"/ui/reviews/{review_id}")).text
        assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the draft, as text in the Reply box
        # Every container of untrusted text tells htmx to leave it alone.
        for marker in (
            'class="conv-head" hx-disable',
            'data-testid="customer-message" hx-disable',
            'class="triggers" hx-disable',
        ):
            assert marker in page
        assert (
            'id="queue-live" class="card card-flush" hx-disable'
            in (await desk.get("/ui/queue")).text
        )


async def test_socket_refused_without_session_or_from_another_origin(
    server: str, reviewer: Any
) -> None:
    await reviewer("rita@example.com")
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(server), origin=server):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    async with Desk(server) as desk:
        await desk.sign_in("rita@example.com")
        cookie = f"hitl_session={desk.session_cookie}"
        for origin in ("http://evil.example", server.replace("127.0.0.1", "localhost")):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(
                    ws_url(server),
                    origin=origin,  # type: ignore[arg-type]
                    additional_headers={"Cookie": cookie},
                ):
                    pass
            assert refused.value.response.status_code == 403
        with pytest.raises(InvalidStatus):  # no Origin at all
            async with connect(ws_url(server), additional_headers={"Cookie": cookie}):
                pass


async def test_supervisor_view_is_refused_to_a_reviewer(server: str, reviewer: Any) -> None:
    await reviewer("rita@example.com")
    await reviewer("sue@example.com", role="supervisor")
    async with Desk(server) as rita, Desk(server) as sue:
        await rita.sign_in("rita@example.com")
        await sue.sign_in("sue@example.com")
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                ws_url(server, "supervisor"),
                origin=server,  # type: ignore[arg-type]
                additional_headers={"Cookie": f"hitl_session={rita.session_cookie}"},
            ):
                pass
        assert refused.value.response.status_code == 403
        async with connect(
            ws_url(server, "supervisor"),
            origin=server,  # type: ignore[arg-type]
            additional_headers={"Cookie": f"hitl_session={sue.session_cookie}"},
        ) as ws:
            assert "supervisor" in str(await asyncio.wait_for(ws.recv(), 5))


async def test_pushes_do_not_keep_an_idle_session_alive(
    server: str, http: httpx.AsyncClient, channel_key: Any, reviewer: Any, settings: Any
) -> None:
    """Only what the person does restarts the idle timer; an open page receiving updates
    does not (else a desk left open on a shared screen never signs out)."""
    import hashlib

    from redis.asyncio import Redis

    await reviewer("rita@example.com")
    key = await channel_key("letters")
    redis = Redis.from_url(settings.redis_url)
    async with Desk(server) as rita:
        await rita.sign_in("rita@example.com")
        sid = (rita.session_cookie or "").rpartition(".")[0]  # the cookie is sid.hmac
        digest = hashlib.sha256(sid.encode()).hexdigest()
        session_key = f"{settings.redis_prefix}:session:{digest}"
        async with connect(
            ws_url(server),
            origin=server,  # type: ignore[arg-type]
            additional_headers={"Cookie": f"hitl_session={rita.session_cookie}"},
        ) as ws:
            await asyncio.wait_for(ws.recv(), 5)  # opening the page is activity: renewed
            await redis.expire(session_key, 30)  # as if the person had been idle since
            for _ in range(3):
                await submit(http, key, held_turn())
                await asyncio.wait_for(ws.recv(), 5)
            assert 0 < await redis.ttl(session_key) <= 30, "the pushes renewed the session"
    await redis.aclose()


async def test_socket_pushes_new_items_and_claims_within_a_second(
    server: str, http: httpx.AsyncClient, channel_key: Any, reviewer: Any
) -> None:
    await reviewer("rita@example.com")
    await reviewer("sam@example.com")
    key = await channel_key("letters")
    async with Desk(server) as rita, Desk(server) as sam:
        await rita.sign_in("rita@example.com")
        await sam.sign_in("sam@example.com")
        headers = {"Cookie": f"hitl_session={rita.session_cookie}"}
        async with connect(
            ws_url(server),
            origin=server,  # type: ignore[arg-type]
            additional_headers=headers,
        ) as ws:
            first = await asyncio.wait_for(ws.recv(), 5)
            assert 'id="queue-live"' in first and "Nothing is waiting" in first
            started = time.monotonic()
            review_id = await submit(http, key, held_turn())
            pushed = await asyncio.wait_for(ws.recv(), 5)
            assert time.monotonic() - started < 1.0
            assert f'data-review-id="{review_id}"' in pushed
            started = time.monotonic()
            assert (await sam.get(f"/ui/reviews/{review_id}")).status_code == 200  # claims it
            pushed = await asyncio.wait_for(ws.recv(), 5)
            assert time.monotonic() - started < 1.0
            row = re.search(rf'data-review-id="{review_id}".*?</tr>', pushed, re.S)
            assert row and "Sam" in row.group(0)
            await sam.post(f"/ui/reviews/{review_id}/approve")
            pushed = await asyncio.wait_for(ws.recv(), 5)
            assert review_id not in pushed and "0 open" in pushed


async def test_live_updates_cross_serve_processes(
    server: str,
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    settings: Any,
    tmp_path: Any,
) -> None:
    """A turn taken by one `hitl serve` reaches a browser connected to another one."""
    port = free_port()
    other = Process(["serve"], serve_env(settings, port), tmp_path / "serve2.log")
    try:
        second = f"http://127.0.0.1:{port}"
        wait_http_ready(f"{second}/readyz", other)
        await reviewer("rita@example.com")
        key = await channel_key("letters")
        async with Desk(second) as rita:
            await rita.sign_in("rita@example.com")
            headers = {"Cookie": f"hitl_session={rita.session_cookie}"}
            async with connect(
                ws_url(second),
                origin=second,  # type: ignore[arg-type]
                additional_headers=headers,
            ) as ws:
                await asyncio.wait_for(ws.recv(), 5)
                started = time.monotonic()
                review_id = await submit(http, key, held_turn())  # to the first server
                pushed = await asyncio.wait_for(ws.recv(), 5)
                assert time.monotonic() - started < 1.0
                assert f'data-review-id="{review_id}"' in pushed
    finally:
        other.stop()


async def test_customer_and_ai_text_is_inert_on_the_handoffs_pages(
    server: str, http: httpx.AsyncClient, channel_key: Any, reviewer: Any
) -> None:
    """The same hostile text in a transfer: the work queue, the transfer page and the live
    transcript show it as text, inside containers htmx leaves alone."""
    await reviewer("rita@example.com")
    key = await channel_key("letters")
    base = held_turn(customer_id='"><b>cust</b>', draft={"text": XSS_DRAFT, "confidence": 0.9})
    r = await http.post(
        "/v1/turns",
        json=base | {"message": "I want to talk to a person. " + XSS_MESSAGE},
        headers={"Authorization": f"Bearer {key}"},
    )
    transfer_id = r.json()["transfer"]["id"]
    r = await http.post(  # while a person has it: into the transfer's transcript
        "/v1/turns",
        json=base | {"message": XSS_MESSAGE},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.json()["transfer"]["id"] == transfer_id
    async with Desk(server) as desk:
        await desk.sign_in("rita@example.com")
        for path in ("/ui/handoffs", f"/ui/handoffs/{transfer_id}"):
            page = (await desk.get(path)).text
            assert "<script>alert" not in page and "<img src=x" not in page, path
            assert '<div hx-get="/ui/logout"' not in page and "<b>cust</b>" not in page, path
            assert "&lt;script&gt;" in page or "&lt;b&gt;cust" in page, path
        page = (await desk.get(f"/ui/handoffs/{transfer_id}")).text
        assert 'id="transfer-transcript"' in page and "hx-disable" in page
        assert 'id="handoffs-live" hx-disable' in (await desk.get("/ui/handoffs")).text
