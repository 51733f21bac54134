"""The review queue's invariants on real PostgreSQL: concurrent claims, conflicts, constraints."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from support import decide_all

from service import db as database
from service.errors import Conflict
from service.reviewers import accounts
from service.reviews import service as reviews
from service.settings import Settings
from service.turns.schemas import DraftIn, TurnCreate


@pytest.fixture
async def pool(settings: Settings, db: asyncpg.Connection) -> Any:
    made = await database.create_pool(settings, 30)
    yield made
    await made.close()


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
    pool: asyncpg.Pool, settings: Settings
) -> None:
    items = await hold(settings, 10)
    callers = []
    for n in range(20):
        async with database.transaction(pool) as conn:
            rid = await accounts.create_user(
                conn, f"r{n}@example.com", "reviewer", ["general"], None
            )
            callers.append(await accounts.caller_by_id(conn, rid))

    async def claim(caller: Any) -> str | None:
        async with pool.acquire() as conn:
            row, _ = await reviews.claim_next(conn, caller, lease_seconds=60)
        return str(row.id) if row else None

    claimed = await asyncio.gather(*(claim(c) for c in callers))
    got = [c for c in claimed if c]
    assert sorted(got) == sorted(items), "every item claimed exactly once, nobody got two"
    assert claimed.count(None) == 10


async def test_finished_review_refuses_every_later_action(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    (item,) = await hold(settings, 1)
    async with database.transaction(pool) as conn:
        rid = await accounts.create_user(conn, "a@example.com", "reviewer", ["general"], None)
        caller = await accounts.caller_by_id(conn, rid)
    assert caller is not None
    async with database.transaction(pool) as conn:
        await reviews.approve(conn, caller, uuid.UUID(item))
    for action in (reviews.approve, reviews.take_over, reviews.release):
        with pytest.raises(Conflict) as err:
            async with database.transaction(pool) as conn:
                await action(conn, caller, uuid.UUID(item))
        assert err.value.extra["review"]["status"] == "approved"


async def test_a_claim_is_a_lease_whose_loss_in_a_crash_costs_its_reviewer_nothing(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    """Claims commit without waiting for the WAL flush (their tail under load); what makes that
    safe is that a claim PostgreSQL forgot in a crash leaves the item pending, and pending is
    still the reviewer's to approve. The outcome's own commit waits for the disk."""
    (item,) = await hold(settings, 1)
    async with database.transaction(pool) as conn:
        rid = await accounts.create_user(conn, "a@example.com", "reviewer", ["general"], None)
        caller = await accounts.caller_by_id(conn, rid)
    assert caller is not None
    show = "SELECT current_setting('synchronous_commit')"
    on = "SET LOCAL synchronous_commit = on"
    async with pool.acquire() as bare, bare.transaction():
        # The test servers run with synchronous_commit off: start from the production default.
        await bare.execute(on)
        row, _ = await reviews.claim_next(bare, caller, lease_seconds=60)
        assert row is not None and str(row.id) == item and row.status == "claimed"
        assert row.claimed_by_email == "a@example.com" and row.triggers[0]["type"]
        assert await bare.fetchval(show) == "off"
    # The crash: the claim never reached the disk, so the item is pending again.
    async with database.transaction(pool) as conn:
        await database.execute(
            conn, "UPDATE review SET status = 'pending', claimed_by = NULL, lease_until = NULL"
        )
    async with database.transaction(pool) as conn:
        await database.execute(conn, on)
        done, _ = await reviews.approve(conn, caller, uuid.UUID(item))
        assert await database.value(conn, show) == "on"
    assert done.status == "approved"


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


@pytest.mark.parametrize("batched", [False, True], ids=["one by one", "in batches"])
async def test_reviewers_and_the_deadline_race_for_each_review_and_one_wins(
    pool: asyncpg.Pool, settings: Settings, db: asyncpg.Connection, batched: bool
) -> None:
    """Per review, 2 to 10 reviewers act at once (approve, edit or take over) right at its
    deadline, while the expiry fires, for one review (as for a transfer fallback) or as the
    deadline clock's batch: exactly one outcome each, one audit row of it, one review.completed
    webhook, at most one transfer. 1,000 reviews, ten at a time, each group raced from a little
    before to a little after its deadline."""
    import random

    from service.policy.loader import load_policy

    trials = 1000
    rng = random.Random(20261201)
    policy = load_policy(settings.policy_path)
    items = [uuid.UUID(i) for i in await hold(settings, trials)]
    people = []
    async with database.transaction(pool) as conn:
        for n in range(10):
            rid = await accounts.create_user(
                conn, f"p{n}@example.com", "reviewer", ["general"], None
            )
            people.append(await accounts.caller_by_id(conn, rid))

    async def act(caller: Any, review_id: uuid.UUID, kind: int) -> bool:
        try:
            async with database.transaction(pool) as conn:
                if kind == 0:
                    await reviews.approve(conn, caller, review_id)
                elif kind == 1:
                    await reviews.edit(conn, caller, review_id, "Yes, it is covered.")
                else:
                    await reviews.take_over(conn, caller, review_id, policy)
            return True
        except Conflict:
            return False

    async def expiry(review_id: uuid.UUID) -> bool:
        while True:  # fires from the deadline on, until it or a reviewer has finished it
            async with database.transaction(pool) as conn:
                ended, _ = await reviews.expire(conn, review_id, policy)
                if ended:
                    return True
                status = await database.value(
                    conn, "SELECT status FROM review WHERE id = :id", {"id": review_id}
                )
            if status not in ("pending", "claimed"):
                return False
            await asyncio.sleep(0.005)

    async def batch_expiry(group: list[uuid.UUID]) -> set[uuid.UUID]:
        won: set[uuid.UUID] = set()
        while True:  # the clock ticks until reviewers or its batches have ended the group
            async with database.transaction(pool) as conn:
                ended, _ = await reviews.expire_due(conn, policy, 500)
                won |= set(ended)
                still_open = await database.value(
                    conn,
                    "SELECT count(*) FROM review WHERE id = ANY(:ids) "
                    "AND status IN ('pending', 'claimed')",
                    {"ids": group},
                )
            if not still_open:
                return won
            await asyncio.sleep(0.005)

    results: list[list[bool]] = []
    for start in range(0, trials, 10):  # ten reviews at a time, each group at its deadline
        group = items[start : start + 10]
        await db.execute(
            "UPDATE review SET deadline = clock_timestamp() + interval '60 milliseconds' "
            "WHERE id = ANY($1)",
            group,
        )
        await asyncio.sleep(rng.uniform(0.03, 0.09))  # before, at or after the deadline
        acts = [
            asyncio.gather(
                *(act(p, r, rng.randrange(3)) for p in rng.sample(people, rng.randint(2, 10)))
            )
            for r in group
        ]
        if batched:
            won, *acted = await asyncio.gather(batch_expiry(group), *acts)
            results += [[*a, r in won] for r, a in zip(group, acted, strict=True)]
        else:
            done = await asyncio.gather(*acts, *(expiry(r) for r in group))
            results += [[*a, e] for a, e in zip(done[:10], done[10:], strict=True)]
    assert all(sum(r) == 1 for r in results), "exactly one winner per review"
    statuses = await db.fetch("SELECT status, count(*) AS n FROM review GROUP BY 1")
    assert sum(r["n"] for r in statuses) == trials
    assert {r["status"] for r in statuses} <= {"approved", "edited", "taken_over", "expired"}
    per_review = await db.fetch(
        "SELECT r.id, (SELECT count(*) FROM audit_event a WHERE a.subject_id = r.id::text "
        "  AND a.kind LIKE 'review.%') AS audits, "
        "(SELECT count(*) FROM outbox_event o WHERE o.dedupe_key = 'review.completed:' || r.id) "
        "  AS completed, "
        "(SELECT count(*) FROM transfer x WHERE x.review_id = r.id) AS transfers FROM review r"
    )
    assert all(r["audits"] == 1 and r["completed"] == 1 for r in per_review)
    assert all(r["transfers"] <= 1 for r in per_review)
    print("outcomes:", {r["status"]: r["n"] for r in statuses})
    won_by = {r["status"] for r in statuses}
    assert "expired" in won_by and won_by - {"expired"}, won_by  # both sides won some
