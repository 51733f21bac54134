"""A signed-in browser stand-in for the UI's web tests: httpx with a cookie jar and the CSRF token."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import httpx

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="_csrf" value="([^"]+)"')


def held_turn(channel: str = "letters", **overrides: Any) -> dict[str, Any]:
    """A low-confidence turn on an async channel: the policy holds it for review."""
    body: dict[str, Any] = {
        "conversation_id": f"c-{uuid.uuid4().hex[:8]}",
        "channel": channel,
        "customer_id": f"cust-{uuid.uuid4().hex[:6]}",
        "message": "My invoice shows two charges for March.",
        "draft": {
            "text": "Sorry about that, I have refunded one charge.",
            "confidence": 0.4,
            "intent": "billing_dispute",
        },
    }
    return body | overrides


async def submit(http: httpx.AsyncClient, key: str, body: dict[str, Any]) -> str:
    """POST /v1/turns; returns the id of the review it created."""
    r = await http.post("/v1/turns", json=body, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "review", r.json()
    return str(r.json()["review"]["id"])


class Desk:
    """One person's browser session against the real server."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.client = httpx.AsyncClient(base_url=base, timeout=15.0, follow_redirects=False)
        self.csrf = ""

    async def __aenter__(self) -> Desk:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.client.aclose()

    def remember_csrf(self, page: str) -> None:
        found = CSRF_RE.search(page)
        if found:
            self.csrf = html.unescape(found.group(1))

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        r = await self.client.get(path, **kw)
        self.remember_csrf(r.text)
        return r

    async def post(
        self, path: str, data: dict[str, str] | None = None, csrf: bool = True, **kw: Any
    ) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form["_csrf"] = self.csrf
        return await self.client.post(path, data=form, **kw)

    async def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        await self.get("/ui/login")
        r = await self.post("/ui/login", {"email": email, "password": password})
        if r.status_code == 303:
            await self.get("/ui/queue")
        return r

    @property
    def session_cookie(self) -> str | None:
        return self.client.cookies.get("hitl_session")
