"""Handoffs: the work queue of transfers waiting for a person of the reviewer's teams; one
transfer's page (its package, the live transcript, accept, message the customer, close); presence.

Every action calls the transfer use-cases (service.transfers.service) through the unit of work,
the same ones as the JSON API: a conditional UPDATE on the status decides who wins.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Controller, Request, Response, get, post

from service.db import Connection
from service.effects import Effects
from service.errors import Conflict, Invalid, KeyReused
from service.reviewers import repository as people
from service.reviewers import service as reviewers
from service.reviewers.caller import Caller
from service.transfers import repository
from service.transfers import service as transfers
from service.transfers.schemas import view as transfer_view
from ui import render
from ui.pages import context, go, set_flash, show_page, signed_in
from ui.security import runtime_of

PRESENCE_WORDS = {"online": "Online", "away": "Away", "offline": "Offline"}


async def handoffs_context(runtime: Any, me: Caller) -> dict[str, Any]:
    async def load(conn: Connection) -> tuple[Any, ...]:
        waiting, mine = await repository.desk_list(conn, me.team_scope(), me.id)
        return waiting, mine, await people.presence_of(conn, me.id)

    waiting, mine, presence = await runtime.read(load)
    return {
        "waiting": waiting,
        "mine": mine,
        "presence": presence or "offline",
        "words": PRESENCE_WORDS,
    }


async def transfer_context(runtime: Any, me: Caller, transfer_id: uuid.UUID) -> dict[str, Any]:
    """One transfer as its page shows it: the row, the contract's view with the messages since
    it began, and what this person may do with it now."""

    async def load(conn: Connection) -> tuple[Any, ...]:
        row = await transfers.get_for_reviewer(conn, transfer_id, me)
        return row, await repository.messages(conn, transfer_id)

    row, said = await runtime.read(load)
    view = transfer_view(row, said)
    offered_to_other = row.status == "offered" and row.assigned_to != me.id
    is_mine = row.status == "accepted" and row.assigned_to == me.id
    return {
        "t": row,
        "view": view,
        "can_accept": row.status in ("created", "offered", "queued") and not offered_to_other,
        "is_mine": is_mine,
        "reply_key": uuid.uuid4().hex,
        "can_close": row.status == "accepted" and (is_mine or me.role in transfers.OVERSEERS),
    }


async def _act(
    request: Request[Any, Any, Any],
    transfer_id: uuid.UUID,
    use_case: Callable[[Connection, Caller], Awaitable[tuple[Any, Effects]]],
    done_message: str,
    done: str | None = None,
) -> Response[Any]:
    """One use-case in the unit of work; its refusal (taken, empty) is the notice. Not being
    allowed at all (another team's, someone else's) is a 403, as on every page of the desk."""
    runtime, me = runtime_of(request), signed_in(request)
    page = f"/ui/handoffs/{transfer_id}"
    try:
        await runtime.commit(lambda conn: use_case(conn, me))
    except (Conflict, Invalid, KeyReused) as exc:
        await set_flash(request, _sentence(exc.detail))
        return go(request, page)
    await set_flash(request, done_message)
    return go(request, done or page)


def _sentence(detail: str) -> str:
    detail = detail.rstrip(".")
    return detail[:1].upper() + detail[1:] + "."


class HandoffsController(Controller):
    path = "/handoffs"

    @get("/")
    async def show(self, request: Request[Any, Any, Any]) -> Response[str]:
        return await show_page(request, "handoffs", handoffs_context)

    @get("/{transfer_id:uuid}")
    async def transfer(
        self, request: Request[Any, Any, Any], transfer_id: uuid.UUID
    ) -> Response[str]:
        me = signed_in(request)
        ctx = await context(request, "handoffs")
        ctx |= await transfer_context(runtime_of(request), me, transfer_id)
        return render.page("transfer.html", **ctx)

    @post("/{transfer_id:uuid}/accept")
    async def accept(
        self, request: Request[Any, Any, Any], transfer_id: uuid.UUID
    ) -> Response[Any]:
        return await _act(
            request,
            transfer_id,
            lambda c, me: transfers.accept(c, me, transfer_id),
            "Accepted: the conversation is yours now.",
        )

    @post("/{transfer_id:uuid}/reply")
    async def reply(self, request: Request[Any, Any, Any], transfer_id: uuid.UUID) -> Response[Any]:
        form = await request.form()
        text, key = str(form.get("text") or ""), str(form.get("key") or "")[:200] or None
        return await _act(
            request,
            transfer_id,
            lambda c, me: transfers.reply(c, me, transfer_id, text[:4000], key),
            "Sent to the customer.",
        )

    @post("/{transfer_id:uuid}/close")
    async def close(self, request: Request[Any, Any, Any], transfer_id: uuid.UUID) -> Response[Any]:
        form = await request.form()
        resolution = str(form.get("resolution") or "")[:2000]
        note = str(form.get("note") or "")[:2000] or None
        return await _act(
            request,
            transfer_id,
            lambda c, me: transfers.close(c, transfer_id, resolution, caller=me, note=note),
            "Closed: the conversation is back with the AI.",
            done="/ui/handoffs",
        )

    @post("/presence")
    async def presence(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Online: new transfers of your teams may be offered to you; away: they are not."""
        runtime, me = runtime_of(request), signed_in(request)
        value = str((await request.form()).get("presence") or "")
        try:
            await runtime.commit(lambda conn: reviewers.set_presence(conn, me, value))
        except Invalid as exc:
            await set_flash(request, _sentence(exc.detail))
            return go(request, "/ui/handoffs")
        await set_flash(request, f"You are {PRESENCE_WORDS[value].lower()}.")
        return go(request, "/ui/handoffs")
