"""Handoffs: transfers waiting for a person of the reviewer's teams; accept one.

Accepting is a conditional UPDATE on the status, so two people accepting at once cannot both
win. (The transfers work, issue 5, owns the transfer lifecycle; this is its accept step.)
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit, db
from service.channels import outbox
from service.effects import Effects
from service.errors import Conflict, Forbidden, NotFound
from service.reviewers.caller import Caller
from ui import queries, render
from ui.pages import context, go, set_flash, signed_in
from ui.security import runtime_of


async def accept_transfer(conn: AsyncConnection, me: Caller, transfer_id: uuid.UUID) -> Effects:
    current = (
        await conn.execute(
            text(
                "SELECT x.team, x.status, x.channel, c.external_id, h.display_name FROM transfer x "
                "JOIN conversation c ON c.id = x.conversation_id "
                "LEFT JOIN reviewer h ON h.id = x.assigned_to WHERE x.id = :id"
            ),
            {"id": transfer_id},
        )
    ).first()
    if current is None:
        raise NotFound(f"no transfer {transfer_id}")
    if not me.can_see(current.team):
        raise Forbidden(f"this transfer belongs to team {current.team!r}, which is not yours")
    won = (
        await conn.execute(
            text(
                "UPDATE transfer SET status = 'accepted', assigned_to = :me, accepted_at = now(), "
                "version = version + 1 WHERE id = :id AND status IN ('created', 'offered') "
                "RETURNING id"
            ),
            {"id": transfer_id, "me": me.id},
        )
    ).first()
    if won is None:
        who = f" by {current.display_name}" if current.display_name else ""
        raise Conflict(f"This handoff was already {current.status}{who}.")
    await audit.record(conn, me.actor, "transfer.accepted", "transfer", transfer_id)
    effects = Effects()
    effects.deliver(
        await outbox.add(
            conn,
            channel=current.channel,
            event_type="transfer.accepted",
            dedupe_key=f"transfer.accepted:{transfer_id}",
            data={
                "transfer_id": str(transfer_id),
                "conversation_id": current.external_id,
                "assigned_to": me.email,
            },
        )
    )
    effects.publish("transfer.accepted", transfer_id=transfer_id, team=current.team, by=me.email)
    return effects


async def handoffs_context(runtime: Any, me: Caller) -> dict[str, Any]:
    async with runtime.engine.connect() as conn:
        waiting, mine = await queries.transfers(conn, me.team_scope(), me.id)
    return {"waiting": waiting, "mine": mine}


class HandoffsController(Controller):
    path = "/handoffs"

    @get("/")
    async def show(self, request: Request[Any, Any, Any]) -> Response[str]:
        me = signed_in(request)
        ctx = await context(request, "handoffs") | await handoffs_context(runtime_of(request), me)
        return render.page("handoffs.html", **ctx)

    @post("/{transfer_id:uuid}/accept")
    async def accept(
        self, request: Request[Any, Any, Any], transfer_id: uuid.UUID
    ) -> Response[Any]:
        runtime, me = runtime_of(request), signed_in(request)
        try:
            async with db.transaction(runtime.engine) as conn:
                effects = await accept_transfer(conn, me, transfer_id)
        except Conflict as exc:
            await set_flash(request, exc.detail)
            return go(request, "/ui/handoffs")
        await runtime.dispatch(effects)
        await set_flash(request, "Accepted: the conversation is yours now.")
        return go(request, "/ui/handoffs")
