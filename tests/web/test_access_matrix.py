"""Who may call what (issue 12): every route of the app, enumerated from its route table, against
eight kinds of caller, each cell checked against the table below. A route added without a row
fails the test; so does a cell that lets someone in, or keeps someone out, against the table.

Each cell gets fresh items (a held review and a waiting transfer of team general on the letters
channel), so one cell's action never decides the next one's answer. Outcomes:
  ok     let through: any answer but 401/403/the sign-in page (a 409 for a business rule is ok)
  401    not signed in, or a credential of the wrong kind
  403    signed in, but not for this team, role or channel
  404    no such item for this caller (a conversation id is the channel's own)
  login  a page that sends the browser to sign in
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from litestar.routes import HTTPRoute, WebSocketRoute
from ui_client import Desk, held_turn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from service.app import create_app
from service.settings import Settings

CALLERS = ("anonymous", "channel_a", "channel_b", "reviewer_x", "reviewer_y", "supervisor_x")
CALLERS += ("admin", "expired")
PEOPLE = {  # who: (email, role, teams)
    "reviewer_x": ("rx@example.com", "reviewer", ("general",)),
    "reviewer_y": ("ry@example.com", "reviewer", ("care",)),
    "supervisor_x": ("sx@example.com", "supervisor", ("general",)),
    "admin": ("ad@example.com", "admin", ()),
    "expired": ("ex@example.com", "reviewer", ("general",)),
}
NOBODY = ("anonymous", "channel_a", "channel_b", "expired")  # no session on the desk
SESSIONS = ("reviewer_x", "reviewer_y", "supervisor_x", "admin")


def row(default: str, **cells: str) -> dict[str, str]:
    return {who: cells.get(who, default) for who in CALLERS}


def public() -> dict[str, str]:
    return row("ok")


def channel_read(**more: str) -> dict[str, str]:
    """Read by the item's own channel and by the people of its team."""
    return (
        row("401", channel_a="ok", channel_b="403", reviewer_x="ok", reviewer_y="403")
        | {
            "supervisor_x": "ok",
            "admin": "ok",
        }
        | more
    )


def team_work(**more: str) -> dict[str, str]:
    """A person's action on an item of team general."""
    return row("401", reviewer_x="ok", reviewer_y="403", supervisor_x="ok", admin="ok") | more


def anyone_signed_in() -> dict[str, str]:
    return row("401", reviewer_x="ok", reviewer_y="ok", supervisor_x="ok", admin="ok")


def supervisors() -> dict[str, str]:
    return row("401", reviewer_x="403", reviewer_y="403", supervisor_x="ok", admin="ok")


def desk_page(default: str = "ok", **more: str) -> dict[str, str]:
    """A page of the desk: without a session it sends the browser to sign in."""
    return {who: ("login" if who in NOBODY else more.get(who, default)) for who in CALLERS}


def desk_form(default: str = "ok", **more: str) -> dict[str, str]:
    """A form of the desk: without a session the browser is sent to sign in (nothing done)."""
    return {who: ("login" if who in NOBODY else more.get(who, default)) for who in CALLERS}


TEAM_FORM = {"reviewer_y": "403"}
SUPERVISOR_ONLY = {"reviewer_x": "403", "reviewer_y": "403"}

