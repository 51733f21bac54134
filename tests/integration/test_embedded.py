"""Embedded PostgreSQL and Valkey: real servers started, found, reused, recovered and stopped."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
import redis.asyncio as aioredis

from service.embedded import FALLBACK_ROOT, Addresses, EmbeddedServices, discover

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not tmp_path: pytest makes its parent 0700, which the server account can't cross as root
    # (that case has its own test below).
    path = Path(tempfile.mkdtemp(prefix="hitl-embedded-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def services(data_dir: Path) -> Iterator[EmbeddedServices]:
    svc = EmbeddedServices(data_dir, fsync=False)
    yield svc
    svc.stop()


def running(pid: int) -> bool:
    """Alive and not a zombie (an unreaped server still has a pid but serves nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not running(pid)


def processes_in(folder: Path) -> list[int]:
    """Processes working inside folder (PostgreSQL backends chdir into their data folder)."""
    target = str(folder.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd").startswith(target) and running(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def record(data_dir: Path) -> dict[str, object]:
    data = json.loads((data_dir / "services.json").read_text())
    assert isinstance(data, dict)
    return data


def pids(data_dir: Path) -> tuple[int, int]:
    rec = record(data_dir)
    pg, rd = rec["postgres_pid"], rec["redis_pid"]
    assert isinstance(pg, int) and isinstance(rd, int)
    return pg, rd


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def answers(addresses: Addresses, *, table: str | None = None) -> bool | None:
    """Runs SELECT 1 and PING; with `table`, says whether that table exists in the database."""

    async def probe() -> bool | None:
        conn = await asyncpg.connect(addresses.database_url)
        try:
            assert await conn.fetchval("SELECT 1") == 1
            assert await conn.fetchval("SELECT current_database()") == "hitl"
            exists = None
            if table is not None:
                exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table)
        finally:
            await conn.close()
        client = aioredis.from_url(addresses.redis_url)
        try:
            assert await client.ping() is True
        finally:
            await client.aclose()
        return exists

    return asyncio.run(probe())


def create_table(addresses: Addresses, name: str) -> None:
    async def create() -> None:
        conn = await asyncpg.connect(addresses.database_url)
        try:
            await conn.execute(f"CREATE TABLE {name} (id int)")
        finally:
            await conn.close()

    asyncio.run(create())


def refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def test_start_serves_and_records_addresses(services: EmbeddedServices, data_dir: Path) -> None:
    addresses = services.start()

    answers(addresses)
    assert addresses.database_url.startswith("postgresql://postgres@127.0.0.1:")
    assert addresses.database_url.endswith("/hitl")
    assert addresses.redis_url.startswith("redis://127.0.0.1:")
    assert {port_of(addresses.database_url), port_of(addresses.redis_url)}.isdisjoint({5432, 6379})
    rec = record(data_dir)
    assert rec["database_url"] == addresses.database_url
    assert rec["redis_url"] == addresses.redis_url
    assert rec["owner_pid"] == os.getpid()
    assert all(running(pid) for pid in pids(data_dir))
    assert discover(data_dir) == addresses


def test_start_twice_and_a_second_instance_reuse_the_servers(
    services: EmbeddedServices, data_dir: Path
) -> None:
    addresses = services.start()
    before = pids(data_dir)

    assert services.start() == addresses
    other = EmbeddedServices(data_dir, fsync=False)
    assert other.start() == addresses
    assert pids(data_dir) == before
    assert record(data_dir)["owner_pid"] == os.getpid()

    other.stop()  # it started nothing, so it stops nothing
    assert all(running(pid) for pid in before)
    answers(addresses)
    assert discover(data_dir) == addresses


def test_stop_leaves_no_process_and_is_safe_twice(
    services: EmbeddedServices, data_dir: Path
) -> None:
    addresses = services.start()
    pg_pid, redis_pid = pids(data_dir)

    services.stop()

    assert wait_gone(pg_pid) and wait_gone(redis_pid)
    assert processes_in(data_dir) == []
    assert not (data_dir / "services.json").exists()
    assert refuses(port_of(addresses.database_url)) and refuses(port_of(addresses.redis_url))
    assert discover(data_dir) is None
    services.stop()


def test_restart_after_kill_9_of_both_servers(data_dir: Path) -> None:
    first = EmbeddedServices(data_dir, fsync=False)
    first.start()
    pg_pid, redis_pid = pids(data_dir)
    os.kill(pg_pid, signal.SIGKILL)
    os.kill(redis_pid, signal.SIGKILL)
    assert wait_gone(pg_pid) and wait_gone(redis_pid)
    assert (data_dir / "postgres" / "data" / "postmaster.pid").exists()  # left stale
    assert discover(data_dir) is None

    second = EmbeddedServices(data_dir, fsync=False)
    try:
        addresses = second.start()
        answers(addresses)
        assert set(pids(data_dir)).isdisjoint({pg_pid, redis_pid})
        first.stop()  # the crashed instance must not touch the servers that replaced its own
        answers(addresses)
        assert discover(data_dir) == addresses
    finally:
        second.stop()
        first.stop()
    assert processes_in(data_dir) == []


@pytest.mark.parametrize("damage", ["data/PG_VERSION", "initdb.done"])
def test_half_initialised_cluster_is_recreated(data_dir: Path, damage: str) -> None:
    """No PG_VERSION, or initdb never finished (no marker): wiped and initialised again."""
    with EmbeddedServices(data_dir, fsync=False) as svc:
        create_table(svc.start(), "from_before")
    (data_dir / "postgres" / damage).unlink()

    with EmbeddedServices(data_dir, fsync=False) as svc:
        assert answers(svc.start(), table="from_before") is False
    assert processes_in(data_dir) == []


def test_stale_services_json_is_replaced(services: EmbeddedServices, data_dir: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = {
        "database_url": "postgresql://postgres@127.0.0.1:9/hitl",
        "redis_url": "redis://127.0.0.1:9/0",
        "postgres_pid": dead.pid,
        "redis_pid": dead.pid,
        "owner_pid": dead.pid,
    }
    (data_dir / "services.json").write_text(json.dumps(stale))
    assert discover(data_dir) is None

    addresses = services.start()

    answers(addresses)
    rec = record(data_dir)
    assert rec["owner_pid"] == os.getpid()
    assert all(running(pid) for pid in pids(data_dir))
    assert discover(data_dir) == addresses


def test_servers_of_a_crashed_owner_are_reused_and_adopted(data_dir: Path) -> None:
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from service.embedded import EmbeddedServices\n"
        "a = EmbeddedServices(Path(sys.argv[1]), fsync=False).start()\n"
        "print(a.database_url, a.redis_url, flush=True)\n"
        "time.sleep(600)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", code, str(data_dir)], cwd=PROJECT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        database_url, redis_url = owner.stdout.readline().split()
    finally:
        owner.kill()
        owner.wait()
    before = pids(data_dir)

    svc = EmbeddedServices(data_dir, fsync=False)
    try:
        assert svc.start() == Addresses(database_url=database_url, redis_url=redis_url)
        assert pids(data_dir) == before
        assert record(data_dir)["owner_pid"] == os.getpid()
    finally:
        svc.stop()
    assert all(wait_gone(pid) for pid in before)
    assert not (data_dir / "services.json").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another account")
def test_cluster_moves_aside_when_the_server_account_cannot_reach_the_folder() -> None:
    private = Path(tempfile.mkdtemp(prefix="hitl-private-"))  # 0700: closed to other accounts
    data_dir = private / "state"
    svc = EmbeddedServices(data_dir, fsync=False)
    try:
        answers(svc.start())
        assert not (data_dir / "postgres").exists()
        assert len(list((FALLBACK_ROOT / "clusters").glob("*/data/PG_VERSION"))) >= 1
    finally:
        svc.stop()
        cluster = svc._pg.root if svc._pg else None
        shutil.rmtree(private, ignore_errors=True)
        if cluster is not None:
            shutil.rmtree(cluster, ignore_errors=True)
