"""PostgreSQL stopped under a running `hitl serve`: 503 with Retry-After while it is down, never
a 500; the pool recovers by itself once it is back; every acknowledged turn is in Postgres."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from support import Process, environ, free_port, hitl_sync, wait_for, wait_http_ready

from service.embedded import EmbeddedServices, postgres
from service.settings import to_libpq_url


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[tuple[EmbeddedServices, Any]]:
    """PostgreSQL and Valkey of this test alone, so stopping them harms no other test."""
    services = EmbeddedServices(tmp_path / "services", fsync=False)
    addresses = services.start()
    yield services, addresses
    services.stop()


def turn() -> dict[str, Any]:
    return {
        "conversation_id": f"c-{uuid.uuid4().hex[:8]}",
        "channel": "email",
        "customer_id": "cust-1",
        "message": "Where is my parcel?",
        "draft": {"text": "On its way.", "confidence": 0.9, "intent": "order_status"},
    }


def test_postgres_down_is_503_and_the_pool_recovers(
    own_postgres: tuple[EmbeddedServices, Any], tmp_path: Path
) -> None:
    services, addresses = own_postgres
    port = free_port()
    env = environ(
        HITL_DATABASE_URL=addresses.database_url,
        HITL_REDIS_URL=addresses.redis_url,
        HITL_STATE_DIR=str(tmp_path / "state"),
        HITL_PORT=str(port),
        HITL_SECRET_KEY="outage-test-secret",
    )
    hitl_sync(env, "migrate")
    key = hitl_sync(env, "keys", "create", "email")
    proc = Process(["serve"], env, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    try:
        wait_http_ready(f"{base}/readyz", proc)
        acknowledged = [httpx.post(f"{base}/v1/turns", json=turn(), headers=headers, timeout=10)]
        assert acknowledged[0].status_code == 200

        pg = services._pg_context()
        pid = postgres.read_postmaster(pg.pgdata)
        assert pid is not None
        db_port = int(addresses.database_url.rsplit(":", 1)[1].split("/")[0])
        postgres.stop_postgres(pg, pid.pid)

        down = httpx.post(f"{base}/v1/turns", json=turn(), headers=headers, timeout=30)
        assert down.status_code == 503, down.text
        assert down.headers["retry-after"] == "5"
        assert "unreachable" in down.json()["detail"]
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 503

        code, out = pg.run(
            "pg_ctl", "-l", str(pg.log), "-w", "-o", postgres._server_options(pg, db_port), "start"
        )
        assert code == 0, out

        def answered() -> bool:
            r = httpx.post(f"{base}/v1/turns", json=turn(), headers=headers, timeout=10)
            assert r.status_code in (200, 503), r.text  # never a 500 while it comes back
            if r.status_code == 200:
                acknowledged.append(r)
            return r.status_code == 200

        wait_for(answered, timeout=30, interval=0.5)
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
        ids = {r.json()["decision_id"] for r in acknowledged}
        stored = hitl_count(addresses.database_url, ids)
        assert stored == len(ids) == 2
    finally:
        proc.stop()


def hitl_count(database_url: str, ids: set[str]) -> int:
    async def count() -> int:
        conn = await asyncpg.connect(to_libpq_url(database_url))
        try:
            found = await conn.fetchval(
                "SELECT count(*) FROM decision WHERE id = ANY($1::uuid[])", list(ids)
            )
            return int(found)
        finally:
            await conn.close()

    return asyncio.run(count())
