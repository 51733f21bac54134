"""Data that grows (issue 13): the turn path and the prune as history grows to 10,000,000 turns.

    .venv/bin/python bench/history.py [--turns 10000000] [--stages 1000000] [--samples 300]

History is written straight into Postgres (generate_series; 10 M turns over HTTP would take
days here): conversations of four turns, each turn with its decision and a stored reading of the
detector's size, spread over the last two years, customers coming back (one customer for every
four conversations). At each stage (an empty database, then every --stages turns up to --turns)
it prints the tables' sizes and the latency of POST /v1/turns from one client (no queueing: the
statements' own cost), half from customers with history (the repeat-contact window reads it).
At the end `retention.prune` runs for --prune-seconds with the default policy's limits (400 days)
while the same client keeps sending turns: the longest batch, rows deleted a second, and the turn
latency beside it say whether pruning holds the hot tables. Uses HITL_DATABASE_URL /
HITL_REDIS_URL if set, else embedded servers; a fresh database each run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from turns import fresh_database, percentile, serve, servers, stop_all  # noqa: E402

from service import db as database  # noqa: E402
from service.policy.loader import load_policy  # noqa: E402
from service.retention import prune  # noqa: E402
from service.settings import Settings  # noqa: E402

POLICY = ROOT / "policies" / "default.yaml"
# A stored reading as the live detector writes it (every head's score): its real size matters.
READING = json.dumps(
    {
        "detector": "bench",
        "scores": {
            h: 0.01234567
            for h in (
                "explicit_request", "distress", "distress.self_harm", "distress.violence",
                "distress.abuse", "distress.emergency", "distress.bereavement", "topics.legal",
                "topics.fraud", "topics.medical", "topics.regulated_finance", "sentiment",
            )
        },
        "similar": {},
    }
)  # fmt: skip

FILL = """
WITH s AS (
  SELECT n, now() - random() * interval '730 days' AS at FROM generate_series(1, $2::int) n),
c AS (
  INSERT INTO conversation (channel, external_id, customer_id, handled_by, turn_count,
                            created_at, last_turn_at)
  SELECT 'email', $1 || '-' || n, 'cust-' || (($3::bigint + n) / 4), 'ai', 4, at,
         at + interval '4 minutes'
  FROM s RETURNING id, created_at),
t AS (
  INSERT INTO turn (conversation_id, channel, seq, message, draft_text, confidence, intent,
                    scores, created_at)
  SELECT c.id, 'email', k, 'Where is my parcel? It should have come on Tuesday.',
         'It is on its way and should arrive tomorrow.', 0.9, 'order_status',
         CAST($4 AS jsonb), c.created_at + k * interval '1 minute'
  FROM c, generate_series(1, 4) k RETURNING id, created_at)
INSERT INTO decision (turn_id, action, policy_version, response, created_at)
SELECT id, 'send', 'bench', '{"action": "send"}'::jsonb, created_at FROM t
"""

SIZES = """
SELECT relname, pg_total_relation_size(c.oid) AS total, pg_relation_size(c.oid) AS heap
FROM pg_class c WHERE relname IN ('turn', 'decision', 'conversation', 'audit_event')
ORDER BY total DESC
"""


async def fill(url: str, turns: int, written: int) -> None:
    """Adds `turns` turns (and their conversations and decisions) in chunks of 400,000."""
    conn = await asyncpg.connect(url)
    try:
        done, chunk, started = 0, 100_000, time.perf_counter()
        while done < turns:
            conversations = min(chunk, (turns - done) // 4)
            tag = f"h{written + done}"
            await conn.execute(FILL, tag, conversations, (written + done) // 4, READING)
            done += conversations * 4
            rate = done / (time.perf_counter() - started)
            print(
                f"  {written + done:,} turns written ({rate:,.0f} a second)", end="\r", flush=True
            )
        await conn.execute("ANALYZE")
        print()
    finally:
        await conn.close()


async def sizes(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(SIZES)
    finally:
        await conn.close()
    return ", ".join(f"{r['relname']} {r['total'] / 2**30:.2f} GiB" for r in rows)


def sample(base: str, key: str, count: int, known_customers: int) -> list[float]:
    """POST /v1/turns one at a time; every other one from a customer with history."""
    latencies = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        for n in range(count):
            customer = (
                f"cust-{(n * 7919) % known_customers}"
                if known_customers and n % 2
                else f"new-{uuid.uuid4().hex[:10]}"
            )
            body = {
                "conversation_id": f"s-{uuid.uuid4().hex[:12]}",
                "channel": "email",
                "customer_id": customer,
                "message": "Where is my order? It should have arrived yesterday.",
                "draft": {"text": "It is on its way.", "confidence": 0.93, "intent": "a"},
            }
            began = time.perf_counter()
            r = client.post("/v1/turns", json=body)
            latencies.append((time.perf_counter() - began) * 1000)
            if r.status_code != 200:
                raise SystemExit(f"POST /v1/turns answered {r.status_code}: {r.text}")
    return latencies


def ms(values: list[float]) -> str:
    return f"p50 {percentile(values, 0.5):.1f} ms, p99 {percentile(values, 0.99):.1f} ms"


async def pruning(url: str, redis: str, seconds: float) -> tuple[int, float, float]:
    """Rows deleted, their rate, and the longest batch (each batch its own transaction)."""
    settings = Settings(database_url=url, redis_url=redis)
    pool = await database.create_pool(settings, 2)
    policy = load_policy(POLICY).retention
    longest, last = 0.0, time.perf_counter()

    def batch(kind: str, rows: int) -> None:
        nonlocal longest, last
        now = time.perf_counter()
        longest, last = max(longest, now - last), now

    began = time.perf_counter()
    try:
        pruned = await prune(pool, policy, progress=batch, budget_seconds=seconds)
    finally:
        await pool.close()
    rows = sum(pruned.rows.values()) + pruned.turns
    return rows, rows / (time.perf_counter() - began), longest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10_000_000)
    parser.add_argument("--stages", type=int, default=1_000_000, help="measure every N turns")
    parser.add_argument("--samples", type=int, default=300, help="turns sent at each stage")
    parser.add_argument("--prune-seconds", type=float, default=60.0)
    args = parser.parse_args()
    db_base, redis_url, embedded = servers()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        url = asyncio.run(fresh_database(db_base))
        base, key, proc = serve(url, redis_url)
        procs.append(proc)
        sample(base, key, 30, 0)  # warm-up: the detector's first batches, the pool
        written = 0
        print(f"{'turns':>12}  POST /v1/turns, one client            table sizes")
        while True:
            took = sample(base, key, args.samples, written // 16)
            print(f"{written:>12,}  {ms(took):<36}  {asyncio.run(sizes(url))}")
            if written >= args.turns:
                break
            step = min(args.stages, args.turns - written)
            asyncio.run(fill(url, step, written))
            written += step
        during: list[float] = []
        stop = threading.Event()

        def keep_sending() -> None:
            while not stop.is_set():
                during.extend(sample(base, key, 20, written // 16))

        sender = threading.Thread(target=keep_sending)
        sender.start()
        try:
            rows, rate, longest = asyncio.run(pruning(url, redis_url, args.prune_seconds))
        finally:
            stop.set()
            sender.join()
        print(
            f"prune for {args.prune_seconds:.0f} s at {written:,} turns (retention 400d of 730d): "
            f"{rows:,} rows deleted, {rate:,.0f} a second, longest batch {longest * 1000:.0f} ms; "
            f"POST /v1/turns meanwhile {ms(during)} ({len(during)} turns)"
        )
    finally:
        stop_all(procs, embedded)


if __name__ == "__main__":
    main()
