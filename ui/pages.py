"""What every page needs: the signed-in person, the CSRF token, the flash notice, redirects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response
from litestar.response import Redirect

from service.reviewers.caller import Caller
from ui import render
from ui.security import caller_of, runtime_of, session_of, store_of

# The queue page renders at most this many rows (the most urgent) plus a count of the rest:
# a person scans the top of the list, and the page stays fast with 10,000 items open.
QUEUE_ROWS = 200


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def signed_in(request: Request[Any, Any, Any]) -> Caller:
    caller = caller_of(request)
    assert caller is not None  # the router's guard let only signed-in people through
    return caller


async def context(request: Request[Any, Any, Any], nav: str = "") -> dict[str, Any]:
    """The base template's variables; takes the one-time flash notice out of the session."""
    sid, session = session_of(request)
    flash = None
    if session is not None and sid and session.flash:
        flash, session.flash = session.flash, None
        await store_of(runtime_of(request)).save(sid, session)
    return {
        "caller": caller_of(request),
        "csrf": session.csrf if session else "",
        "flash": flash,
        "nav": nav,
        "now": datetime.now(UTC),
    }


PageContext = Callable[[Any, Caller], Awaitable[dict[str, Any]]]


async def show_page(request: Request[Any, Any, Any], nav: str, build: PageContext) -> Response[str]:
    """A page named for its nav entry (`<nav>.html`), from what `build` reads for the signed-in
    person; its live fragment is rendered from the same `build`."""
    ctx = await context(request, nav) | await build(runtime_of(request), signed_in(request))
    return render.page(f"{nav}.html", **ctx)


async def set_flash(request: Request[Any, Any, Any], message: str) -> None:
    sid, session = session_of(request)
    if session is not None and sid:
        session.flash = message
        await store_of(runtime_of(request)).save(sid, session)


def go(request: Request[Any, Any, Any], url: str) -> Response[Any]:
    """After a POST: a 303 for plain forms, an HX-Redirect (a full page load) for htmx."""
    if is_htmx(request):
        return Response(None, status_code=204, headers={"HX-Redirect": url})
    return Redirect(url, status_code=303)


def error_page(
    request: Request[Any, Any, Any],
    status: int,
    title: str,
    message: str,
    base: dict[str, Any] | None = None,
) -> Response[str]:
    ctx = base or {"caller": caller_of(request), "csrf": "", "nav": ""}
    _, session = session_of(request)
    ctx["csrf"] = session.csrf if session else ""
    return render.page("error.html", status=status, title=title, message=message, **ctx)
