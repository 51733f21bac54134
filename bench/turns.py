"""Decisions per second and latency of POST /v1/turns at 16 concurrent clients, against the floor:
single-row INSERTs through asyncpg at the same concurrency on the same database.

Usage: .venv/bin/python bench/turns.py [--seconds 15] [--clients 16] [--workers 1] [--wrk]
--wrk drives the load with wrk (C, 2 threads, bench/turns.lua) instead of the asyncio client, so
the load generator takes less of the two cores from the server it measures (apt install wrk).
Uses HITL_DATABASE_URL / HITL_REDIS_URL if set, else embedded servers under .hitl/bench-services.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.settings import to_libpq_url  # noqa: E402

MESSAGES = [
    ("Where is my order? It should have arrived yesterday.", 0.92, "order_status"),
    ("How do I change my login password?", 0.88, "password_reset"),
    ("Can I change the delivery address?", 0.55, "change_address"),
    ("Your app keeps crashing when I open my invoices.", 0.61, "app_bug"),
    ("What are your opening hours on Sunday?", 0.97, "opening_hours"),
    ("I was charged twice for the same order!", 0.74, "billing"),
    ("I want to talk to a real person please", 0.9, "other"),
]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def servers() -> tuple[str, str, object | None]:
    db, redis = os.environ.get("HITL_DATABASE_URL"), os.environ.get("HITL_REDIS_URL")
    if db and redis:
        return to_libpq_url(db), redis, None
    from service.embedded import EmbeddedServices

    embedded = EmbeddedServices(ROOT / ".hitl" / "bench-services", fsync=True)
    found = embedded.start()
    return found.database_url, found.redis_url, embedded


def stop_all(procs: list[subprocess.Popen[bytes]], embedded: object | None) -> None:
    """A bench's processes stopped (each given 20 s), then its embedded servers, if any."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(20)
    if embedded is not None:
        embedded.stop()  # type: ignore[attr-defined]


async def fresh_database(base: str) -> str:
    name = f"hitl_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(base)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return base.rsplit("/", 1)[0] + "/" + name


