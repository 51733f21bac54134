"""The supervisor's view: per-team health, who holds what; releasing or reassigning a claim."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit, db
from service.effects import Effects
from service.errors import Conflict, Forbidden
from service.reviewers.caller import Caller
from service.reviews import service as reviews
from ui import queries, render
from ui.pages import context, go, set_flash, signed_in
from ui.security import caller_of, runtime_of


def supervisors_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    caller = caller_of(connection)
    if caller is None or caller.role not in ("supervisor", "admin"):
        raise Forbidden("this page is for supervisors")


async def release_for(conn: AsyncConnection, me: Caller, review_id: uuid.UUID) -> Effects:
    """A supervisor gives someone's claim back to the queue (they left, or it is stuck)."""
    row = await reviews.get_for_reviewer(conn, review_id, me)
    done = (
        await conn.execute(
            text(
                "UPDATE review SET status = 'pending', claimed_by = NULL, lease_until = NULL, "
                "version = version + 1 WHERE id = :id AND status = 'claimed' RETURNING id"
            ),
            {"id": review_id},
        )
    ).first()
    if done is None:
        raise Conflict("Nobody holds this item any more.")
    await audit.record(
        conn, me.actor, "review.released", "review", review_id, former_holder=str(row.claimed_by)
    )
    effects = Effects()
    effects.publish("review.released", review_id=review_id, team=row.team, by=me.email)
    return effects


async def reassign_claim(
    conn: AsyncConnection, me: Caller, review_id: uuid.UUID, to: uuid.UUID, lease_seconds: int
) -> Effects:
    """Hands someone's claim to another member of the item's team, with a fresh lease."""
    row = await reviews.get_for_reviewer(conn, review_id, me)
    done = (
        await conn.execute(
            text(
                "UPDATE review SET claimed_by = :to, version = version + 1, "
                "lease_until = now() + make_interval(secs => :lease) "
                "WHERE id = :id AND status = 'claimed' AND deadline > now() AND EXISTS ("
                "SELECT 1 FROM reviewer_team m WHERE m.reviewer_id = :to AND m.team = review.team) "
                "RETURNING (SELECT email FROM reviewer WHERE id = :to) AS email"
            ),
            {"id": review_id, "to": to, "lease": lease_seconds},
        )
    ).first()
    if done is None:
        raise Conflict(
            "Not reassigned: the item is no longer held, or that person is not in its team."
        )
    await audit.record(
        conn,
        me.actor,
        "review.reassigned",
        "review",
        review_id,
        former_holder=str(row.claimed_by),
        holder=str(to),
    )
    effects = Effects()
    effects.publish("review.claimed", review_id=review_id, team=row.team, by=done.email)
    return effects


async def supervisor_context(runtime: Any, me: Caller) -> dict[str, Any]:
    async with runtime.engine.connect() as conn:
        return {
            "teams": await queries.team_health(conn, me.team_scope()),
            "holds": await queries.holds(conn, me.team_scope()),
            "people": await queries.people(conn, me.team_scope()),
        }


class SupervisorController(Controller):
    path = "/supervisor"
    guards = [supervisors_only]

    @get("/")
    async def show(self, request: Request[Any, Any, Any]) -> Response[str]:
        me = signed_in(request)
        ctx = await context(request, "supervisor") | await supervisor_context(
            runtime_of(request), me
        )
        return render.page("supervisor.html", **ctx)

    @post("/release/{review_id:uuid}")
    async def release(self, request: Request[Any, Any, Any], review_id: uuid.UUID) -> Response[Any]:
        runtime, me = runtime_of(request), signed_in(request)
        try:
            async with db.transaction(runtime.engine) as conn:
                effects = await release_for(conn, me, review_id)
        except Conflict as exc:
            await set_flash(request, exc.detail)
            return go(request, "/ui/supervisor")
        await runtime.dispatch(effects)
        await set_flash(request, "Released: the item is back in the queue.")
        return go(request, "/ui/supervisor")

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
        try:
            async with db.transaction(runtime.engine) as conn:
                effects = await reassign_claim(
                    conn, me, review_id, to, runtime.settings.review_lease_seconds
                )
        except Conflict as exc:
            await set_flash(request, exc.detail)
            return go(request, "/ui/supervisor")
        await runtime.dispatch(effects)
        await set_flash(request, "Reassigned.")
        return go(request, "/ui/supervisor")
