"""Sign-in and sign-out: argon2id passwords, a fresh session id at sign-in, a rate limit."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect

from service.reviewers import accounts
from service.reviewers.sessions import ABSOLUTE_SECONDS, COOKIE, seal
from ui import render
from ui.security import (
    caller_of,
    client_address,
    cookie_secure,
    limiter_of,
    require_csrf,
    runtime_of,
    session_of,
    store_of,
)


def safe_next(value: str | None) -> str:
    """Only our own pages: an open redirect would let a link to us send people elsewhere."""
    if value and value.startswith("/ui/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui/queue"


def session_cookie(request: Request[Any, Any, Any], sid: str, max_age: int) -> Cookie:
    return Cookie(
        key=COOKIE,
        value=seal(sid, runtime_of(request).secret_key),
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
        max_age=max_age,
    )


class AuthController(Controller):
    path = "/ui"

    @get("/login", name="ui.login")
    async def login_form(
        self, request: Request[Any, Any, Any], next: str | None = None
    ) -> Response[Any]:
        if caller_of(request) is not None:
            return Redirect(safe_next(next), status_code=303)
        sid, session = session_of(request)
        cookies = []
        if session is None:  # an anonymous session, only to carry the sign-in form's CSRF token
            sid, session = await store_of(runtime_of(request)).create()
            cookies.append(session_cookie(request, sid, ABSOLUTE_SECONDS))
        response = render.page(
            "login.html", csrf=session.csrf, next=safe_next(next), email="", error=None
        )
        response.cookies.extend(cookies)
        return response

    @post("/login", guards=[require_csrf])
    async def login(self, request: Request[Any, Any, Any]) -> Response[Any]:
        form = await request.form()
        email = str(form.get("email") or "").strip()
        password = str(form.get("password") or "")
        target = safe_next(str(form.get("next") or ""))
        runtime = runtime_of(request)
        limiter, address = limiter_of(runtime), client_address(request)
        sid, session = session_of(request)
        csrf = session.csrf if session else ""

        def again(status: int, error: str, headers: dict[str, str] | None = None) -> Response[Any]:
            return render.page(
                "login.html",
                status=status,
                headers=headers,
                csrf=csrf,
                next=target,
                email=email,
                error=error,
            )

        wait = await limiter.attempt(email, address)
        if wait is not None:
            minutes = max(1, round(wait / 60))
            return again(
                429,
                f"Too many failed sign-ins. Try again in about {minutes} minute"
                f"{'s' if minutes > 1 else ''}.",
                {"Retry-After": str(wait)},
            )
        caller = await runtime.read(lambda conn: accounts.authenticate(conn, email, password))
        if caller is None:
            return again(401, "That email and password do not match an account.")
        await limiter.succeeded(email, address)
        new_sid, _ = await store_of(runtime).sign_in(sid, caller.id)
        response = Redirect(target, status_code=303)
        response.cookies.append(session_cookie(request, new_sid, ABSOLUTE_SECONDS))
        return response

    @post("/logout", guards=[require_csrf])
    async def logout(self, request: Request[Any, Any, Any]) -> Response[Any]:
        sid, _ = session_of(request)
        await store_of(runtime_of(request)).destroy(sid)
        response = Redirect("/ui/login", status_code=303)
        response.cookies.append(session_cookie(request, "", 0))
        return response
