"""The channel API: POST /v1/turns, reading a review or transfer, recording an outcome."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from litestar import Controller, Response
from litestar.background_tasks import BackgroundTask
from litestar.params import Parameter

from service.api.routes import get, post
from service.channels import service as channels
from service.errors import Invalid
from service.metrics import prom
from service.reviewers.caller import Caller
from service.reviews import service as reviews
from service.runtime import Runtime
from service.turns import service as turns
from service.turns.schemas import OutcomeIn, TurnCreate

IdempotencyKey = Annotated[
    str | None, Parameter(header="Idempotency-Key", required=False, max_length=200)
]


def _count(response: dict[str, Any], channel: str, started: float) -> None:
    prom.DECISIONS.labels(response["action"], channel).inc()
    for trigger in response["triggers"]:
        prom.TRIGGERS.labels(trigger["type"], channel).inc()
    if transfer := response["transfer"]:
        first = response["triggers"][0]["type"] if response["triggers"] else "none"
        prom.TRANSFERS.labels(transfer["mode"], transfer["team"], first).inc()
    prom.DECISION_SECONDS.observe(time.perf_counter() - started)


class ChannelController(Controller):
    path = "/v1"
    tags = ["channel"]

    @post("/turns", status_code=200, summary="Decide on one AI turn: send, review or transfer")
    async def create_turn(
        self,
        data: TurnCreate,
        runtime: Runtime,
        key_channel: str,
        idempotency_key: IdempotencyKey,
    ) -> Response[dict[str, Any]]:
        started = time.perf_counter()
        policy = runtime.policies.current
        try:
            # No explicit transaction: the decision is written by one statement, atomic by itself.
            async with runtime.connection() as conn:
                outcome = await turns.decide(
                    conn,
                    policy,
                    key_channel,
                    data,
                    idempotency_key,
                    detector=runtime.detector,
                    shadow=runtime.shadow.current if runtime.shadow else None,
                )
        except turns.DuplicateRequest:
            async with runtime.connection() as conn:
                answer = await turns.replay(conn, key_channel, idempotency_key or "", data)
                return Response(answer)
        if outcome.replayed:
            return Response(outcome.response)
        _count(outcome.response, data.channel, started)
        # The decision is committed: answer now and ring the doorbells (deliveries, offers,
        # live updates) just after. Should this process die in between, the sweeper finds the work.
        return Response(
            outcome.response, background=BackgroundTask(runtime.dispatch, outcome.effects)
        )

    @get("/reviews/{review_id:uuid}", summary="A held draft's status and final text")
    async def get_review(
        self, review_id: uuid.UUID, runtime: Runtime, principal: str | Caller
    ) -> dict[str, Any]:
        if isinstance(principal, Caller):
            caller = principal
            row = await runtime.read(lambda c: reviews.get_for_reviewer(c, review_id, caller))
            return reviews.reviewer_view(row)
        channel = principal
        row = await runtime.read(lambda c: reviews.get_for_channel(c, review_id, channel))
        return reviews.public_view(row)

    @post(
        "/conversations/{conversation_id:str}/outcome",
        status_code=200,
        summary="Record whether the conversation was resolved, and the customer's CSAT",
    )
    async def record_outcome(
        self,
        conversation_id: str,
        data: OutcomeIn,
        runtime: Runtime,
        key_channel: str,
    ) -> dict[str, Any]:
        channel = key_channel
        if not conversation_id or len(conversation_id) > 200:
            raise Invalid("conversation_id: must be 1 to 200 characters", field="conversation_id")
        await runtime.commit(
            lambda conn: channels.record_outcome(
                conn, channel, conversation_id, data.resolved, data.csat
            )
        )
        return {"conversation_id": conversation_id, "resolved": data.resolved, "csat": data.csat}
