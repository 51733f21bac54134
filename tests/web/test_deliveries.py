"""Webhook deliveries when the receiver misbehaves (issue 12), over real HTTP, a real worker,
real Postgres and Redis; the receiver is the double (we do not own it). A long outage on a
fast clock (backoff 0.2 s to 1 s), 410 Gone switching the endpoint off, deliveries that ran out
of time shown to supervisors with a retry, and each `webhook-id`'s effect arriving once."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import asyncpg
import httpx
from support import Receiver, wait_for
from ui_client import Desk, held_turn, submit

HOOK = "/hooks/letters"


async def approve_all(http: httpx.AsyncClient, key: str, token: str, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        review = await submit(http, key, held_turn("letters"))
        r = await http.post(
            f"/v1/reviews/{review}/approve", headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200, r.text
        ids.append(review)
    return ids


def accepted(receiver: Receiver) -> Counter[str]:
    """How many times each review's outcome reached the receiver."""
    return Counter(json.loads(r.body)["data"]["review_id"] for r in receiver.on(HOOK))


async def status_becomes(db: asyncpg.Connection, event: Any, wanted: str) -> None:
    for _ in range(200):
        if await db.fetchval("SELECT status FROM outbox_event WHERE id = $1", event) == wanted:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"delivery {event} did not become {wanted}")


async def failed_become(db: asyncpg.Connection, wanted: int) -> None:
    """Polls until that many deliveries have given up."""
    for _ in range(200):
        sql = "SELECT count(*) FROM outbox_event WHERE status = 'failed'"
        if (n := await db.fetchval(sql)) == wanted:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{n} deliveries gave up, not {wanted}")


async def test_a_long_outage_then_everything_arrives_once(
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    receiver: Receiver,
    start_worker: Any,
    db: asyncpg.Connection,
) -> None:
    start_worker()
    receiver.failures_left[HOOK] = 40  # about eight failed attempts for each of five
    key, token = await channel_key("letters"), await reviewer()
    ids = await approve_all(http, key, token, 5)
    await asyncio.to_thread(
        wait_for,
        lambda: not receiver.failures_left.get(HOOK) and len(receiver.on(HOOK)) >= 45,
        60,
    )
    await asyncio.sleep(2)  # time for a wrong extra attempt to show up
    attempts = receiver.on(HOOK)
    assert len(attempts) == 45, "40 refused attempts, then exactly one accepted for each"
    by_id = Counter(a.headers["webhook-id"] for a in attempts)
    assert len(by_id) == 5, "one webhook-id per outcome, the same on every attempt"
    assert set(accepted(receiver)) == set(ids)
    rows = await db.fetch("SELECT status, attempts FROM outbox_event WHERE channel = 'letters'")
    assert {r["status"] for r in rows} == {"delivered"}
    assert sum(r["attempts"] for r in rows) == 45


async def test_410_gone_switches_the_endpoint_off_until_a_supervisor_retries(
    server: str,
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    receiver: Receiver,
    start_worker: Any,
    db: asyncpg.Connection,
) -> None:
    start_worker()
    receiver.answer[HOOK] = 410
    key, token = await channel_key("letters"), await reviewer()
    await reviewer("boss@example.com", role="supervisor")
    first = await approve_all(http, key, token, 1)
    await asyncio.to_thread(wait_for, lambda: len(receiver.on(HOOK)) == 1, 20)

    await failed_become(db, 1)
    later = await approve_all(http, key, token, 2)  # while the endpoint is off
    await failed_become(db, 3)
    assert len(receiver.on(HOOK)) == 1, "nothing more is sent to an endpoint that said 410"
    errors = await db.fetch("SELECT last_error FROM outbox_event ORDER BY created_at")
    assert errors[0]["last_error"] == "HTTP 410 Gone"
    assert all("endpoint is disabled" in e["last_error"] for e in errors[1:])

    async with Desk(server) as boss:
        await boss.sign_in("boss@example.com")
        page = (await boss.get("/ui/supervisor")).text
        assert "Webhook deliveries that gave up (3)" in page
        assert 'data-testid="endpoint-disabled"' in page and "HTTP 410 Gone" in page
        receiver.answer.clear()  # the receiver is fixed
        done = await boss.post("/ui/supervisor/deliveries/retry", {"channel": "letters"})
        assert done.status_code == 303
        await asyncio.to_thread(wait_for, lambda: len(receiver.on(HOOK)) == 4, 20)
        await asyncio.sleep(1.5)
        assert accepted(receiver) == Counter({first[0]: 2, later[0]: 1, later[1]: 1})
        page = (await boss.get("/ui/supervisor")).text
        assert "Every webhook delivery arrived or is still being tried." in page
        assert 'data-testid="endpoint-disabled"' not in page
    audit = await db.fetchval("SELECT count(*) FROM audit_event WHERE kind = 'webhook.retried'")
    assert audit == 1


async def test_deliveries_that_ran_out_of_time_are_retried_from_the_desk(
    server: str,
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    receiver: Receiver,
    start_worker: Any,
    db: asyncpg.Connection,
) -> None:
    start_worker(HITL_WEBHOOK_RETRY_FOR_SECONDS="2")
    receiver.failures_left[HOOK] = 10_000  # down for longer than the retry window
    key, token = await channel_key("letters"), await reviewer()
    await reviewer("boss@example.com", role="supervisor")
    await reviewer("rita2@example.com")
    ids = await approve_all(http, key, token, 2)
    await failed_become(db, 2)  # given up once the window ran out
    tried = len(receiver.on(HOOK))
    assert tried >= 2
    event = await db.fetchval(
        "SELECT id FROM outbox_event WHERE payload->'data'->>'review_id' = $1", ids[0]
    )
    async with Desk(server) as rita:  # a reviewer may not retry
        await rita.sign_in("rita2@example.com")
        refused = await rita.post(f"/ui/supervisor/deliveries/{event}/retry")
        assert refused.status_code == 403
    async with Desk(server) as boss:
        await boss.sign_in("boss@example.com")
        page = (await boss.get("/ui/supervisor")).text
        assert (
            'data-testid="given-up"' in page and f"/ui/supervisor/deliveries/{event}/retry" in page
        )
        receiver.failures_left.clear()
        assert (await boss.post(f"/ui/supervisor/deliveries/{event}/retry")).status_code == 303
        await status_becomes(db, event, "delivered")
        assert receiver.on(HOOK)[-1].headers["webhook-id"] == str(event)
        again = await boss.post(f"/ui/supervisor/deliveries/{event}/retry")  # done already
        assert again.status_code == 303
        assert "not waiting for a retry" in (await boss.get("/ui/supervisor")).text
    rows = {r["id"]: r for r in await db.fetch("SELECT id, status, attempts FROM outbox_event")}
    assert rows[event]["status"] == "delivered"
    assert [r["status"] for i, r in rows.items() if i != event] == ["failed"], "the other waits"
