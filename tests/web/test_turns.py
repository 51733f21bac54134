"""POST /v1/turns over real HTTP: decisions, idempotency, and every kind of bad input."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from support import Process, free_port, process_env, wait_http_ready

DSN = (
    "SELECT 'postgresql://' || current_user || '@127.0.0.1:' || "
    "current_setting('port') || '/' || current_database()"
)


def turn(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "conversation_id": f"c-{uuid.uuid4().hex[:8]}",
        "channel": "email",
        "customer_id": "cust-1",
        "message": "Where is my parcel? It was due on Monday.",
        "draft": {
            "text": "Your parcel is on its way.",
            "confidence": 0.9,
            "intent": "order_status",
        },
    }
    return body | overrides


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_confident_draft_is_sent(
    http: httpx.AsyncClient, channel_key: Any, db: asyncpg.Connection
) -> None:
    key = await channel_key("email")
    r = await http.post("/v1/turns", json=turn(), headers=auth(key))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["action"] == "send"
    assert body["review"] is None and body["transfer"] is None
    assert len(body["policy_version"]) == 64
    row = await db.fetchrow("SELECT action, policy_version FROM decision")
    assert row["action"] == "send" and row["policy_version"] == body["policy_version"]


async def test_low_confidence_on_async_channel_is_held(
    http: httpx.AsyncClient, channel_key: Any, db: asyncpg.Connection
) -> None:
    key = await channel_key("email")
    r = await http.post(
        "/v1/turns", json=turn(draft={"text": "Maybe?", "confidence": 0.3}), headers=auth(key)
    )
    body = r.json()
    assert body["action"] == "review", body
    assert body["review"]["status"] == "pending" and body["review"]["deadline"]
    assert [t["type"] for t in body["triggers"]] == ["confidence"]
    got = await http.get(f"/v1/reviews/{body['review']['id']}", headers=auth(key))
    assert got.status_code == 200
    assert got.json()["status"] == "pending" and got.json()["final_text"] is None
    counts = await db.fetchrow(
        "SELECT (SELECT count(*) FROM turn) t, (SELECT count(*) FROM decision) d, "
        "(SELECT count(*) FROM review) r, (SELECT count(*) FROM audit_event) a"
    )
    assert tuple(counts) == (1, 1, 1, 1)


async def test_low_confidence_on_sync_channel_transfers_at_once(
    http: httpx.AsyncClient, channel_key: Any, db: asyncpg.Connection
) -> None:
    key = await channel_key("chat")
    r = await http.post(
        "/v1/turns",
        json=turn(channel="chat", draft={"text": "Hm", "confidence": 0.2}),
        headers=auth(key),
    )
    body = r.json()
    assert body["action"] == "transfer" and body["review"] is None
    assert body["transfer"]["team"] == "general"
    assert await db.fetchval("SELECT count(*) FROM review") == 0
    assert await db.fetchval("SELECT status FROM transfer") == "created"


async def test_explicit_request_transfers_whatever_the_confidence(
    http: httpx.AsyncClient, channel_key: Any
) -> None:
    key = await channel_key("email")
    r = await http.post(
        "/v1/turns", json=turn(message="I want to talk to a human agent now"), headers=auth(key)
    )
    body = r.json()
    assert body["action"] == "transfer", body
    assert body["transfer"]["mode"] == "warm" and body["transfer"]["summary"]
    assert "explicit_request" in [t["type"] for t in body["triggers"]]


async def test_idempotent_retry_returns_first_answer_and_creates_nothing(
    http: httpx.AsyncClient, channel_key: Any, db: asyncpg.Connection
) -> None:
    key = await channel_key("email")
    body = turn(draft={"text": "Maybe?", "confidence": 0.3})
    headers = auth(key) | {"Idempotency-Key": "retry-1"}
    first = await http.post("/v1/turns", json=body, headers=headers)
    second = await http.post("/v1/turns", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert await db.fetchval("SELECT count(*) FROM turn") == 1
    assert await db.fetchval("SELECT count(*) FROM review") == 1


async def test_concurrent_retries_create_one_turn(
    http: httpx.AsyncClient, channel_key: Any, db: asyncpg.Connection
) -> None:
    import asyncio

    key = await channel_key("email")
    body = turn(draft={"text": "Maybe?", "confidence": 0.3})
    headers = auth(key) | {"Idempotency-Key": "race-1"}
    answers = await asyncio.gather(
        *[http.post("/v1/turns", json=body, headers=headers) for _ in range(50)]
    )
    assert {r.status_code for r in answers} == {200}
    assert len({r.text for r in answers}) == 1, "50 identical answers, deadline included"
    for table in ("turn", "decision", "review"):
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == 1, table


async def test_new_turn_supersedes_the_open_review(
    http: httpx.AsyncClient, channel_key: Any
) -> None:
    key = await channel_key("email")
    low = {"text": "Maybe?", "confidence": 0.3}
    first = (
        await http.post(
            "/v1/turns", json=turn(conversation_id="c-sup", draft=low), headers=auth(key)
        )
    ).json()
    second = (
        await http.post(
            "/v1/turns", json=turn(conversation_id="c-sup", draft=low), headers=auth(key)
        )
    ).json()
    old = (await http.get(f"/v1/reviews/{first['review']['id']}", headers=auth(key))).json()
    assert old["status"] == "superseded"
    assert second["review"]["status"] == "pending"


BAD_BODIES = [
    ("draft.confidence", turn(draft={"text": "x", "confidence": 1.5})),
    ("draft.confidence", turn(draft={"text": "x", "confidence": "high"})),
    ("draft", {k: v for k, v in turn().items() if k != "draft"}),
    ("conversation_id", {k: v for k, v in turn().items() if k != "conversation_id"}),
    ("sentiment", turn(sentiment=-3)),
    ("topics", turn(topics="legal")),
    ("message", turn(message=None)),
]


async def test_bad_fields_are_named(http: httpx.AsyncClient, channel_key: Any) -> None:
    key = await channel_key("email")
    for field, body in BAD_BODIES:
        r = await http.post("/v1/turns", json=body, headers=auth(key))
        assert r.status_code == 400, (field, r.text)
        answer = r.json()
        assert answer["status_code"] == 400 and field in answer["detail"], (field, answer)


async def test_malformed_json_is_400(http: httpx.AsyncClient, channel_key: Any) -> None:
    key = await channel_key("email")
    r = await http.post(
        "/v1/turns",
        content=b'{"conversation_id": ',
        headers=auth(key) | {"content-type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert "body" in r.json()["detail"].lower() or "json" in r.json()["detail"].lower()


async def test_oversized_body_is_413(http: httpx.AsyncClient, channel_key: Any) -> None:
    key = await channel_key("email")
    r = await http.post("/v1/turns", json=turn(message="x" * 300_000), headers=auth(key))
    assert r.status_code == 413, r.text
    # Exactly at the cap (256 KiB, whitespace-padded JSON) is read; one byte over is not.
    body = json.dumps(turn()).encode()
    headers = auth(key) | {"content-type": "application/json"}
    at_cap = body[:-1] + b" " * (256 * 1024 - len(body)) + b"}"
    assert len(at_cap) == 256 * 1024
    assert (await http.post("/v1/turns", content=at_cap, headers=headers)).status_code == 200
    over = body[:-1] + b" " * (256 * 1024 - len(body) + 1) + b"}"
    r = await http.post("/v1/turns", content=over, headers=headers)
    assert r.status_code == 413 and "256 KiB" in r.json()["detail"], r.text


async def test_auth_and_channel_errors(http: httpx.AsyncClient, channel_key: Any) -> None:
    key = await channel_key("email")
    assert (await http.post("/v1/turns", json=turn())).status_code == 401
    assert (
        await http.post("/v1/turns", json=turn(), headers=auth("hitl_ck_wrong"))
    ).status_code == 401
    r = await http.post("/v1/turns", json=turn(channel="fax"), headers=auth(key))
    assert r.status_code == 400 and "channel" in r.json()["detail"]
    r = await http.post("/v1/turns", json=turn(channel="sms"), headers=auth(key))
    assert r.status_code == 403


async def test_another_channels_review_is_403(http: httpx.AsyncClient, channel_key: Any) -> None:
    email, sms = await channel_key("email"), await channel_key("sms")
    held = (
        await http.post(
            "/v1/turns", json=turn(draft={"text": "?", "confidence": 0.1}), headers=auth(email)
        )
    ).json()
    r = await http.get(f"/v1/reviews/{held['review']['id']}", headers=auth(sms))
    assert r.status_code == 403
    r = await http.get(f"/v1/reviews/{uuid.uuid4()}", headers=auth(email))
    assert r.status_code == 404


async def test_operations_endpoints(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).status_code == 200
    assert (await http.get("/readyz")).json()["checks"] == {"postgres": "ok", "redis": "ok"}
    assert "hitl_decisions_total" in (await http.get("/metrics")).text
    schema = (await http.get("/schema/openapi.json")).json()
    assert "/v1/turns" in schema["paths"]


async def test_hostile_probes_get_a_named_4xx(http: httpx.AsyncClient, channel_key: Any) -> None:
    """The probes of issue 12's table: never a 500."""
    key = await channel_key("email")
    r = await http.post("/v1/turns", json=turn(message="hello\x00world"), headers=auth(key))
    assert r.status_code == 400 and "message" in r.json()["detail"], r.text
    r = await http.post("/v1/turns", json=turn(channel=""), headers=auth(key))
    assert r.status_code == 400 and "channel" in r.json()["detail"], r.text
    deep = b'{"a": ' * 5000 + b"1" + b"}" * 5000
    for headers in ({}, auth(key)):
        r = await http.post(
            "/v1/turns", content=deep, headers=headers | {"content-type": "application/json"}
        )
        assert r.status_code == 400 and "body" in r.json()["detail"], r.text


