"""Who is signed in (the session middleware), CSRF checks, same-origin checks and page headers."""

from __future__ import annotations

import json
import time
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection, Request
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.reviewers import accounts
from service.reviewers.caller import Caller
from service.reviewers.sessions import COOKIE, Session, SessionStore, SignInLimiter, unseal
from service.runtime import Runtime

CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "_csrf"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Paths whose requests may be authenticated by the session cookie; everything else (the
# channel API hot path) never pays for a Redis look-up.
SESSION_PATHS = ("/ui", "/v1/reviews", "/v1/transfers", "/v1/me", "/v1/shadow", "/v1/calibration")

# No inline script or style anywhere: htmx is configured from a <meta> tag, and its indicator
# styles are switched off (htmx.config.includeIndicatorStyles=false) so it injects no <style>.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]
# Only over HTTPS (directly, or from a proxy named in HITL_TRUSTED_PROXIES): browsers then
# refuse plain HTTP to this host for a year.
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class NotSignedIn(Exception):
    """Raised by the guard; the UI's handler sends people to the sign-in page."""


class CsrfRefused(Exception):
    """A POST without the session's CSRF token."""


def runtime_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Runtime:
    return connection.app.state.runtime  # type: ignore[no-any-return]


def store_of(runtime: Runtime) -> SessionStore:
    return SessionStore(runtime.redis, runtime.settings.redis_prefix)


def limiter_of(runtime: Runtime) -> SignInLimiter:
    return SignInLimiter(runtime.redis, runtime.settings.redis_prefix)


def session_of(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[str | None, Session | None]:
    state = connection.scope.get("state", {})
    return state.get("session_id"), state.get("session")


def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller | None:
    caller = connection.scope.get("state", {}).get("caller")
    return caller if isinstance(caller, Caller) else None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed Cookie header means no session, not a 500
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def same_origin(scope: Scope) -> bool:
    """The Origin header names this very service (scheme and host), as browsers send it."""
    origin = _header(scope, b"origin")
    host = _header(scope, b"host")
    if not origin or not host:
        return False
    parts = urlsplit(origin)
    secure = scope.get("scheme") in ("https", "wss")
    return parts.netloc == host and parts.scheme == ("https" if secure else "http")


def session_middleware(app: ASGIApp) -> ASGIApp:
    """Puts the session (and, when signed in, the Caller) into the connection state, refuses
    session-authenticated JSON writes without the CSRF header, and adds the UI's headers."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] not in ("http", "websocket") or not path.startswith(SESSION_PATHS):
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        runtime: Runtime = scope["app"].state.runtime
        sid = unseal(_cookie(scope, COOKIE), runtime.secret_key)
        session = await store_of(runtime).load(sid) if sid else None
        state = scope.setdefault("state", {})
        state["session_id"], state["session"] = (sid if session else None), session
        by_session = False
        if session and session.signed_in and not _header(scope, b"authorization"):
            caller = await runtime.read(
                lambda conn: accounts.caller_by_id(conn, session.reviewer_uuid)  # type: ignore[arg-type]
            )
            if caller is not None:
                state["caller"], by_session = caller, True
        if (
            scope["type"] == "http"
            and by_session
            and scope.get("method") in UNSAFE
            and not path.startswith("/ui")
            and session
            and not session.csrf_ok(_header(scope, CSRF_HEADER.encode()))
        ):
            await _refuse_json(send)
            return
        if not path.startswith("/ui") or path.startswith("/ui/static"):
            await app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                timing = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
                message["headers"] = [
                    *message.get("headers", []),
                    *PAGE_HEADERS,
                    *([HSTS] if scope.get("scheme") == "https" else []),
                    (b"cache-control", b"no-store"),
                    (b"server-timing", timing.encode()),
                ]
            await send(message)

        await app(scope, receive, with_headers)

    return middleware


async def _refuse_json(send: Send) -> None:
    body = json.dumps(
        {"status_code": 403, "detail": "missing or wrong X-CSRF-Token header", "extra": None}
    ).encode()
    start: Any = {
        "type": "http.response.start",
        "status": 403,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    await send(start)
    end: Any = {"type": "http.response.body", "body": body}
    await send(end)


async def csrf_token_of(request: Request[Any, Any, Any]) -> str | None:
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    form = await request.form()
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else None


async def require_csrf(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard for every UI POST: the token of this session, in the form or the htmx header.

    A synchronizer token kept in the server-side session, not Litestar's CSRFConfig: that one
    is a double-submit cookie, which a subdomain that can set cookies defeats, and its token
    is not the one the live blocks (re-rendered for the WebSocket) must carry in their forms."""
    if not isinstance(connection, Request) or connection.method not in UNSAFE:
        return
    session = session_of(connection)[1]
    if session is None or not session.csrf_ok(await csrf_token_of(connection)):
        raise CsrfRefused()


async def require_caller(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    if caller_of(connection) is None:
        raise NotSignedIn()


def client_address(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


def cookie_secure(request: Request[Any, Any, Any]) -> bool:
    return request.url.scheme == "https"
