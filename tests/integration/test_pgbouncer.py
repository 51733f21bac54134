"""Through PgBouncer in transaction mode (issue 13): the service and a worker on the session's
PostgreSQL behind a real `pgbouncer` (pool_mode = transaction, 4 server connections for many
clients, so every transaction may land on another server connection). With HITL_DB_PGBOUNCER
every statement works: decisions at 16 at once, reviews by a person, transfers, deadlines."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from support import Process, Receiver, free_port, process_env, wait_http_ready

from service.embedded.common import SYSTEM_USER


@pytest.fixture
def pgbouncer(settings: Any, tmp_path: Path) -> Iterator[str]:
    """A pgbouncer in front of the session's database; yields the database URL through it."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    assert Path(binary).exists(), "pgbouncer is missing: `make test` installs it (apt)"
    target = urlsplit(settings.database_url)
    port = free_port()
    folder = tmp_path / "pgbouncer"
    folder.mkdir()
    user = target.username or "postgres"
    (folder / "users.txt").write_text(f'"{user}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={target.hostname} port={target.port}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
        "pool_mode = transaction\ndefault_pool_size = 4\nmax_client_conn = 200\n"
    )
    command = [binary, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # pgbouncer will not run as root: it drops to the embedded user
        pwd.getpwnam(SYSTEM_USER)
        command[1:1] = ["-u", SYSTEM_USER]
        folder.chmod(0o755)
        for path in (tmp_path, *tmp_path.parents):
            if path == Path("/tmp"):
                break
            path.chmod(path.stat().st_mode | 0o711)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"postgresql://{user}@127.0.0.1:{port}{target.path}"
    deadline = time.monotonic() + 10
    while True:
        try:
            asyncio.run(_ping(url))
            break
        except (OSError, asyncpg.PostgresError):
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "pgbouncer did not answer"
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


async def _ping(url: str) -> None:
    conn = await asyncpg.connect(url, statement_cache_size=0)
    await conn.close()


def turn(channel: str, message: str, confidence: float) -> dict[str, Any]:
    key = uuid.uuid4().hex[:10]
    return {
        "conversation_id": f"b-{key}",
        "channel": channel,
        "customer_id": f"b-{key}",
        "message": message,
        "draft": {"text": "Here is what we can do.", "confidence": confidence, "intent": "x"},
    }


async def test_everything_works_through_pgbouncer_in_transaction_mode(
    pgbouncer: str,
    settings: Any,
    channel_key: Any,
    reviewer: Any,
    receiver: Receiver,
    db: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    receiver.clear()
    env = process_env(settings) | {"HITL_DATABASE_URL": pgbouncer, "HITL_DB_PGBOUNCER": "true"}
    port = free_port()
    serve = Process(["serve"], env | {"HITL_PORT": str(port)}, tmp_path / "serve.log")
    worker = Process(["worker"], env, tmp_path / "worker.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http_ready(f"{base}/readyz", serve)
        email, chat = await channel_key("email"), await channel_key("chat")
        token = await reviewer("rita@example.com")
        person = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            answers = await asyncio.gather(
                *(
                    http.post(
                        "/v1/turns",
                        json=turn("email", "Can I change my address?", 0.4),
                        headers={"Authorization": f"Bearer {email}"},
                    )
                    for _ in range(16)
                )
            )
            assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
            reviews = [a.json()["review"]["id"] for a in answers]
            approved = await http.post(f"/v1/reviews/{reviews[0]}/approve", headers=person)
            assert approved.status_code == 200, approved.text
            edited = await http.post(
                f"/v1/reviews/{reviews[1]}/edit", json={"text": "Yes, send it."}, headers=person
            )
            assert edited.status_code == 200, edited.text
            # Claim-next is one statement on the decision path's pool (no BEGIN of its own).
            claimed = await http.post("/v1/reviews/next", headers=person)
            assert claimed.status_code == 200 and claimed.json()["id"] in reviews[2:], claimed.text
            assert claimed.json()["status"] == "claimed"

            asked = await http.post(
                "/v1/turns",
                json=turn("chat", "I want to talk to a real person please", 0.9),
                headers={"Authorization": f"Bearer {chat}"},
            )
            assert asked.json()["action"] == "transfer", asked.text
            transfer = asked.json()["transfer"]["id"]
            for step, body in (("accept", None), ("reply", {"text": "Hi, Rita here."})):
                r = await http.post(f"/v1/transfers/{transfer}/{step}", json=body, headers=person)
                assert r.status_code in (200, 201), (step, r.text)
            closed = await http.post(
                f"/v1/transfers/{transfer}/close", json={"resolution": "sorted"}, headers=person
            )
            assert closed.status_code == 200, closed.text
            assert (await http.get(f"/v1/transfers/{transfer}", headers=person)).json()[
                "status"
            ] == "closed"
        # The other 14 drafts run out of their 3 s budget: the worker, through pgbouncer too.
        for _ in range(200):
            expired = await db.fetchval("SELECT count(*) FROM review WHERE status = 'expired'")
            if expired == 14 and len(receiver.on("/hooks/email")) >= 16:
                break
            await asyncio.sleep(0.1)
        assert expired == 14
        outcomes = {json.loads(r.body)["data"]["review_id"] for r in receiver.on("/hooks/email")}
        assert outcomes == set(reviews)
        logs = (tmp_path / "serve.log").read_text() + (tmp_path / "worker.log").read_text()
        assert "prepared statement" not in logs, "a prepared statement crossed connections"
    finally:
        worker.stop()
        serve.stop()