def service_env(
    database_url: str,
    redis_url: str,
    policy_path: Path,
    port: int | None = None,
    prefix: str | None = None,
) -> dict[str, str]:
    """The environment of a bench's `hitl` processes: this shell's, without any HITL_ setting
    of its own, on the bench's database, Redis prefix and policy."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HITL_")} | {
        "HITL_DATABASE_URL": database_url,
        "HITL_REDIS_URL": redis_url,
        "HITL_SECRET_KEY": "bench-secret",
        "HITL_REDIS_PREFIX": prefix or f"bench-{uuid.uuid4().hex[:6]}",
        "HITL_POLICY_PATH": str(policy_path),
        **({"HITL_PORT": str(port)} if port is not None else {}),
    }


def wait_ready(url: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(url, timeout=2).status_code in (200, 404, 405):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def serve(
    database_url: str, redis_url: str, workers: int = 1
) -> tuple[str, str, subprocess.Popen[bytes]]:
    """`hitl serve` on a migrated database with the default policy, once it is ready: its URL,
    an email channel's key, and the process."""
    port = free_port()
    env = service_env(database_url, redis_url, ROOT / "policies" / "default.yaml", port)
    hitl = [sys.executable, "-m", "service"]
    subprocess.run([*hitl, "migrate"], env=env, check=True, cwd=ROOT, capture_output=True)
    key = subprocess.run(
        [*hitl, "keys", "create", "email"],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    proc = subprocess.Popen(
        [*hitl, "serve", "--workers", str(workers)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    wait_ready(f"{base_url}/readyz")
    return base_url, key, proc


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load_turns(
    base_url: str, key: str, clients: int, seconds: float, repeat: bool = False
) -> list[float]:
    """A lean HTTP/1.1 keep-alive client on asyncio streams: httpx itself cost a core at this rate,
    and on a 2-core machine the load generator must not starve the server it measures."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    host, port = base_url.removeprefix("http://").split(":")

    async def client(n: int) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        rng = random.Random(n)
        conversation = 0
        while time.perf_counter() < stop:
            conversation += 1
            message, confidence, intent = rng.choice(MESSAGES)
            if not repeat:
                # Every message new to the detector's cache, as real customers write them.
                message = f"{message} (order {n}-{conversation})"
            body = {
                "conversation_id": f"bench-{n}-{conversation // 3}",
                "channel": "email",
                "customer_id": f"cust-{n}-{conversation}",
                "message": message,
                "draft": {
                    "text": "Thanks, here is what we can do.",
                    "confidence": confidence,
                    "intent": intent,
                },
            }
            payload = json.dumps(body).encode()
            request = (
                f"POST /v1/turns HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
            ).encode() + payload
            started = time.perf_counter()
            writer.write(request)
            status, length = 0, 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if not status:
                    status = int(line.split()[1])
                elif line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            answer = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                raise SystemExit(f"unexpected {status}: {answer[:300]!r}")
        writer.close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    return latencies


async def load_floor(database_url: str, clients: int, seconds: float) -> list[float]:
    pool = await asyncpg.create_pool(database_url, min_size=clients, max_size=clients)
    await pool.execute(
        "CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, "
        "conversation text, payload text, created_at timestamptz DEFAULT now())"
    )
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def client(n: int) -> None:
        async with pool.acquire() as conn:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                await conn.execute(
                    "INSERT INTO bench_floor (conversation, payload) VALUES ($1, $2)",
                    f"bench-{n}",
                    "Where is my order?",
                )
                latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client(n) for n in range(clients)))
    await pool.close()
    return latencies


def load_wrk(base_url: str, key: str, clients: int, seconds: float) -> tuple[float, str]:
    """wrk's own figures: (requests per second, one line of percentiles and errors)."""
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{clients}",
            f"-d{seconds:.0f}s",
            "--latency",
            "-s",
            str(ROOT / "bench" / "turns.lua"),
            base_url,
        ],
        env=os.environ | {"HITL_KEY": key, "HITL_RUN": uuid.uuid4().hex[:8]},
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    found = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    line = (
        f"{'POST /v1/turns (wrk)':<34} {rate:>9,.0f}/s   p50 {found.get('50')}   "
        f"p90 {found.get('90')}   p99 {found.get('99')}   "
        f"non-2xx {errors.group(1) if errors else 0}"
    )
    return rate, line


def report(name: str, latencies: list[float], seconds: float) -> float:
    rate = len(latencies) / seconds
    print(
        f"{name:<34} {rate:>9,.0f}/s   p50 {statistics.median(latencies) * 1000:6.2f} ms   "
        f"p99 {percentile(latencies, 0.99) * 1000:6.2f} ms   ({len(latencies):,} in {seconds:.0f} s)"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument(
        "--repeat-messages",
        action="store_true",
        help="send the same 7 messages over and over (the detector's cache answers them)",
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="`hitl serve --workers`")
    parser.add_argument("--wrk", action="store_true", help="drive the load with wrk")
    args = parser.parse_args()
    db_base, redis_url, embedded = servers()
    proc = None
    try:
        database_url = asyncio.run(fresh_database(db_base))
        base_url, key, proc = serve(database_url, redis_url, args.workers)
        print(
            f"{args.clients} concurrent clients, {args.seconds:.0f} s each, "
            f"{os.cpu_count()} cores, hitl serve --workers {args.workers}"
        )
        asyncio.run(load_turns(base_url, key, args.clients, 2, args.repeat_messages))  # warm-up
        if args.wrk:
            turns, line = load_wrk(base_url, key, args.clients, args.seconds)
            print(line)
        else:
            turns = report(
                "POST /v1/turns (decisions)",
                asyncio.run(
                    load_turns(base_url, key, args.clients, args.seconds, args.repeat_messages)
                ),
                args.seconds,
            )
        floor = report(
            "floor: asyncpg single-row INSERT",
            asyncio.run(load_floor(database_url, args.clients, args.seconds)),
            args.seconds,
        )
        print(f"ratio decisions/floor: {turns / floor:.2f} (target >= 0.25)")
    finally:
        if proc:
            proc.terminate()
            proc.wait()
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
