"""Signing in and out of the reviewer UI over real HTTP: sessions, CSRF, rate limit, headers."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import httpx
from ui_client import PASSWORD, Desk

from service.reviewers.sessions import ABSOLUTE_SECONDS, IDLE_SECONDS


def _cookie_header(r: httpx.Response) -> str:
    return "; ".join(v for k, v in r.headers.multi_items() if k == "set-cookie")


async def test_sign_in_page_is_labelled_and_locked_down(server: str) -> None:
    async with Desk(server) as desk:
        r = await desk.get("/ui/login")
    assert r.status_code == 200
    assert '<label for="email">Email</label>' in r.text
    assert '<label for="password">Password</label>' in r.text
    assert ">Sign in</button>" in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "<script>" not in r.text and " style=" not in r.text  # nothing inline to allow
    cookie = _cookie_header(r).lower()
    assert "hitl_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http here; https gets Secure


async def test_pages_need_a_session(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        r = await client.get("/ui/queue")
        assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=/ui/queue"
        r = await client.get("/ui/reviews/00000000-0000-0000-0000-000000000000")
        assert r.status_code == 303


async def test_sign_in_rotates_the_session_and_sign_out_ends_it(server: str, reviewer: Any) -> None:
    await reviewer("rita@example.com")
    async with Desk(server) as desk:
        await desk.get("/ui/login")
        anonymous = desk.session_cookie
        r = await desk.post(
            "/ui/login", {"email": "Rita@Example.com", "password": PASSWORD, "next": "/ui/handoffs"}
        )
        assert r.status_code == 303 and r.headers["location"] == "/ui/handoffs"
        assert desk.session_cookie and desk.session_cookie != anonymous
        page = await desk.get("/ui/queue")
        assert page.status_code == 200 and "Rita" in page.text
        # The id planted before sign-in is worthless now.
        async with httpx.AsyncClient(
            base_url=server, cookies={"hitl_session": anonymous or ""}
        ) as c:
            assert (await c.get("/ui/queue")).status_code == 303
        r = await desk.post("/ui/logout")
        assert r.status_code == 303
        assert (await desk.get("/ui/queue")).status_code == 303


async def test_wrong_password_then_rate_limit(server: str, reviewer: Any) -> None:
    await reviewer("lou@example.com")
    async with Desk(server) as desk:
        for _ in range(5):
            r = await desk.sign_in("lou@example.com", "not the password")
            assert r.status_code == 401
            assert "do not match" in r.text
        r = await desk.sign_in("lou@example.com", PASSWORD)  # even the right one waits now
        assert r.status_code == 429 and "Too many failed sign-ins" in r.text
        assert int(r.headers["retry-after"]) > 0


async def test_forms_without_the_csrf_token_are_refused(server: str, reviewer: Any) -> None:
    await reviewer("rita@example.com")
    async with Desk(server) as desk:
        await desk.get("/ui/login")
        r = await desk.post(
            "/ui/login", {"email": "rita@example.com", "password": PASSWORD}, csrf=False
        )
        assert r.status_code == 403
        assert (await desk.sign_in("rita@example.com")).status_code == 303
        r = await desk.post("/ui/reviews/next", csrf=False)
        assert r.status_code == 403 and "expired" in r.text
        r = await desk.client.post("/ui/reviews/next", data={"_csrf": "forged"})
        assert r.status_code == 403
        r = await desk.client.post(
            "/ui/reviews/next", headers={"X-CSRF-Token": desk.csrf, "HX-Request": "true"}
        )
        assert r.status_code == 204 and r.headers["hx-redirect"] == "/ui/queue"


async def test_reviewer_api_accepts_the_session_with_its_csrf_header(
    server: str, reviewer: Any
) -> None:
    await reviewer("rita@example.com")
    async with Desk(server) as desk:
        await desk.sign_in("rita@example.com")
        r = await desk.client.get("/v1/reviews?status=open")
        assert r.status_code == 200 and r.json() == []
        r = await desk.client.post("/v1/reviews/next")
        assert r.status_code == 403
        r = await desk.client.post("/v1/reviews/next", headers={"X-CSRF-Token": desk.csrf})
        assert r.status_code == 204


async def test_sessions_time_out_when_idle_and_after_twelve_hours(
    server: str, reviewer: Any, redis_client: Any, settings: Any
) -> None:
    await reviewer("rita@example.com")
    async with Desk(server) as desk:
        await desk.sign_in("rita@example.com")
        sid = desk.session_cookie or ""
        key = f"{settings.redis_prefix}:session:{hashlib.sha256(sid.encode()).hexdigest()}"
        assert sid not in str(await redis_client.keys(f"{settings.redis_prefix}:session:*"))
        assert 0 < await redis_client.ttl(key) <= IDLE_SECONDS  # idle timer, renewed on use
        # Signed in 12 hours and a minute ago: over, however active the person has been.
        data = json.loads(await redis_client.get(key))
        data["created"] = time.time() - ABSOLUTE_SECONDS - 60
        await redis_client.set(key, json.dumps(data), ex=IDLE_SECONDS)
        r = await desk.get("/ui/queue")
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
        assert not await redis_client.exists(key)


async def test_ui_routes_stay_out_of_the_api_schema(http: httpx.AsyncClient) -> None:
    r = await http.get("/schema/openapi.json")
    assert r.status_code == 200
    assert not [p for p in r.json()["paths"] if p.startswith("/ui")]
    assert "/v1/reviews/next" in r.json()["paths"]
