"""The queue page: open reviews of the reviewer's teams, most urgent first, live."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get

from service.reviews import repository
from ui.pages import QUEUE_ROWS, show_page


async def queue_context(runtime: Any, me: Any) -> dict[str, Any]:
    rows, total = await runtime.read(
        lambda conn: repository.open_page(conn, me.team_scope(), QUEUE_ROWS)
    )
    return {"rows": rows, "total": total}


class QueueController(Controller):
    path = "/queue"

    @get("/")
    async def show(self, request: Request[Any, Any, Any]) -> Response[str]:
        return await show_page(request, "queue", queue_context)
