"""Shared fixtures: real PostgreSQL and Redis (embedded unless HITL_TEST_* name servers), a
migrated database of this run's own, a test policy, and real `hitl` server/worker processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from support import (
    LOGS,
    ROOT,
    Process,
    Receiver,
    free_port,
    process_env,
    start_receiver,
    wait_http_ready,
)

from service import db as database
from service.channels import keys
from service.reviewers import accounts
from service.settings import Settings, to_libpq_url

T = TypeVar("T")
TABLES = (
    "audit_event, outbox_event, transfer, review, decision, turn, conversation, "
    "reviewer_token, reviewer_team, reviewer, team, channel_key, channel_secret"
)

POLICY = """\
version: 1
channels:
  chat: {{ mode: sync }}
  voice: {{ mode: sync }}
  email: {{ mode: async, latency_budget: 3s, on_timeout: send_draft, webhook_url: "{hook}/email" }}
  sms:
    mode: async
    latency_budget: 3s
    on_timeout: holding_message
    webhook_url: "{hook}/sms"
    holding_message: "We are on it and will reply shortly."
  forms: {{ mode: async, latency_budget: 3s, on_timeout: transfer, webhook_url: "{hook}/forms" }}
  letters: {{ mode: async, latency_budget: 1h, on_timeout: send_draft, webhook_url: "{hook}/letters" }}
confidence: {{ threshold: 0.7 }}
triggers:
  explicit_request: {{ transfer: warm, team: general }}
  sentiment: {{ threshold: -0.5, window: 3, min_negative: 2, transfer: warm, team: care }}
  distress: {{ categories: [self_harm, violence, abuse, emergency, bereavement], transfer: warm, team: care }}
  topics:
    - {{ name: legal, labels: [legal], keywords: [lawyer*, sue], transfer: warm, team: legal }}
  repeat_contact: {{ window: 72h, transfer: warm, team: general }}
  loop: {{ max_same_intent: 3, transfer: warm, team: general }}
routing:
  default_team: general
  rules:
    - {{ when: {{ trigger: explicit_request, intent: after_hours }}, team: night }}
    - {{ when: {{ trigger: explicit_request, intent: invoice_copy }}, team: billing }}
teams:
  general: {{ offer_timeout: 2s }}
  care: {{}}
  legal: {{}}
  billing: {{ no_one_online: {{ after: 1s, team: general }} }}
  night: {{ no_one_online: {{ after: 1s, holding_message: "We are closed; a person replies at 8am." }} }}
webhooks: {{ allow_private_addresses: true }}
"""


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hitl-state")


@pytest.fixture(scope="session")
def servers() -> Iterator[dict[str, Any]]:
    """Base URLs of the PostgreSQL and Redis servers the run uses."""
    db_url = os.environ.get("HITL_TEST_DATABASE_URL")
    redis_url = os.environ.get("HITL_TEST_REDIS_URL")
    if db_url and redis_url:
        yield {"database_url": to_libpq_url(db_url), "redis_url": redis_url, "embedded": False}
        return
    from service.embedded import EmbeddedServices

    # A folder of this run's own (initdb takes about a second): two runs at once, or a run
    # beside `hitl up`, never share or stop each other's servers. fsync off for speed.
    folder = ROOT / ".hitl" / f"test-services-{os.getpid()}"
    services = EmbeddedServices(folder, fsync=False)
    found = services.start()
    try:
        yield {
            "database_url": db_url or found.database_url,
            "redis_url": redis_url or found.redis_url,
            "embedded": True,
        }
    finally:
        services.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(servers: dict[str, Any]) -> Iterator[str]:
    """A fresh database for this run, migrated with Alembic; dropped at the end."""
    from service.migrate import upgrade

    base = servers["database_url"]
    name = f"hitl_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    yield url
    asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(to_libpq_url(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    recv, server = start_receiver()
    yield recv
    server.shutdown()


@pytest.fixture(scope="session")
def policy_path(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Path:
    path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_text(POLICY.format(hook=receiver.url("/hooks")))
    return path


@pytest.fixture(scope="session")
def settings(
    servers: dict[str, Any], database_url: str, policy_path: Path, state_dir: Path
) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=servers["redis_url"],
        policy_path=policy_path,
        state_dir=state_dir,
        redis_prefix=f"hitl-test-{uuid.uuid4().hex[:8]}",
        sweep_interval_seconds=1,
        webhook_backoff_base_seconds=0.2,
        webhook_backoff_max_seconds=1.0,
        secret_key="test-secret-key",
    )


@pytest.fixture(scope="session")
def server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `hitl serve` process; yields its base URL."""
    port = free_port()
    env = process_env(settings) | {"HITL_PORT": str(port)}
    log = tmp_path_factory.mktemp("logs") / "serve.log"
    LOGS["serve"] = log
    proc = Process(["serve"], env, log)
    base = f"http://127.0.0.1:{port}"
    wait_http_ready(f"{base}/readyz", proc)
    yield base
    proc.stop()


@pytest.fixture
def start_worker(settings: Settings, tmp_path: Path) -> Iterator[Any]:
    """Starts real `hitl worker` processes; every one is stopped after the test."""
    started: list[Process] = []

    def start(**env: str) -> Process:
        log = tmp_path / f"worker{len(started)}.log"
        proc = Process(["worker"], process_env(settings) | env, log)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection for assertions; every table is emptied before the test."""
    conn = await asyncpg.connect(to_libpq_url(settings.database_url or ""))
    await conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    yield conn
    await conn.close()


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(settings.redis_url or "")
    yield client
    await client.aclose()


@pytest.fixture
async def fresh_sign_in_limits(redis_client: aioredis.Redis, settings: Settings) -> None:
    """The sign-in limit counts per address for 15 minutes: every test's wrong passwords come
    from 127.0.0.1. A test that counts refusals starts from none."""
    keys = await redis_client.keys(f"{settings.redis_prefix}:signin:*")
    if keys:
        await redis_client.delete(*keys)


@pytest.fixture
async def http(server: str, receiver: Receiver) -> AsyncIterator[httpx.AsyncClient]:
    receiver.clear()
    async with httpx.AsyncClient(base_url=server, timeout=15.0) as client:
        yield client


async def in_service(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Runs a use-case in one transaction, in this process. The fixtures below call what `hitl
    keys create` and `hitl users create|token` call: starting the command itself costs 1.3 s
    of imports, and most tests want a key and a person (test_cli runs the commands)."""
    conn = await database.connect(settings)
    try:
        async with conn.transaction():
            return await work(conn)
    finally:
        await conn.close()


@pytest.fixture
async def channel_key(db: asyncpg.Connection, settings: Settings) -> Any:
    """Issue a key for a channel, as `hitl keys create` does."""

    async def issue(channel: str = "email") -> str:
        return await in_service(settings, lambda c: keys.create_key(c, channel))

    return issue


@pytest.fixture
async def reviewer(db: asyncpg.Connection, settings: Settings) -> Any:
    """Create a reviewer (password "correct horse battery"), as `hitl users create` does;
    returns a bearer token for them, as `hitl users token` makes."""

    async def create(
        email: str = "rita@example.com",
        teams: tuple[str, ...] = ("general",),
        role: str = "reviewer",
    ) -> str:
        async def work(conn: Any) -> str:
            await accounts.create_user(conn, email, role, teams, "correct horse battery")
            return await accounts.create_token(conn, email)

        return await in_service(settings, work)

    return create
