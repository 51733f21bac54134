"""The worker under a backlog (issue 13): while no worker ran, 10,000 pieces of due work piled up
(overdue reviews, webhook deliveries, transfers waiting to be offered). A worker starts while
the everyday mix keeps coming; the bench reports how fast the backlog drains and how much of the
API's throughput is left meanwhile, beside the same mix with no worker running.

    .venv/bin/python bench/backlog.py [--reviews 3000] [--deliveries 3000] [--transfers 2000]
                                      [--seconds 10] [--worker-processes 1]

The reviews are written straight into Postgres (their deadlines already past), the deliveries
are outbox rows rung through the service's own doorbell, the transfers are chat turns asking
for a person over HTTP (each one a delivery and an assignment job). Webhooks go to a receiver
in this process that answers 204 at once. 127.0.0.1 only; about 2 minutes at the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis import Redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from load import OUT, Result, Sampler, Slice, hitl, row, wrk  # noqa: E402
from receiver import policy_for, receiver  # noqa: E402
from review_queue import fill  # noqa: E402
from turns import free_port, fresh_database, servers, service_env, stop_all, wait_ready  # noqa: E402

from service import db as database  # noqa: E402
from service.channels import outbox  # noqa: E402
from service.effects import Effects  # noqa: E402
from service.runtime import Runtime, queue_name  # noqa: E402
from service.settings import Settings  # noqa: E402


async def pile_up(settings: Settings, base: str, chat_key: str, args: argparse.Namespace) -> None:
    await fill(
        str(settings.database_url), args.reviews, "now() - random() * interval '5 minutes'", "b"
    )
    runtime = await Runtime.start(settings)
    try:
        async with database.transaction(runtime.pg) as conn:
            events = [
                outbox.Event("email", "review.completed", f"bench:{uuid.uuid4()}", {"n": n})
                for n in range(args.deliveries)
            ]
            effects = Effects()
            effects.deliver(*await outbox.add_many(conn, events))
        await runtime.dispatch(effects)
    finally:
        await runtime.close()
    limit = asyncio.Semaphore(16)

    async def ask(client: httpx.AsyncClient, n: int) -> None:
        body = {
            "conversation_id": f"backlog-{n}",
            "channel": "chat",
            "customer_id": f"backlog-{n}",
            "message": "I want to talk to a real person please",
            "draft": {"text": "Let me check.", "confidence": 0.9, "intent": "billing"},
        }
        async with limit:
            r = await client.post("/v1/turns", json=body)
            assert r.json()["action"] == "transfer", r.text

    headers = {"Authorization": f"Bearer {chat_key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        await asyncio.gather(*(ask(client, n) for n in range(args.transfers)))


def remaining(database_url: str, redis: Redis, queue: str) -> dict[str, int]:
    async def count() -> tuple[int, int]:
        conn = await asyncpg.connect(database_url)
        try:
            overdue = await conn.fetchval(
                "SELECT count(*) FROM review WHERE status IN ('pending', 'claimed') "
                "AND deadline <= now()"
            )
            pending = await conn.fetchval(
                "SELECT count(*) FROM outbox_event WHERE status = 'pending'"
            )
            return int(overdue), int(pending)
        finally:
            await conn.close()

    overdue, pending = asyncio.run(count())
    return {
        "overdue reviews": overdue,
        "pending deliveries": pending,
        "jobs": int(redis.zcard(queue)),  # type: ignore[arg-type]
    }


def settle(database_url: str) -> None:
    """After the pile-up's bulk writes: vacuum and analyse now, so that autovacuum does not run
    during one of the two measurements and not the other."""

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("VACUUM ANALYZE")
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=3000)
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--transfers", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=10, help="of the mix with no worker")
    parser.add_argument("--worker-processes", type=int, default=1)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    db_base, redis_url, embedded = servers()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        database_url = asyncio.run(fresh_database(db_base))
        port = free_port()
        prefix = f"bench-{uuid.uuid4().hex[:6]}"
        policy = policy_for(receiver(), OUT / "backlog-policy.yaml")
        env = service_env(database_url, redis_url, policy, port, prefix)
        settings = Settings(
            database_url=database_url,
            redis_url=redis_url,
            redis_prefix=prefix,
            policy_path=policy,
            secret_key="bench-secret",
        )
        hitl(env, "migrate")
        keys = {c: hitl(env, "keys", "create", c) for c in ("email", "chat")}
        base = f"http://127.0.0.1:{port}"
        quiet: dict[str, Any] = {
            "stdout": subprocess.DEVNULL,
            "stderr": subprocess.DEVNULL,
            "cwd": ROOT,
        }
        serve = subprocess.Popen([sys.executable, "-m", "service", "serve"], env=env, **quiet)  # type: ignore[arg-type]
        procs.append(serve)
        wait_ready(f"{base}/readyz")
        started = time.perf_counter()
        asyncio.run(pile_up(settings, base, keys["chat"], args))
        redis = Redis.from_url(redis_url)
        queue = queue_name(settings)
        backlog = remaining(database_url, redis, queue)
        print(f"{os.cpu_count()} cores; no worker running; piled up in "
              f"{time.perf_counter() - started:.0f} s: {backlog}")  # fmt: skip
        settle(database_url)
        sampler = Sampler(serve.pid, [])
        sampler.start()
        mix = {"BENCH_KEY": keys["email"]}
        wrk("mix_everyday.lua", base, mix | {"BENCH_RUN": "warm"}, 3)
        sampler.measure()
        alone = Result("everyday, no worker yet", wrk("mix_everyday.lua", base, mix, args.seconds),
                       *sampler.stop())  # fmt: skip
        workers = [
            subprocess.Popen([sys.executable, "-m", "service", "worker"], env=env, **quiet)  # type: ignore[arg-type]
            for _ in range(args.worker_processes)
        ]
        procs += workers
        sampler = Sampler(serve.pid, [w.pid for w in workers])
        sampler.start()
        total = backlog["overdue reviews"] + backlog["jobs"]  # a delivery is one job
        drained: list[tuple[float, int]] = []
        done, stop = threading.Event(), threading.Event()

        def watch() -> None:
            begun = time.perf_counter()
            while not stop.is_set():
                left = remaining(database_url, redis, queue)
                drained.append(
                    (time.perf_counter() - begun, left["overdue reviews"] + left["jobs"])
                )
                if not any(left.values()):
                    done.set()
                    return
                time.sleep(0.5)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        sampler.measure()
        slices: list[Slice] = []
        while not done.is_set() and len(slices) < 300:
            slices += wrk("mix_everyday.lua", base, mix | {"BENCH_RUN": uuid.uuid4().hex[:6]}, 1)
        during = Result("everyday, while draining", slices, *sampler.stop())
        stop.set()
        watcher.join()
        for worker in workers:  # and the API alone again, after: the machine may have drifted
            worker.terminate()
            worker.wait(20)
        sampler.measure()
        after = Result("everyday, no worker again", wrk("mix_everyday.lua", base, mix,
                       args.seconds), *sampler.stop())  # fmt: skip
        alone_rate = (alone.rate + after.rate) / 2
        took = drained[-1][0] if done.is_set() else float("nan")
        print(f"\n{'':<26} {'rate':>10} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6} "
              f"{'/alone':>6}  {'server CPU, RSS':<16}   worker CPU, RSS")  # fmt: skip
        print(row(alone.name, alone, None))
        print(row(during.name, during, alone_rate))
        print(row(after.name, after, None))
        print(f"backlog: {total:,} items ({backlog}) drained in {took:.1f} s "
              f"({total / took:,.0f}/s) by {args.worker_processes} worker; the API kept "
              f"{during.rate / alone_rate:.2f} of its throughput meanwhile (of the mean of before "
              "and after)")  # fmt: skip
        trace = OUT / f"backlog-{time.strftime('%Y%m%d-%H%M%S')}.json"
        trace.write_text(json.dumps({"remaining": drained}))
        print(f"remaining over time: {trace}")
    finally:
        stop_all(procs, embedded)


if __name__ == "__main__":
    main()
