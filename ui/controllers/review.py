"""The review page: opening it claims the item; approve, send edited, take over, release.

Every action calls the same use-case as the reviewer API (service.reviews.service), in one
transaction, and rings the doorbells (runtime.dispatch) only after the commit.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect

from service.db import Connection
from service.effects import Effects
from service.errors import Conflict, Invalid, NotFound
from service.reviewers.caller import Caller
from service.reviews import service as reviews
from service.reviews.schemas import ReviewRead
from service.runtime import Runtime
from ui import render, review_view
from ui.pages import context, go, is_htmx, set_flash, signed_in
from ui.security import runtime_of

Action = Callable[[Connection], Awaitable[tuple[ReviewRead, Effects]]]
DONE_WORDS = {
    "approve": "Approved: the draft goes to",
    "edit": "Sent your edited reply to",
    "take-over": "You took over the conversation with",
}


def _hold_key(runtime: Runtime, review_id: uuid.UUID, me: Caller) -> str:
    return f"{runtime.settings.redis_prefix}:hold:{review_id}:{me.id}"


async def _act(runtime: Runtime, action: Action) -> ReviewRead:
    return await runtime.commit(action)


async def _claim(runtime: Runtime, me: Caller, review_id: uuid.UUID) -> bool:
    lease = runtime.settings.review_lease_seconds
    try:
        await _act(runtime, lambda c: reviews.claim(c, me, review_id, lease))
    except Conflict:
        return False
    return True


async def _next_item(runtime: Runtime, me: Caller) -> uuid.UUID | None:
    """Claims the most urgent free item for this person, as POST /v1/reviews/next does."""
    lease = runtime.settings.review_lease_seconds
    row = await runtime.commit_statement(lambda conn: reviews.claim_next(conn, me, lease))
    return row.id if row is not None else None


class ReviewController(Controller):
    path = "/reviews"

    async def _page(
        self,
        request: Request[Any, Any, Any],
        review_id: uuid.UUID,
        *,
        status: int = 200,
        notice: str | None = None,
        reply: str | None = None,
        blocks: tuple[str, ...] = (),
    ) -> Response[str]:
        runtime, me = runtime_of(request), signed_in(request)

        async def load(conn: Connection) -> dict[str, Any] | None:
            await reviews.get_for_reviewer(conn, review_id, me)  # 403/404 before anything shows
            return await review_view.load(conn, review_id, me)

        view = await runtime.read(load)
        if view is None:
            raise NotFound(f"no review {review_id}")
        hold = await runtime.redis.get(_hold_key(runtime, review_id, me))
        ctx = (
            await context(request, "queue")
            | view
            | {
                "notice": notice,
                "reply": view["review"].draft_text if reply is None else reply,
                "hold": hold.decode() if isinstance(hold, bytes) else (hold or ""),
            }
        )
        if blocks:
            return render.fragment("review.html", *blocks, status=status, **ctx)
        return render.page("review.html", status=status, **ctx)

    @get("/{review_id:uuid}")
    async def show(self, request: Request[Any, Any, Any], review_id: uuid.UUID) -> Response[str]:
        runtime, me = runtime_of(request), signed_in(request)
        await runtime.read(lambda conn: reviews.get_for_reviewer(conn, review_id, me))
        # Opening the page claims the item; a cross-site link must not claim on someone's behalf.
        if request.headers.get("sec-fetch-site") != "cross-site" and await _claim(
            runtime, me, review_id
        ):
            # The page's own token: a "left the page" beacon from an older tab or an earlier
            # visit must not release the hold this visit just took.
            await runtime.redis.set(
                _hold_key(runtime, review_id, me),
                secrets.token_urlsafe(12),
                ex=runtime.settings.review_lease_seconds * 3,
            )
        return await self._page(request, review_id)

    async def _action(
        self,
        request: Request[Any, Any, Any],
        review_id: uuid.UUID,
        name: str,
        action: Action,
        reply: str | None = None,
    ) -> Response[Any]:
        runtime, me = runtime_of(request), signed_in(request)
        try:
            row = await _act(runtime, action)
        except (Conflict, Invalid) as exc:
            status = 409 if isinstance(exc, Conflict) else 400
            # Say what happened, in the words of the use-case ("... held by X", "... ended").
            notice = exc.detail[:1].upper() + exc.detail[1:] + "."
            if is_htmx(request):
                return await self._page(
                    request,
                    review_id,
                    status=status,
                    notice=notice,
                    reply=reply,
                    blocks=("status", "actions"),
                )
            return await self._page(request, review_id, status=status, notice=notice, reply=reply)
        await runtime.redis.delete(_hold_key(runtime, review_id, me))
        if name == "release":
            await set_flash(request, "Released: the item is back in the queue for anyone.")
            return go(request, "/ui/queue")
        await set_flash(request, f"{DONE_WORDS[name]} customer {row.customer_id}.")
        following = await _next_item(runtime, me)
        if following is None:
            await set_flash(
                request,
                f"{DONE_WORDS[name]} customer {row.customer_id}. "
                "Nothing else is waiting in your queue.",
            )
            return go(request, "/ui/queue")
        return go(request, f"/ui/reviews/{following}")

    @post("/{review_id:uuid}/approve")
    async def approve(self, request: Request[Any, Any, Any], review_id: uuid.UUID) -> Response[Any]:
        me = signed_in(request)
        return await self._action(
            request, review_id, "approve", lambda c: reviews.approve(c, me, review_id)
        )

    @post("/{review_id:uuid}/edit")
    async def edit(self, request: Request[Any, Any, Any], review_id: uuid.UUID) -> Response[Any]:
        me = signed_in(request)
        reply = str((await request.form()).get("reply") or "")
        return await self._action(
            request, review_id, "edit", lambda c: reviews.edit(c, me, review_id, reply), reply
        )

    @post("/{review_id:uuid}/take-over")
    async def take_over(
        self, request: Request[Any, Any, Any], review_id: uuid.UUID
    ) -> Response[Any]:
        me, policy = signed_in(request), runtime_of(request).policies.current
        return await self._action(
            request, review_id, "take-over", lambda c: reviews.take_over(c, me, review_id, policy)
        )

    @post("/{review_id:uuid}/release")
    async def release(self, request: Request[Any, Any, Any], review_id: uuid.UUID) -> Response[Any]:
        me = signed_in(request)
        return await self._action(
            request, review_id, "release", lambda c: reviews.release(c, me, review_id)
        )

    @post("/{review_id:uuid}/heartbeat")
    async def heartbeat(
        self, request: Request[Any, Any, Any], review_id: uuid.UUID
    ) -> Response[Any]:
        """Renews the lease while the page is open; if the hold is gone, says why."""
        runtime, me = runtime_of(request), signed_in(request)
        if await _claim(runtime, me, review_id):
            key = _hold_key(runtime, review_id, me)
            await runtime.redis.expire(key, runtime.settings.review_lease_seconds * 3)
            return Response(None, status_code=204)
        return await self._page(request, review_id, blocks=("status", "actions"))

    @post("/{review_id:uuid}/leave")
    async def leave(self, request: Request[Any, Any, Any], review_id: uuid.UUID) -> Response[Any]:
        """The page was closed (a beacon): give the item back unless a newer visit holds it."""
        runtime, me = runtime_of(request), signed_in(request)
        token = str((await request.form()).get("hold") or "")
        key = _hold_key(runtime, review_id, me)
        current = await runtime.redis.get(key)
        current = current.decode() if isinstance(current, bytes) else current
        if token and current == token:
            await runtime.redis.delete(key)
            # If it ended or moved on meanwhile there is nothing to give back.
            with contextlib.suppress(Conflict):
                await _act(runtime, lambda c: reviews.release(c, me, review_id))
        return Response(None, status_code=204)

    @get("/{review_id:uuid}/next")
    async def following(
        self, request: Request[Any, Any, Any], review_id: uuid.UUID
    ) -> Response[Any]:
        """j: the open item after this one in the queue as it is now (not when the page loaded)."""
        return await self._step(request, review_id, 1)

    @get("/{review_id:uuid}/previous")
    async def preceding(
        self, request: Request[Any, Any, Any], review_id: uuid.UUID
    ) -> Response[Any]:
        """k: the open item before this one in the queue as it is now."""
        return await self._step(request, review_id, -1)

    async def _step(
        self, request: Request[Any, Any, Any], review_id: uuid.UUID, step: int
    ) -> Response[Any]:
        runtime, me = runtime_of(request), signed_in(request)

        async def neighbour(conn: Connection) -> uuid.UUID | None:
            row = await reviews.get_for_reviewer(conn, review_id, me)
            return await review_view.neighbour(conn, row, me, step)

        target = await runtime.read(neighbour)
        if target is None:
            where = "after" if step > 0 else "before"
            await set_flash(request, f"No open item {where} this one in your queue.")
            target = review_id
        return Redirect(f"/ui/reviews/{target}", status_code=303)

    @post("/next")
    async def next(self, request: Request[Any, Any, Any]) -> Response[Any]:
        following = await _next_item(runtime_of(request), signed_in(request))
        if following is None:
            await set_flash(request, "Nothing is waiting in your queue.")
            return go(request, "/ui/queue")
        return go(request, f"/ui/reviews/{following}")
