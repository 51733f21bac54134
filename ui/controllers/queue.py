"""The queue page: open reviews of the reviewer's teams, most urgent first, live."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get

from ui import queries
from ui.pages import show_page


async def queue_context(runtime: Any, me: Any) -> dict[str, Any]:
    rows, total = await runtime.read(lambda conn: queries.queue(conn, me.team_scope()))
    return {"rows": rows, "total": total}


class QueueController(Controller):
    path = "/queue"

    @get("/")
    async def show(self, request: Request[Any, Any, Any]) -> Response[str]:
        return await show_page(request, "queue", queue_context)
