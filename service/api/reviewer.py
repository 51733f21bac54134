"""The reviewer API (CONTRACT 4b): the same use-cases as the UI, for teams with their own tools."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from litestar import Controller, Response

from service.api.routes import NOTHING_WAITING, get, post
from service.db import Connection
from service.effects import Effects
from service.metrics import prom
from service.models.review import ENDED
from service.reviewers.caller import Caller
from service.reviews import repository
from service.reviews import service as reviews
from service.reviews.schemas import ReviewRead
from service.runtime import Runtime
from service.turns.schemas import EditIn

Action = Callable[[Connection], Awaitable[tuple[ReviewRead, Effects]]]


async def _act(runtime: Runtime, action: Action) -> dict[str, Any]:
    row = await runtime.commit(action)
    if row.status in ENDED:
        prom.REVIEW_OUTCOMES.labels(row.status).inc()
    return reviews.reviewer_view(row)


class ReviewerController(Controller):
    path = "/v1/reviews"
    tags = ["reviewer"]

    @get("/", summary="Open reviews of the caller's teams, earliest deadline first")
    async def list_reviews(
        self, runtime: Runtime, caller: Caller, status: Literal["open"] = "open"
    ) -> list[dict[str, Any]]:
        rows = await runtime.read(lambda conn: repository.list_open(conn, caller.team_scope()))
        return [reviews.reviewer_view(r) for r in rows]

    @post(
        "/next",
        summary="Claim the most urgent open review of the caller's teams",
        responses=NOTHING_WAITING,
    )
    async def claim_next(self, runtime: Runtime, caller: Caller) -> Response[Any]:
        lease = runtime.settings.review_lease_seconds
        row = await runtime.commit_statement(lambda c: reviews.claim_next(c, caller, lease))
        if row is None:
            return Response(None, status_code=204)
        return Response(reviews.reviewer_view(row), status_code=200)

    @post("/{review_id:uuid}/claim", status_code=200, summary="Take the lease on a review")
    async def claim(self, review_id: uuid.UUID, runtime: Runtime, caller: Caller) -> dict[str, Any]:
        lease = runtime.settings.review_lease_seconds
        return await _act(runtime, lambda c: reviews.claim(c, caller, review_id, lease))

    @post("/{review_id:uuid}/release", status_code=200, summary="Give the lease back")
    async def release(
        self, review_id: uuid.UUID, runtime: Runtime, caller: Caller
    ) -> dict[str, Any]:
        return await _act(runtime, lambda c: reviews.release(c, caller, review_id))

    @post("/{review_id:uuid}/approve", status_code=200, summary="Send the draft as it is")
    async def approve(
        self, review_id: uuid.UUID, runtime: Runtime, caller: Caller
    ) -> dict[str, Any]:
        return await _act(runtime, lambda c: reviews.approve(c, caller, review_id))

    @post("/{review_id:uuid}/edit", status_code=200, summary="Send an edited text")
    async def edit(
        self, review_id: uuid.UUID, data: EditIn, runtime: Runtime, caller: Caller
    ) -> dict[str, Any]:
        return await _act(runtime, lambda c: reviews.edit(c, caller, review_id, data.text))

    @post(
        "/{review_id:uuid}/take-over",
        status_code=200,
        summary="Take the conversation: a warm transfer to the caller",
    )
    async def take_over(
        self, review_id: uuid.UUID, runtime: Runtime, caller: Caller
    ) -> dict[str, Any]:
        return await _act(
            runtime, lambda c: reviews.take_over(c, caller, review_id, runtime.policies.current)
        )