TABLE: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/v1/turns"): row("401", channel_a="ok", channel_b="403"),
    ("GET", "/v1/reviews/{review_id:uuid}"): channel_read(),
    ("POST", "/v1/conversations/{conversation_id:str}/outcome"): row(
        "401", channel_a="ok", channel_b="404"
    ),
    ("POST", "/v1/reviews/{review_id:uuid}/approve"): team_work(),
    ("POST", "/v1/reviews/{review_id:uuid}/claim"): team_work(),
    ("POST", "/v1/reviews/next"): anyone_signed_in(),
    ("POST", "/v1/reviews/{review_id:uuid}/edit"): team_work(),
    ("GET", "/v1/reviews"): anyone_signed_in(),
    ("POST", "/v1/reviews/{review_id:uuid}/release"): team_work(),
    ("POST", "/v1/reviews/{review_id:uuid}/take-over"): team_work(),
    ("POST", "/v1/transfers/{transfer_id:uuid}/accept"): team_work(),
    # The customer left (the channel) or the team withdraws it.
    ("POST", "/v1/transfers/{transfer_id:uuid}/cancel"): channel_read(),
    ("POST", "/v1/transfers/{transfer_id:uuid}/close"): team_work(channel_a="403", channel_b="403"),
    ("GET", "/v1/transfers/{transfer_id:uuid}"): channel_read(),
    ("GET", "/v1/transfers"): anyone_signed_in(),
    # Only the person who accepted it talks to the customer (CONTRACT): not over their shoulder.
    ("POST", "/v1/transfers/{transfer_id:uuid}/reply"): team_work(supervisor_x="403", admin="403"),
    ("PUT", "/v1/me/presence"): anyone_signed_in(),
    ("GET", "/v1/calibration"): supervisors(),
    ("GET", "/v1/shadow"): supervisors(),
    ("GET", "/healthz"): public(),
    ("GET", "/metrics"): public(),
    ("GET", "/readyz"): public(),
    ("GET", "/ui/login"): public(),
    # Signed in, with the page's token and a wrong password: 401; without a token: refused.
    ("POST", "/ui/login"): {w: "403" if w in NOBODY else "401" for w in CALLERS},
    # Signed out: to the sign-in page; without a session's token: refused.
    ("POST", "/ui/logout"): {w: "403" if w in NOBODY else "login" for w in CALLERS},
    ("GET", "/ui"): desk_page(),
    ("GET", "/ui/queue"): desk_page(),
    ("POST", "/ui/reviews/{review_id:uuid}/approve"): desk_form(**TEAM_FORM),
    ("POST", "/ui/reviews/{review_id:uuid}/edit"): desk_form(**TEAM_FORM),
    ("GET", "/ui/reviews/{review_id:uuid}/next"): desk_page(**TEAM_FORM),
    ("POST", "/ui/reviews/{review_id:uuid}/heartbeat"): desk_form(**TEAM_FORM),
    # The page's closing beacon gives back only a hold this person has: a no-op for others.
    ("POST", "/ui/reviews/{review_id:uuid}/leave"): desk_form(),
    ("POST", "/ui/reviews/next"): desk_form(),
    ("GET", "/ui/reviews/{review_id:uuid}/previous"): desk_page(**TEAM_FORM),
    ("POST", "/ui/reviews/{review_id:uuid}/release"): desk_form(**TEAM_FORM),
    ("GET", "/ui/reviews/{review_id:uuid}"): desk_page(**TEAM_FORM),
    ("POST", "/ui/reviews/{review_id:uuid}/take-over"): desk_form(**TEAM_FORM),
    ("POST", "/ui/handoffs/{transfer_id:uuid}/accept"): desk_form(**TEAM_FORM),
    ("POST", "/ui/handoffs/{transfer_id:uuid}/close"): desk_form(**TEAM_FORM),
    ("POST", "/ui/handoffs/presence"): desk_form(),
    ("POST", "/ui/handoffs/{transfer_id:uuid}/reply"): desk_form(
        reviewer_y="403", supervisor_x="403", admin="403"
    ),
    ("GET", "/ui/handoffs"): desk_page(),
    ("GET", "/ui/handoffs/{transfer_id:uuid}"): desk_page(**TEAM_FORM),
    ("POST", "/ui/supervisor/reassign/{review_id:uuid}"): desk_form(**SUPERVISOR_ONLY),
    ("POST", "/ui/supervisor/release/{review_id:uuid}"): desk_form(**SUPERVISOR_ONLY),
    ("POST", "/ui/supervisor/deliveries/{event_id:uuid}/retry"): desk_form(**SUPERVISOR_ONLY),
    ("POST", "/ui/supervisor/deliveries/retry"): desk_form(**SUPERVISOR_ONLY),
    ("GET", "/ui/supervisor"): desk_page(**SUPERVISOR_ONLY),
    ("GET", "/ui/dashboard"): desk_page(**SUPERVISOR_ONLY),
    ("GET", "/ui/replay"): desk_page(**SUPERVISOR_ONLY),
    ("POST", "/ui/replay"): desk_form(**SUPERVISOR_ONLY),
    ("GET", "/ui/static/{file_path:path}"): public(),
    ("GET", "/schema/openapi.json"): public(),
    ("GET", "/schema/rapidoc"): public(),
    ("GET", "/schema"): public(),
    ("GET", "/schema/redoc"): public(),
    ("GET", "/schema/swagger"): public(),
    ("GET", "/schema/openapi.yaml"): public(),
    ("GET", "/schema/openapi.yml"): public(),
    ("GET", "/schema/elements"): public(),
    ("GET", "/schema/{path:str}"): public(),
    ("GET", "/schema/oauth2-redirect.html"): public(),
}

