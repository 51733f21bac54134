"""Signing in and out of the reviewer UI over real HTTP: sessions, CSRF, rate limit, headers."""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from support import Process, free_port, process_env, wait_http_ready
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


async def test_wrong_password_then_rate_limit(
    server: str, reviewer: Any, fresh_sign_in_limits: None
) -> None:
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
        sid = (desk.session_cookie or "").rpartition(".")[0]  # the cookie is sid.hmac
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


async def test_parallel_wrong_passwords_are_limited_atomically(
    server: str, reviewer: Any, fresh_sign_in_limits: None
) -> None:
    """Twenty attempts at once on one account: exactly five reach the password check (the
    count is taken before the check, in one atomic step), the rest wait."""
    await reviewer("max@example.com")
    desks = [Desk(server) for _ in range(20)]
    for desk in desks:
        await desk.__aenter__()
        await desk.get("/ui/login")
    try:
        answers = await asyncio.gather(
            *(d.post("/ui/login", {"email": "max@example.com", "password": "wrong"}) for d in desks)
        )
    finally:
        for desk in desks:
            await desk.__aexit__()
    codes = sorted(r.status_code for r in answers)
    assert codes.count(401) == 5 and codes.count(429) == 15, codes


async def _through_proxy(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    """Sign in as a browser behind the TLS proxy would: its cookie is Secure (https), so it is
    sent back by hand over this plain-HTTP test connection."""
    page = await client.get("/ui/login")
    sid = re.search(r"hitl_session=([^;]+)", page.headers["set-cookie"])
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text)
    assert sid and csrf, page.text[:300]
    return await client.post(
        "/ui/login",
        data={"email": email, "password": password, "_csrf": html.unescape(csrf.group(1))},
        headers={"Cookie": f"hitl_session={sid.group(1)}"},
    )


async def test_forwarded_headers_only_from_trusted_proxies(
    server: str, settings: Any, reviewer: Any, tmp_path: Path
) -> None:
    """Behind a TLS-terminating proxy named in HITL_TRUSTED_PROXIES: https for the cookie's
    Secure flag and HSTS, the client's own address for the sign-in limit. From anyone else the
    same headers change nothing."""
    await reviewer("ida@example.com")
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    async with httpx.AsyncClient(base_url=server, headers=forwarded) as plain:
        r = await plain.get("/ui/login")
        assert "strict-transport-security" not in r.headers
        assert "secure" not in r.headers["set-cookie"].lower()
    port = free_port()
    env = process_env(settings) | {"HITL_PORT": str(port), "HITL_TRUSTED_PROXIES": "127.0.0.1"}
    proxied = Process(["serve"], env, tmp_path / "proxied.log")
    base = f"http://127.0.0.1:{port}"
    # A browser behind the proxy sends the https origin it sees.
    forwarded["Origin"] = f"https://127.0.0.1:{port}"
    try:
        wait_http_ready(f"{base}/readyz", proxied)
        async with httpx.AsyncClient(base_url=base, headers=forwarded) as browser:
            r = await browser.get("/ui/login")
            assert r.headers["strict-transport-security"].startswith("max-age=31536000")
            r = await _through_proxy(browser, "ida@example.com")
            assert r.status_code == 303, r.text[:300]
            assert "secure" in r.headers["set-cookie"].lower()
            # The address limit is per client behind the proxy, not one for everyone.
            for n in range(31):
                r = await _through_proxy(browser, f"nobody{n}@example.com", "wrong")
            assert r.status_code == 429, "the 31st attempt from one address waits"
            browser.headers["X-Forwarded-For"] = "198.51.100.9"
            r = await _through_proxy(browser, "ida@example.com")
            assert r.status_code == 303, "another client behind the same proxy is not locked out"
    finally:
        proxied.stop()


async def test_session_cookies_are_signed_with_the_secret_key(server: str, reviewer: Any) -> None:
    """The cookie is the session id and its HMAC under HITL_SECRET_KEY: the bare id, a wrong
    MAC or one made under another key is not a session, even though Redis holds the id."""
    from service.reviewers.sessions import seal

    await reviewer("rita@example.com")
    async with Desk(server) as desk:
        await desk.sign_in("rita@example.com")
        cookie = desk.session_cookie or ""
        sid = cookie.rpartition(".")[0]
        assert sid and cookie == seal(sid, "test-secret-key")
        for forged in (sid, f"{sid}.{'0' * 32}", seal(sid, "another-key")):
            async with httpx.AsyncClient(base_url=server, cookies={"hitl_session": forged}) as c:
                r = await c.get("/ui/queue")
                assert r.status_code == 303 and "/ui/login" in r.headers["location"], forged
        assert (await desk.get("/ui/queue")).status_code == 200


def test_serve_refuses_to_start_without_a_secret_key_on_a_configured_database(
    settings: Any,
) -> None:
    env = process_env(settings)
    env.pop("HITL_SECRET_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "service", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "HITL_SECRET_KEY is not set" in done.stderr, done.stderr
