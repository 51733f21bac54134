"""Handoffs: transfers waiting for a person of the reviewer's teams; accept one; presence.

Accept and presence call the transfer use-cases (service.transfers.service), the same ones as
the JSON API: a conditional UPDATE on the status decides who wins.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post

from service import db
from service.errors import Conflict, Invalid
from service.reviewers import repository as people
from service.reviewers.caller import Caller
from service.transfers import service as transfers
from ui import queries, render
from ui.pages import context, go, set_flash, signed_in
from ui.security import runtime_of

PRESENCE_WORDS = {"online": "Online", "away": "Away", "offline": "Offline"}


async def handoffs_context(runtime: Any, me: Caller) -> dict[str, Any]:
    async with runtime.engine.connect() as conn:
        waiting, mine = await queries.transfers(conn, me.team_scope(), me.id)
        presence = await people.presence_of(conn, me.id)
    return {
        "waiting": waiting,
        "mine": mine,
        "presence": presence or "offline",
        "words": PRESENCE_WORDS,
    }


def _sentence(detail: str) -> str:
    return detail[:1].upper() + detail[1:] + "."


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
                _, effects = await transfers.accept(conn, me, transfer_id)
        except Conflict as exc:
            await set_flash(request, _sentence(exc.detail))
            return go(request, "/ui/handoffs")
        await runtime.dispatch(effects)
        await set_flash(request, "Accepted: the conversation is yours now.")
        return go(request, "/ui/handoffs")

    @post("/presence")
    async def presence(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Online: new transfers of your teams may be offered to you; away: they are not."""
        runtime, me = runtime_of(request), signed_in(request)
        value = str((await request.form()).get("presence") or "")
        try:
            async with db.transaction(runtime.engine) as conn:
                effects = await transfers.set_presence(conn, me, value)
        except Invalid as exc:
            await set_flash(request, _sentence(exc.detail))
            return go(request, "/ui/handoffs")
        await runtime.dispatch(effects)
        await set_flash(request, f"You are {PRESENCE_WORDS[value].lower()}.")
        return go(request, "/ui/handoffs")