# The live socket, by view: who gets a first message and who is refused.
SOCKET_VIEWS: dict[str, dict[str, str]] = {
    "queue": {w: "open" if w in SESSIONS else "refused" for w in CALLERS},
    "handoffs": {w: "open" if w in SESSIONS else "refused" for w in CALLERS},
    "presence": {w: "open" if w in SESSIONS else "refused" for w in CALLERS},
    "supervisor": {w: "open" if w in ("supervisor_x", "admin") else "refused" for w in CALLERS},
    "review": {w: "open" if w in SESSIONS and w != "reviewer_y" else "refused" for w in CALLERS},
    "transfer": {w: "open" if w in SESSIONS and w != "reviewer_y" else "refused" for w in CALLERS},
}


def app_routes(settings: Settings) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, read from its own route table."""
    app = create_app(settings)
    found: list[tuple[str, str]] = []
    for route in app.routes:
        if isinstance(route, WebSocketRoute):
            found.append(("WS", route.path))
        elif isinstance(route, HTTPRoute):
            found += [
                (m, route.path) for m in sorted(route.methods) if m not in ("OPTIONS", "HEAD")
            ]
    return found


@dataclass
class Items:
    review: str
    conversation: str
    transfer: str


@dataclass
class World:
    """The callers' credentials and a way to make fresh items for a cell."""

    base: str
    keys: dict[str, str]
    tokens: dict[str, str]
    desks: dict[str, Desk] = field(default_factory=dict)
    expired_cookie: str = ""
    expired_csrf: str = ""
    api: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.api = httpx.AsyncClient(base_url=self.base, timeout=15.0)

    async def items(self, accepted_by_x: bool = False) -> Items:
        key = {"Authorization": f"Bearer {self.keys['channel_a']}"}
        body = held_turn("letters")
        r = await self.api.post("/v1/turns", json=body, headers=key)
        assert r.status_code == 200 and r.json()["action"] == "review", r.text
        asked = held_turn("letters", message="I want to talk to a real person please")
        t = await self.api.post("/v1/turns", json=asked, headers=key)
        assert t.status_code == 200 and t.json()["action"] == "transfer", t.text
        transfer = t.json()["transfer"]["id"]
        if accepted_by_x:
            bearer = {"Authorization": f"Bearer {self.tokens['reviewer_x']}"}
            a = await self.api.post(f"/v1/transfers/{transfer}/accept", headers=bearer)
            assert a.status_code == 200, a.text
        return Items(r.json()["review"]["id"], body["conversation_id"], transfer)

    async def end_transfers(self) -> None:
        """The channel cancels every open transfer, so nobody reaches their capacity."""
        admin = {"Authorization": f"Bearer {self.tokens['admin']}"}
        key = {"Authorization": f"Bearer {self.keys['channel_a']}"}
        listed = await self.api.get("/v1/transfers", headers=admin)
        assert listed.status_code == 200, listed.text
        for item in listed.json():
            await self.api.post(f"/v1/transfers/{item['id']}/cancel", headers=key)

    def headers(self, who: str) -> dict[str, str]:
        """The credential a caller presents to the API."""
        if who in self.keys:
            return {"Authorization": f"Bearer {self.keys[who]}"}
        if who in self.tokens:
            return {"Authorization": f"Bearer {self.tokens[who]}"}
        if who == "expired":
            return {
                "Cookie": f"hitl_session={self.expired_cookie}",
                "x-csrf-token": self.expired_csrf,
            }
        return {}


