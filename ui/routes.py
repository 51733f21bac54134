"""The UI's router: its pages, the live socket, static files and HTML error pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, Router, get
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from service.errors import DomainError
from service.reviewers import presence
from ui import live
from ui.controllers.auth import AuthController
from ui.controllers.dashboard import DashboardController
from ui.controllers.handoffs import HandoffsController
from ui.controllers.live import live_socket
from ui.controllers.queue import QueueController
from ui.controllers.replay import ReplayController
from ui.controllers.review import ReviewController
from ui.controllers.supervisor import SupervisorController
from ui.pages import error_page, is_htmx
from ui.security import CsrfRefused, NotSignedIn, require_caller, require_csrf

STATIC = Path(__file__).parent / "static"


def _not_signed_in(request: Request[Any, Any, Any], _: NotSignedIn) -> Response[Any]:
    target = "/ui/login"
    if request.method == "GET" and request.url.path != "/ui/":
        target += "?next=" + quote(request.url.path)
    if is_htmx(request):
        return Response(None, status_code=401, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def _csrf(request: Request[Any, Any, Any], _: CsrfRefused) -> Response[Any]:
    return error_page(
        request,
        403,
        "This form has expired",
        "The page was open too long or in another session. Reload it and try again.",
    )


def _domain(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    titles = {403: "Not your team's", 404: "Not found", 409: "Already handled"}
    return error_page(
        request, exc.status, titles.get(exc.status, "Something is not right"), exc.detail
    )


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        return error_page(request, 400, "Something is not right", "The request was not valid.")
    return error_page(request, exc.status_code, "Something went wrong", str(exc.detail))


@get("/", guards=[require_caller], include_in_schema=False)
async def home() -> Redirect:
    return Redirect("/ui/queue", status_code=303)


def ui_router() -> Router:
    pages = Router(
        path="/ui",
        route_handlers=[
            home,
            QueueController,
            ReviewController,
            HandoffsController,
            SupervisorController,
            DashboardController,
            ReplayController,
        ],
        guards=[require_caller, require_csrf],
        include_in_schema=False,
    )
    return Router(
        path="/",
        route_handlers=[
            AuthController,
            pages,
            live_socket,
            create_static_files_router(
                path="/ui/static", directories=[STATIC], include_in_schema=False
            ),
        ],
        exception_handlers={
            NotSignedIn: _not_signed_in,
            CsrfRefused: _csrf,
            DomainError: _domain,
            HTTPException: _http,
        },
        include_in_schema=False,
    )


async def on_shutdown(app: Any) -> None:
    await live.stop(app)
    await presence.stop()