async def test_a_reused_idempotency_key_with_another_body_is_422(
    http: httpx.AsyncClient, channel_key: Any, db: asyncpg.Connection
) -> None:
    key = await channel_key("email")
    headers = auth(key) | {"Idempotency-Key": "reuse-1"}
    first = await http.post("/v1/turns", json=turn(conversation_id="c-r1"), headers=headers)
    assert first.status_code == 200
    other = await http.post(
        "/v1/turns", json=turn(conversation_id="c-r1", message="something else"), headers=headers
    )
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"], other.text
    again = await http.post("/v1/turns", json=turn(conversation_id="c-r1"), headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert await db.fetchval("SELECT count(*) FROM turn") == 1


async def test_a_stalled_database_fails_fast_with_503(
    settings: Any, channel_key: Any, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A table locked by someone else (a migration, a stuck transaction): the turn gives up at
    the statement timeout with a 503 and Retry-After, instead of hanging; then all is well."""
    key = await channel_key("email")
    port = free_port()
    env = process_env(settings) | {"HITL_PORT": str(port), "HITL_DB_STATEMENT_TIMEOUT_SECONDS": "1"}
    proc = Process(["serve"], env, tmp_path / "slow.log")
    base = f"http://127.0.0.1:{port}"
    body = {
        "conversation_id": "stalled-1",
        "channel": "email",
        "customer_id": "cust-stalled",
        "message": "Where is my parcel?",
        "draft": {"text": "On its way.", "confidence": 0.9, "intent": "order_status"},
    }
    try:
        wait_http_ready(f"{base}/readyz", proc)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            headers = {"Authorization": f"Bearer {key}"}
            locker = await asyncpg.connect(await db.fetchval(DSN))
            try:
                async with locker.transaction():
                    await locker.execute("LOCK TABLE conversation IN ACCESS EXCLUSIVE MODE")
                    started = time.monotonic()
                    r = await client.post("/v1/turns", json=body, headers=headers)
                    took = time.monotonic() - started
            finally:
                await locker.close()
            assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
            assert took < 4.0, f"the turn hung for {took:.1f} s"
            r = await client.post("/v1/turns", json=body, headers=headers)
            assert r.status_code == 200, r.text
    finally:
        proc.stop()
