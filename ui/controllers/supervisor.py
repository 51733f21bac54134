"""The supervisor's view: per-team health, who holds what (release, reassign), and webhook deliveries
that gave up (retry)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from service.channels import deliveries
from service.db import Connection
from service.errors import Conflict, Forbidden
from service.reviewers import repository as reviewers
from service.reviewers.caller import Caller
from service.reviews import repository as reviews
from service.reviews import supervision
from service.runtime import Work
from ui.pages import go, set_flash, show_page, signed_in
from ui.security import caller_of, runtime_of


def supervisors_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    caller = caller_of(connection)
    if caller is None or caller.role not in ("supervisor", "admin"):
        raise Forbidden("this page is for supervisors")


async def supervisor_context(runtime: Any, me: Caller) -> dict[str, Any]:
    async def load(conn: Connection) -> dict[str, Any]:
        return {
            "teams": await reviews.team_health(conn, me.team_scope()),
            "holds": await reviews.holds(conn, me.team_scope()),
            "people": await reviewers.people(conn, me.team_scope()),
            "stuck": await deliveries.stuck(conn, me),
        }

    return await runtime.read(load)  # type: ignore[no-any-return]


class SupervisorController(Controller):
    path = "/supervisor"
    guards = [supervisors_only]

    @get("/")
    async def show(self, request: Request[Any, Any, Any]) -> Response[str]:
        return await show_page(request, "supervisor", supervisor_context)

    @post("/release/{review_id:uuid}")
    async def release(self, request: Request[Any, Any, Any], review_id: uuid.UUID) -> Response[Any]:
        me = signed_in(request)
        return await _settle(
            request,
            lambda conn: supervision.release_hold(conn, me, review_id),
            "Released: the item is back in the queue.",
        )

    @post("/reassign/{review_id:uuid}")
    async def reassign(
        self, request: Request[Any, Any, Any], review_id: uuid.UUID
    ) -> Response[Any]:
        runtime, me = runtime_of(request), signed_in(request)
        try:
            to = uuid.UUID(str((await request.form()).get("to") or ""))
        except ValueError:
            await set_flash(request, "Choose the person to hand the item to.")
            return go(request, "/ui/supervisor")
        lease = runtime.settings.review_lease_seconds
        return await _settle(
            request,
            lambda conn: supervision.reassign_hold(conn, me, review_id, to, lease),
            "Reassigned.",
        )

    @post("/deliveries/{event_id:uuid}/retry")
    async def retry_delivery(
        self, request: Request[Any, Any, Any], event_id: uuid.UUID
    ) -> Response[Any]:
        """One webhook delivery that gave up, attempted again (its endpoint switched back on)."""
        me = signed_in(request)
        return await _settle(
            request,
            lambda conn: deliveries.retry(conn, me, event_id=event_id),
            "Retrying the delivery now.",
        )

    @post("/deliveries/retry")
    async def retry_channel(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Every delivery of one channel that gave up: for when its receiver is fixed."""
        runtime, me = runtime_of(request), signed_in(request)
        channel = str((await request.form()).get("channel") or "")[:200]
        if channel not in runtime.policies.current.channels:
            await set_flash(request, "Choose a channel of the policy.")
            return go(request, "/ui/supervisor")
        n = await runtime.commit(lambda c: deliveries.retry(c, me, channel=channel))
        await set_flash(request, f"Retrying {n} deliveries of {channel} now.")
        return go(request, "/ui/supervisor")


async def _settle(request: Request[Any, Any, Any], work: Work[Any], done: str) -> Response[Any]:
    """One supervisor action: committed, then back to the page with what happened, or why not."""
    try:
        await runtime_of(request).commit(work)
    except Conflict as exc:
        await set_flash(request, exc.detail)
    else:
        await set_flash(request, done)
    return go(request, "/ui/supervisor")