BODIES: dict[str, Callable[[Items], dict[str, Any]]] = {
    "/v1/turns": lambda _: held_turn("letters"),
    "/v1/conversations/{conversation_id:str}/outcome": lambda _: {"resolved": True, "csat": 4},
    "/v1/reviews/{review_id:uuid}/edit": lambda _: {"text": "Refunded, sorry."},
    "/v1/transfers/{transfer_id:uuid}/close": lambda _: {"resolution": "refund issued"},
    "/v1/transfers/{transfer_id:uuid}/reply": lambda _: {"text": "Hello, I am here."},
    "/v1/me/presence": lambda _: {"presence": "online"},
    "/ui/login": lambda _: {"email": "nobody@example.com", "password": "wrong"},
    "/ui/reviews/{review_id:uuid}/edit": lambda _: {"reply": "Refunded, sorry."},
    "/ui/handoffs/{transfer_id:uuid}/close": lambda _: {"resolution": "refund issued"},
    "/ui/handoffs/{transfer_id:uuid}/reply": lambda _: {"text": "Hello, I am here."},
    "/ui/handoffs/presence": lambda _: {"presence": "online"},
    "/ui/replay": lambda _: {"sample": "none", "policy": ""},
    "/ui/supervisor/deliveries/retry": lambda _: {"channel": "letters"},
}
NEEDS_ACCEPTED = ("/close", "/reply")


def concrete(path: str, items: Items) -> str:
    return (
        path.replace("{review_id:uuid}", items.review)
        .replace("{transfer_id:uuid}", items.transfer)
        .replace("{conversation_id:str}", items.conversation)
        .replace("{event_id:uuid}", str(uuid.uuid4()))  # none gave up: a 409 notice
        .replace("{file_path:path}", "htmx.min.js")
        .replace("{path:str}", "swagger")
    )


def outcome(response: httpx.Response) -> str:
    if response.status_code in (302, 303, 307) and "/ui/login" in response.headers.get(
        "location", ""
    ):
        return "login"
    if response.status_code in (401, 403, 404):
        return str(response.status_code)
    assert response.status_code < 500, response.text
    return "ok"


async def call(world: World, who: str, method: str, path: str) -> str:
    try:
        return await _call(world, who, method, path)
    finally:
        await world.end_transfers()


async def _call(world: World, who: str, method: str, path: str) -> str:
    items = await world.items(accepted_by_x=path.endswith(NEEDS_ACCEPTED))
    url = concrete(path, items)
    body = BODIES.get(path, lambda _: None)(items)
    if path.startswith("/ui") and who in world.desks:
        desk = world.desks[who]
        if method == "GET":
            response = await desk.get(url)
        else:
            response = await desk.post(url, {k: str(v) for k, v in (body or {}).items()})
        if path == "/ui/logout":  # the next cell still needs this person signed in
            await desk.sign_in(PEOPLE[who][0])
        return outcome(response)
    headers = world.headers(who)
    async with httpx.AsyncClient(base_url=world.base, timeout=15.0) as client:
        if path.startswith("/ui") and method != "GET":
            response = await client.request(method, url, data=body, headers=headers)
        else:
            response = await client.request(method, url, json=body, headers=headers)
    return outcome(response)


