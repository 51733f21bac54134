"""The floor the decision is compared with (issue 13): a bare Litestar endpoint served by uvicorn
the way `hitl serve` is, that decodes the same body and does one INSERT. With BENCH_ENCODE=1 it
also encodes each message once with the bundled sentence encoder, naively (one message at a
time, on the event loop): the floor for a service that must read every message.

    BENCH_DATABASE_URL=postgresql://... uvicorn bench.bare:create_app --factory --port 8001
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import asyncpg
import msgspec
from litestar import Litestar, post
from litestar.datastructures import State


class Draft(msgspec.Struct):
    text: Annotated[str, msgspec.Meta(max_length=20_000)]
    confidence: Annotated[float, msgspec.Meta(ge=0, le=1)]
    intent: str | None = None


class TurnIn(msgspec.Struct):
    conversation_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    channel: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    customer_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    message: Annotated[str, msgspec.Meta(max_length=100_000)]
    draft: Draft


ENCODE = os.environ.get("BENCH_ENCODE") == "1"


@post("/v1/turns", status_code=200)
async def turn(data: TurnIn, state: State) -> dict[str, str]:
    if ENCODE:
        state.encoder.encode([data.message])
    row = await state.pool.fetchrow(
        "INSERT INTO bench_floor (conversation, payload) VALUES ($1, $2) RETURNING id",
        data.conversation_id,
        data.message,
    )
    return {"action": "send", "id": str(row["id"])}


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["BENCH_DATABASE_URL"], max_size=20)
    await app.state.pool.execute(
        "CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, "
        "conversation text, payload text, created_at timestamptz DEFAULT now())"
    )
    if ENCODE:
        from service.detection import encoder

        app.state.encoder = encoder.shared()
        app.state.encoder.encode(["warm up"])
    yield
    await app.state.pool.close()


def create_app() -> Litestar:
    return Litestar([turn], lifespan=[lifespan], openapi_config=None)
