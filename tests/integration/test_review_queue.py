"""The review queue's invariants on real PostgreSQL: concurrent claims, conflicts, constraints."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from support import decide_all

from service import db as database
from service.errors import Conflict
from service.reviewers import accounts
from service.reviews import service as reviews
from service.settings import Settings
from service.turns.schemas import DraftIn, TurnCreate


@pytest.fixture
async def engine(settings: Settings, db: asyncpg.Connection) -> Any:
    engine = database.create_engine(settings, pool_size=30)
    yield engine
    await engine.dispose()


async def hold(settings: Settings, count: int) -> list[str]:
    """Submit `count` low-confidence turns on the 1-hour channel through the turn use-case."""
    bodies = [
        TurnCreate(
            conversation_id=f"q-{uuid.uuid4().hex[:8]}",
            channel="letters",
            customer_id=f"cust-{n}",
            message="Is this covered by the warranty?",
            draft=DraftIn(text="Yes it is.", confidence=0.3, intent=f"warranty{n}"),
        )
        for n in range(count)
    ]
    return [answer["review"]["id"] for answer in await decide_all(settings, "letters", bodies)]


async def test_parallel_reviewers_never_claim_the_same_item(
    engine: AsyncEngine, settings: Settings
) -> None:
    items = await hold(settings, 10)
    callers = []
    for n in range(20):
        async with database.transaction(engine) as conn:
            rid = await accounts.create_user(
                conn, f"r{n}@example.com", "reviewer", ["general"], None
            )
            callers.append(await accounts.caller_by_id(conn, rid))

    async def claim(caller: Any) -> str | None:
        async with database.transaction(engine) as conn:
            row, _ = await reviews.claim_next(conn, caller, lease_seconds=60)
        return str(row.id) if row else None

    claimed = await asyncio.gather(*(claim(c) for c in callers))
    got = [c for c in claimed if c]
    assert sorted(got) == sorted(items), "every item claimed exactly once, nobody got two"
    assert claimed.count(None) == 10


async def test_finished_review_refuses_every_later_action(
    engine: AsyncEngine, settings: Settings
) -> None:
    (item,) = await hold(settings, 1)
    async with database.transaction(engine) as conn:
        rid = await accounts.create_user(conn, "a@example.com", "reviewer", ["general"], None)
        caller = await accounts.caller_by_id(conn, rid)
    assert caller is not None
    async with database.transaction(engine) as conn:
        await reviews.approve(conn, caller, uuid.UUID(item))
    for action in (reviews.approve, reviews.take_over, reviews.release):
        with pytest.raises(Conflict) as err:
            async with database.transaction(engine) as conn:
                await action(conn, caller, uuid.UUID(item))
        assert err.value.extra["review"]["status"] == "approved"


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE review SET status = 'lost'",
        "UPDATE review SET status = 'claimed', claimed_by = NULL",
        "INSERT INTO review (turn_id, conversation_id, channel, team, status, deadline, draft_text) "
        "SELECT turn_id, conversation_id, channel, team, 'pending', deadline, draft_text FROM review",
        "UPDATE turn SET confidence = 2",
        "INSERT INTO turn (conversation_id, channel, seq, idempotency_key, message, draft_text, confidence) "
        "SELECT conversation_id, channel, seq + 1, 'k', message, draft_text, confidence FROM turn; "
        "INSERT INTO turn (conversation_id, channel, seq, idempotency_key, message, draft_text, confidence) "
        "SELECT conversation_id, channel, seq + 2, 'k', message, draft_text, confidence FROM turn LIMIT 1",
    ],
    ids=[
        "unknown status",
        "claim without holder",
        "second open review of a turn",
        "confidence out of range",
        "idempotency key twice on a channel",
    ],
)
async def test_postgres_refuses_broken_invariants(
    settings: Settings, db: asyncpg.Connection, sql: str
) -> None:
    await hold(settings, 1)
    with pytest.raises(asyncpg.IntegrityConstraintViolationError):
        async with db.transaction():
            await db.execute(sql)
