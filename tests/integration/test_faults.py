"""Faults under load (issue 12), on PostgreSQL and Valkey of each test's own so that stopping
them harms no other test: Postgres stopped and restarted while turns arrive, Redis stopped and
restarted empty while reviews wait, the service SIGKILLed with requests in flight. Postgres is
the truth: every acknowledged turn is there, and retries with the same key create one turn."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from support import (
    Process,
    Receiver,
    environ,
    free_port,
    hitl_sync,
    start_receiver,
    wait_for,
    wait_http_ready,
)

from service.embedded import EmbeddedServices, postgres
from service.embedded.common import valkey_binary
from service.settings import to_libpq_url

CLIENTS = 8


@pytest.fixture
def own_services(tmp_path: Path) -> Iterator[tuple[EmbeddedServices, Any]]:
    # Durable, as in production: an acknowledged commit must survive PostgreSQL crashing (the
    # test suite's other servers trade that for speed with synchronous_commit off).
    services = EmbeddedServices(tmp_path / "services", fsync=True)
    addresses = services.start()
    yield services, addresses
    services.stop()


def turn(key: str) -> dict[str, Any]:
    return {
        "conversation_id": f"c-{key}",
        "channel": "email",
        "customer_id": f"cust-{key}",
        "message": "Where is my parcel?",
        "draft": {"text": "On its way.", "confidence": 0.9, "intent": "order_status"},
    }


async def post_turn(client: httpx.AsyncClient, auth: str, key: str) -> httpx.Response:
    return await client.post(
        "/v1/turns", json=turn(key), headers={"Authorization": auth, "Idempotency-Key": key}
    )


async def stored(database_url: str, keys: list[str]) -> dict[str, list[str]]:
    """Decision ids per idempotency key, as Postgres has them."""
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        rows = await conn.fetch(
            "SELECT t.idempotency_key AS key, d.id FROM turn t JOIN decision d ON d.turn_id = t.id "
            "WHERE t.idempotency_key = ANY($1::text[])",
            keys,
        )
    finally:
        await conn.close()
    found: dict[str, list[str]] = {}
    for r in rows:
        found.setdefault(r["key"], []).append(str(r["id"]))
    return found


async def retry_all(base: str, auth: str, keys: list[str]) -> dict[str, str]:
    """Every key sent again: the answer's decision id per key."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        answers = {}
        for key in keys:
            r = await post_turn(client, auth, key)
            assert r.status_code == 200, r.text
            answers[key] = r.json()["decision_id"]
    return answers


def fault_env(database_url: str, redis_url: str, tmp_path: Path, **more: str) -> dict[str, str]:
    """The environment of this test's own `hitl` processes, migrated."""
    env = environ(
        HITL_DATABASE_URL=database_url,
        HITL_REDIS_URL=redis_url,
        HITL_STATE_DIR=str(tmp_path / "state"),
        HITL_PORT=str(free_port()),
        HITL_SECRET_KEY="fault-test-secret",
        **more,
    )
    hitl_sync(env, "migrate")
    return env


def email_key(env: dict[str, str]) -> str:
    return f"Bearer {hitl_sync(env, 'keys', 'create', 'email')}"


def serve(env: dict[str, str], tmp_path: Path, name: str = "serve") -> tuple[Process, str]:
    proc = Process(["serve"], env, tmp_path / f"{name}.log")
    base = f"http://127.0.0.1:{env['HITL_PORT']}"
    wait_http_ready(f"{base}/readyz", proc)
    return proc, base


def test_postgres_restarted_under_load(
    own_services: tuple[EmbeddedServices, Any], tmp_path: Path
) -> None:
    services, addresses = own_services
    env = fault_env(
        addresses.database_url,
        addresses.redis_url,
        tmp_path,
        HITL_DB_STATEMENT_TIMEOUT_SECONDS="2",
        HITL_DB_ACQUIRE_TIMEOUT_SECONDS="1",
    )
    auth = email_key(env)
    proc, base = serve(env, tmp_path)
    pg = services._pg_context()
    db_port = int(addresses.database_url.rsplit(":", 1)[1].split("/")[0])
    results: list[tuple[str, int, float, str | None]] = []

    async def client(stop_at: float) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            while time.monotonic() < stop_at:
                key = uuid.uuid4().hex
                started = time.monotonic()
                r = await post_turn(http, auth, key)
                decision = r.json().get("decision_id") if r.status_code == 200 else None
                results.append((key, r.status_code, time.monotonic() - started, decision))
                if r.status_code != 200:
                    await asyncio.sleep(0.2)

    async def outage() -> None:
        await asyncio.sleep(2)
        pid = postgres.read_postmaster(pg.pgdata)
        assert pid is not None
        await asyncio.to_thread(postgres.stop_postgres, pg, pid.pid, "immediate")
        await asyncio.sleep(3)
        options = postgres._server_options(pg, db_port)
        code, out = await asyncio.to_thread(
            pg.run, "pg_ctl", "-l", str(pg.log), "-w", "-o", options, "start"
        )
        assert code == 0, out

    async def run() -> None:
        stop_at = time.monotonic() + 11
        await asyncio.gather(outage(), *(client(stop_at) for _ in range(CLIENTS)))

    try:
        asyncio.run(run())
        statuses = [status for _, status, _, _ in results]
        assert set(statuses) <= {200, 503}, sorted(set(statuses))
        assert statuses.count(503) > 0 and statuses[-CLIENTS:].count(200) == CLIENTS
        slowest = max(seconds for _, _, seconds, _ in results)
        assert slowest < 6, f"a request hung {slowest:.1f} s (statement timeout 2 s)"
        acknowledged = {key: d for key, _, _, d in results if d}
        in_postgres = asyncio.run(stored(addresses.database_url, list(acknowledged)))
        assert {k: v[0] for k, v in in_postgres.items()} == acknowledged, (
            "an acknowledged turn lost"
        )
        refused = [key for key, status, _, _ in results if status == 503]
        asyncio.run(retry_all(base, auth, refused))
        everything = asyncio.run(stored(addresses.database_url, [k for k, *_ in results]))
        assert all(len(ids) == 1 for ids in everything.values())
        assert len(everything) == len(acknowledged) + len(refused)
        print(
            f"postgres restart: {len(results)} turns, {len(acknowledged)} acknowledged and stored, "
            f"{len(refused)} refused with 503 then retried once each, slowest {slowest:.2f} s"
        )
    finally:
        proc.stop()


