"""Routing plus assignment latency of a transfer with 1,000 transfers open (target p99 < 5 ms).

Usage: .venv/bin/python bench/transfers.py [--open 1000] [--agents 50]
Uses HITL_DATABASE_URL if set, else an embedded PostgreSQL under .hitl/bench-services.
Each measured assignment is one transaction: lock the transfer, read the team's free agents,
choose (pure), reserve a slot, offer, record the event, commit. Routing (the policy's team
choice for the turn) is timed separately, through the engine, on the same turns.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service import db as database  # noqa: E402
from service.migrate import upgrade  # noqa: E402
from service.policy import engine  # noqa: E402
from service.policy.loader import load_policy  # noqa: E402
from service.settings import Settings, to_libpq_url  # noqa: E402
from service.transfers import offers  # noqa: E402


def base_url() -> tuple[str, object | None]:
    if url := os.environ.get("HITL_DATABASE_URL"):
        return to_libpq_url(url), None
    from service.embedded import EmbeddedServices

    embedded = EmbeddedServices(ROOT / ".hitl" / "bench-services", fsync=True)
    return embedded.start().database_url, embedded


async def prepare(url: str, open_transfers: int, agents: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("INSERT INTO team (name) VALUES ('general') ON CONFLICT DO NOTHING")
        ids = await conn.fetch(
            "INSERT INTO reviewer (email, display_name, role, presence, capacity) "
            "SELECT 'agent' || n || '@example.com', 'Agent ' || n, 'reviewer', 'online', 1000 "
            "FROM generate_series(1, $1) n RETURNING id",
            agents,
        )
        await conn.executemany(
            "INSERT INTO reviewer_team (reviewer_id, team) VALUES ($1, 'general')",
            [(r["id"],) for r in ids],
        )
        await conn.execute(
            "INSERT INTO conversation (channel, external_id, customer_id, handled_by) "
            "SELECT 'chat', 'b' || n, 'c' || n, 'human' FROM generate_series(1, $1) n",
            open_transfers,
        )
        await conn.execute(
            "INSERT INTO transfer (conversation_id, channel, mode, team, reason, status) "
            "SELECT id, 'chat', 'warm', 'general', 'trigger', 'created' FROM conversation"
        )
    finally:
        await conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(settings: Settings, count: int) -> list[float]:
    policy = load_policy(ROOT / "policies" / "default.yaml")
    pool = await database.create_pool(settings, 2)
    try:
        async with pool.acquire() as conn:
            ids = await database.column(
                conn,
                "SELECT id FROM transfer WHERE status = 'created' ORDER BY created_at LIMIT :n",
                {"n": count},
            )
        times = []
        for transfer_id in ids:
            started = time.perf_counter()
            async with database.transaction(pool) as conn:
                await offers.assign(conn, transfer_id, policy)
            times.append(time.perf_counter() - started)
        return times
    finally:
        await pool.close()


def routing_times(count: int) -> list[float]:
    policy = load_policy(ROOT / "policies" / "default.yaml")
    signals = engine.Signals(
        message="I want to speak to a person about a refund",
        draft_text="x",
        confidence=0.9,
        intent="refund",
        topics=("billing",),
    )
    times = []
    for _ in range(count):
        started = time.perf_counter()
        engine.evaluate(policy, "chat", engine.Facts(), signals)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--measure", type=int, default=500)
    args = parser.parse_args()
    base, embedded = base_url()
    try:
        name = f"hitl_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
        url = base.rsplit("/", 1)[0] + "/" + name
        upgrade(url)
        asyncio.run(prepare(url, args.open, args.agents))
        settings = Settings(database_url=url)
        asyncio.run(measure(settings, 50))  # warm-up
        times = asyncio.run(measure(settings, args.measure))
        route = routing_times(5000)
        print(f"{args.open:,} transfers open, {args.agents} online agents in the team")
        for label, values in (
            ("routing (policy team choice)", route),
            ("assignment (one transaction)", times),
        ):
            print(
                f"{label:<30} p50 {statistics.median(values) * 1000:6.3f} ms   "
                f"p99 {percentile(values, 0.99) * 1000:6.3f} ms   (n={len(values):,})"
            )
        total = [a + b for a, b in zip(sorted(times), sorted(route), strict=False)]
        print(f"routing + assignment p99 {percentile(total, 0.99) * 1000:.3f} ms (target < 5 ms)")
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