async def socket_outcome(world: World, who: str, view: str, origin: str | None = None) -> str:
    items = await world.items()
    item = {"review": items.review, "transfer": items.transfer}.get(view)
    url = world.base.replace("http://", "ws://") + f"/ui/ws?view={view}"
    url += f"&id={item}" if item else ""
    cookie = world.desks[who].session_cookie if who in world.desks else None
    if who == "expired":
        cookie = world.expired_cookie
    headers = {"Cookie": f"hitl_session={cookie}"} if cookie else {}
    headers |= world.headers(who) if who in world.keys else {}
    try:
        async with connect(
            url,
            origin=origin or world.base,  # type: ignore[arg-type]
            additional_headers=headers,
            open_timeout=5,
        ) as socket:
            if view == "presence":
                return "open"
            try:
                first = await socket.recv(decode=True)
            except ConnectionClosed:
                return "refused"
            return "open" if first else "refused"
    except InvalidStatus:
        return "refused"


@pytest.fixture
async def world(server: str, channel_key: Any, reviewer: Any, settings: Settings) -> Any:
    keys = {"channel_a": await channel_key("letters"), "channel_b": await channel_key("sms")}
    tokens = {}
    for who, (email, role, teams) in PEOPLE.items():
        token = await reviewer(email, teams=teams, role=role)
        if who != "expired":
            tokens[who] = token
    made = World(server, keys, tokens)
    for who in SESSIONS:
        made.desks[who] = Desk(server)
        assert (await made.desks[who].sign_in(PEOPLE[who][0])).status_code == 303
    async with Desk(server) as gone:
        await gone.sign_in(PEOPLE["expired"][0])
        made.expired_cookie, made.expired_csrf = gone.session_cookie or "", gone.csrf
        assert (await gone.post("/ui/logout")).status_code == 303
    yield made
    for desk in made.desks.values():
        await desk.client.aclose()
    await made.api.aclose()


@pytest.mark.timeout(600)  # hundreds of cells, each with fresh items
async def test_every_route_against_every_caller(world: World, settings: Settings) -> None:
    routes = app_routes(settings)
    http_routes = [r for r in routes if r[0] != "WS"]
    unlisted = sorted(set(http_routes) - set(TABLE))
    assert not unlisted, f"routes without a row in TABLE: {unlisted}"
    assert not set(TABLE) - set(http_routes), "rows for routes the app no longer has"
    wrong: list[str] = []
    for method, path in http_routes:
        for who in CALLERS:
            got = await call(world, who, method, path)
            if got != TABLE[(method, path)][who]:
                wrong.append(
                    f"{method} {path} as {who}: {got}, table says {TABLE[(method, path)][who]}"
                )
    checked = len(http_routes) * len(CALLERS)
    assert not wrong, f"{len(wrong)} of {checked} cells differ:\n" + "\n".join(wrong)


@pytest.mark.timeout(600)  # hundreds of cells, each with fresh items
async def test_the_live_socket_by_view_and_caller(world: World, settings: Settings) -> None:
    assert ("WS", "/ui/ws") in app_routes(settings)
    wrong = []
    for view, expected in SOCKET_VIEWS.items():
        for who in CALLERS:
            got = await socket_outcome(world, who, view)
            if got != expected[who]:
                wrong.append(f"view={view} as {who}: {got}, table says {expected[who]}")
    foreign = await socket_outcome(world, "admin", "queue", origin="https://evil.example")
    assert foreign == "refused", "a page of another site may not open the desk's socket"
    assert not wrong, "\n".join(wrong)


@pytest.mark.timeout(600)  # hundreds of cells, each with fresh items
async def test_every_unsafe_desk_route_needs_the_csrf_token(
    world: World, settings: Settings
) -> None:
    """The same person, signed in, posting every form of the desk without the session's token."""
    unsafe = [(m, p) for m, p in app_routes(settings) if p.startswith("/ui") and m == "POST"]
    assert len(unsafe) > 15
    admin = world.desks["admin"]
    let_through = []
    for _, path in unsafe:
        items = await world.items(accepted_by_x=path.endswith(NEEDS_ACCEPTED))
        body = {k: str(v) for k, v in (BODIES.get(path, lambda _: None)(items) or {}).items()}
        response = await admin.post(concrete(path, items), body, csrf=False)
        if response.status_code != 403:
            let_through.append(f"POST {path}: {response.status_code}")
    assert not let_through, let_through