def test_the_service_killed_with_requests_in_flight(
    own_services: tuple[EmbeddedServices, Any], tmp_path: Path
) -> None:
    _, addresses = own_services
    env = fault_env(addresses.database_url, addresses.redis_url, tmp_path)
    auth = email_key(env)
    proc, base = serve(env, tmp_path)
    sent: list[str] = []
    answered: dict[str, str] = {}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            while True:
                key = uuid.uuid4().hex
                sent.append(key)
                try:
                    r = await post_turn(http, auth, key)
                except httpx.HTTPError:
                    return  # the server went away mid-request
                if r.status_code == 200:
                    answered[key] = r.json()["decision_id"]

    async def run() -> None:
        clients = [asyncio.create_task(client()) for _ in range(CLIENTS)]
        await asyncio.sleep(2)
        proc.proc.send_signal(signal.SIGKILL)  # no graceful shutdown: requests in flight die
        await asyncio.gather(*clients)

    try:
        asyncio.run(run())
        assert len(answered) > 20 and len(sent) > len(answered)
        in_postgres = asyncio.run(stored(addresses.database_url, sent))
        assert all(key in in_postgres for key in answered), "a turn answered 200 is missing"
        again, base = serve(env, tmp_path, "serve-again")
        try:
            retried = asyncio.run(retry_all(base, auth, sent))
        finally:
            again.stop()
        assert all(retried[k] == d for k, d in answered.items()), "a retry made a second turn"
        after = asyncio.run(stored(addresses.database_url, sent))
        assert set(after) == set(sent) and all(len(ids) == 1 for ids in after.values())
        print(
            f"service killed: {len(sent)} sent, {len(answered)} answered 200 (all stored), "
            f"{len(sent) - len(answered)} in flight; {len(sent)} retried: one turn per key"
        )
    finally:
        with contextlib.suppress(Exception):
            proc.stop()


class Valkey:
    """A Redis server of this test's own on a fixed port, stopped and started again empty."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [str(valkey_binary()), "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: _answers(self.port), 10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _answers(port: int) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")
    return False


POLICY = """\
version: 1
channels:
  email: {{ mode: async, latency_budget: 2s, on_timeout: send_draft, webhook_url: "{hook}" }}
confidence: {{ threshold: 0.7 }}
routing: {{ default_team: general }}
teams: {{ general: {{}} }}
webhooks: {{ allow_private_addresses: true }}
"""


def test_redis_stopped_and_restarted_empty_while_reviews_wait(
    own_services: tuple[EmbeddedServices, Any], tmp_path: Path
) -> None:
    _, addresses = own_services
    receiver, hook_server = start_receiver()
    redis = Valkey(tmp_path / "valkey")
    redis.start()
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(hook=receiver.url("/hooks/email")))
    env = fault_env(
        addresses.database_url,
        redis.url,
        tmp_path,
        HITL_POLICY_PATH=str(policy),
        HITL_SWEEP_INTERVAL_SECONDS="1",
    )
    auth = email_key(env)
    proc, base = serve(env, tmp_path)
    worker = Process(["worker"], env, tmp_path / "worker.log")

    async def held(n: int) -> list[str]:
        reviews = []
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for _ in range(n):
                body = turn(uuid.uuid4().hex) | {
                    "draft": {"text": "Soon.", "confidence": 0.3, "intent": "x"}
                }
                r = await http.post("/v1/turns", json=body, headers={"Authorization": auth})
                assert r.status_code == 200 and r.json()["action"] == "review", r.text
                reviews.append(r.json()["review"]["id"])
        return reviews

    try:
        before = asyncio.run(held(5))
        redis.stop()  # every deadline job, queue and lock vanishes with it
        during = asyncio.run(held(5))  # turns are still decided and held
        time.sleep(3)  # the budgets run out while Redis is away
        redis.start()  # empty: as if flushed
        everyone = set(before + during)
        wait_for(lambda: _outcomes(receiver) >= everyone, 40)
        time.sleep(1.5)  # time for a duplicate to show up
        ids = [r.headers["webhook-id"] for r in receiver.on("/hooks/email")]
        assert len(ids) == len(set(ids)) == 10, "each outcome delivered once"
        assert worker.proc.poll() is None, "the worker rode out the outage"
    finally:
        worker.stop()
        proc.stop()
        redis.stop()
        hook_server.shutdown()


def _outcomes(receiver: Receiver) -> set[str]:
    return {json.loads(r.body)["data"]["review_id"] for r in receiver.on("/hooks/email")}
