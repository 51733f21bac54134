"""The queue page: open reviews of the reviewer's teams, most urgent first, live."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get

from ui import queries, render
from ui.pages import context, signed_in
from ui.security import runtime_of


async def queue_context(runtime: Any, me: Any) -> dict[str, Any]:
    async with runtime.engine.connect() as conn:
        rows, total = await queries.queue(conn, me.team_scope())
    return {"rows": rows, "total": total}


class QueueController(Controller):
    path = "/queue"

    @get("/")
    async def show(self, request: Request[Any, Any, Any]) -> Response[str]:
        me = signed_in(request)
        ctx = await context(request, "queue") | await queue_context(runtime_of(request), me)
        return render.page("queue.html", **ctx)
