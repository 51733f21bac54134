"""Assignment under concurrency on real PostgreSQL: nobody over capacity, nothing offered twice."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from support import decide_all

from service import db as database
from service.policy.loader import load_policy
from service.reviewers import accounts
from service.settings import Settings
from service.transfers import offers
from service.transfers import service as transfers
from service.turns.schemas import DraftIn, TurnCreate


async def explicit_requests(settings: Settings, count: int) -> list[uuid.UUID]:
    bodies = [
        TurnCreate(
            conversation_id=f"x-{uuid.uuid4().hex[:8]}",
            channel="chat",
            customer_id=f"k{n}",
            message="Please let me talk to a human agent.",
            draft=DraftIn(text="I can help!", confidence=0.95, intent=f"i{n}"),
        )
        for n in range(count)
    ]
    answers = await decide_all(settings, "chat", bodies)
    assert {a["action"] for a in answers} == {"transfer"}
    return [uuid.UUID(a["transfer"]["id"]) for a in answers]


@pytest.fixture
async def pool(settings: Settings, db: asyncpg.Connection) -> Any:
    made = await database.create_pool(settings, 40)
    yield made
    await made.close()


async def agents(pool: Any, count: int, capacity: int) -> list[Any]:
    people = []
    async with database.transaction(pool) as conn:
        for n in range(count):
            rid = await accounts.create_user(
                conn, f"agent{n}@example.com", "reviewer", ["general"], None
            )
            await database.execute(
                conn,
                "UPDATE reviewer SET presence = 'online', capacity = :c WHERE id = :id",
                {"c": capacity, "id": rid},
            )
            people.append(await accounts.caller_by_id(conn, rid))
    return people


async def test_hundred_transfers_offered_at_once_to_five_agents(
    pool: Any, settings: Settings, db: asyncpg.Connection
) -> None:
    policy = load_policy(settings.policy_path)
    ids = await explicit_requests(settings, 100)
    await agents(pool, 5, capacity=4)

    async def assign(transfer_id: uuid.UUID) -> None:
        async with database.transaction(pool) as conn:
            await offers.assign(conn, transfer_id, policy)

    results = await asyncio.gather(*(assign(t) for t in ids), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)], results[:3]
    rows = await db.fetch("SELECT status, assigned_to FROM transfer")
    offered = [r for r in rows if r["status"] == "offered"]
    assert len(rows) == 100 and {r["status"] for r in rows} <= {"offered", "queued"}
    assert len(offered) == 20, "5 agents x capacity 4, the rest waits in the team queue"
    per_agent = await db.fetch(
        "SELECT r.active_transfers, (SELECT count(*) FROM transfer x WHERE x.assigned_to = r.id "
        "AND x.status = 'offered') AS held, r.capacity FROM reviewer r"
    )
    for agent in per_agent:
        assert agent["held"] == agent["active_transfers"] <= agent["capacity"]
    events = await db.fetchval("SELECT count(*) FROM transfer_event WHERE status = 'offered'")
    assert events == 20, "no transfer was offered twice"


async def test_one_transfer_assigned_twenty_times_at_once_is_offered_once(
    pool: Any, settings: Settings, db: asyncpg.Connection
) -> None:
    """The assignment job, the sweeper and someone coming online may all try the same transfer:
    one offer, one slot taken (the transfer's row lock holds for the whole transaction)."""
    policy = load_policy(settings.policy_path)
    (transfer_id,) = await explicit_requests(settings, 1)
    await agents(pool, 1, capacity=5)

    async def assign() -> None:
        async with database.transaction(pool) as conn:
            await offers.assign(conn, transfer_id, policy)

    results = await asyncio.gather(*(assign() for _ in range(20)), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)], results[:3]
    assert await db.fetchval("SELECT count(*) FROM transfer_event WHERE status = 'offered'") == 1
    assert await db.fetchval("SELECT active_transfers FROM reviewer") == 1


async def test_a_fallback_run_by_two_sweeps_at_once_happens_once(
    pool: Any, settings: Settings, db: asyncpg.Connection
) -> None:
    """A slow sweep and the next tick may both find a transfer of a team with nobody online:
    the customer gets one holding message, and the team's one fallback is recorded once."""
    policy = load_policy(settings.policy_path)
    (transfer_id,) = await explicit_requests(settings, 1)
    await db.execute("UPDATE transfer SET team = 'night' WHERE id = $1", transfer_id)

    async def fallback() -> str:
        async with database.transaction(pool) as conn:
            outcome, _ = await offers.fallback(conn, transfer_id, policy)
        return outcome

    outcomes = await asyncio.gather(*(fallback() for _ in range(10)))
    assert sorted(outcomes) == ["held"] + ["no fallback"] * 9, outcomes
    assert await db.fetchval("SELECT count(*) FROM transfer_event WHERE status = 'holding'") == 1
    assert await db.fetchval("SELECT count(*) FROM transfer_message") == 1
    assert (
        await db.fetchval("SELECT count(*) FROM outbox_event WHERE event_type = 'transfer.message'")
        == 1
    )


async def test_accept_close_and_capacity(
    pool: Any, settings: Settings, db: asyncpg.Connection
) -> None:
    policy = load_policy(settings.policy_path)
    first, second = await explicit_requests(settings, 2)
    (agent,) = await agents(pool, 1, capacity=1)
    async with database.transaction(pool) as conn:
        await offers.assign(conn, first, policy)
        await offers.assign(conn, second, policy)
    assert await db.fetchval("SELECT status FROM transfer WHERE id = $1", second) == "queued"
    async with database.transaction(pool) as conn:
        row, _ = await transfers.accept(conn, agent, first)
    assert row.status == "accepted"
    with pytest.raises(Exception, match="capacity"):
        async with database.transaction(pool) as conn:
            await transfers.accept(conn, agent, second)
    async with database.transaction(pool) as conn:
        row, effects = await transfers.close(conn, first, "refund issued", caller=agent)
    assert row.status == "closed" and row.resolution == "refund issued"
    assert effects.deliveries, "transfer.closed goes to the channel"
    assert await db.fetchval("SELECT active_transfers FROM reviewer") == 0
    handled = await db.fetchval(
        "SELECT c.handled_by FROM conversation c JOIN transfer x ON x.conversation_id = c.id "
        "WHERE x.id = $1",
        first,
    )
    assert handled == "ai", "closing hands the conversation back to the AI"
    steps = [
        r["status"]
        for r in await db.fetch(
            "SELECT status FROM transfer_event WHERE transfer_id = $1 ORDER BY id", first
        )
    ]
    assert steps == ["created", "offered", "accepted", "closed"]
