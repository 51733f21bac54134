"""Workers SIGKILLed at random while 2,000 held drafts run out of budget (issue 12): every review
ends, every outcome reaches the channel's receiver, and each `webhook-id` stands for one outcome
(a receiver that dedupes on it applies each effect once). Raw deliveries are counted too: a
worker killed between the receiver's 200 and its own commit sends that one again."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import defaultdict
from typing import Any

import asyncpg
import httpx
import pytest
from support import Receiver

from service.settings import Settings
from worker.settings import build_worker

REVIEWS = 2000


def held() -> dict[str, Any]:
    return {
        "conversation_id": f"k-{uuid.uuid4().hex[:10]}",
        "channel": "email",  # 3 s budget, on_timeout send_draft, webhook /hooks/email
        "customer_id": f"k-{uuid.uuid4().hex[:10]}",
        "message": "Can I change the delivery address of my order?",
        "draft": {"text": "Yes, reply with the new address.", "confidence": 0.4, "intent": "a"},
    }


@pytest.mark.timeout(420)
async def test_random_worker_kills_lose_nothing_and_duplicate_no_effect(
    http: httpx.AsyncClient,
    channel_key: Any,
    receiver: Receiver,
    start_worker: Any,
    db: asyncpg.Connection,
) -> None:
    key = await channel_key("email")
    auth = {"Authorization": f"Bearer {key}"}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(REVIEWS):
        queue.put_nowait(n)

    async def submit() -> None:
        while not queue.empty():
            queue.get_nowait()
            r = await http.post("/v1/turns", json=held(), headers=auth)
            assert r.status_code == 200 and r.json()["action"] == "review", r.text

    workers = [start_worker(), start_worker()]
    await asyncio.gather(*(submit() for _ in range(8)))
    rng, kills, started = random.Random(12), 0, time.monotonic()

    async def left() -> tuple[int, int]:
        pending = await db.fetchval("SELECT count(*) FROM review WHERE status = 'pending'")
        undelivered = await db.fetchval(
            "SELECT count(*) FROM outbox_event WHERE status <> 'delivered'"
        )
        return pending, undelivered

    while time.monotonic() - started < 200:
        pending, undelivered = await left()
        if pending == 0 and undelivered == 0:
            break
        await asyncio.sleep(rng.uniform(1.0, 3.0))
        victim = workers.pop(rng.randrange(len(workers)))
        victim.kill()  # SIGKILL: whatever it was doing is abandoned mid-way
        kills += 1
        workers.append(start_worker())
    # Then no more kills: a delivery caught mid-attempt stays locked for LOCK_SECONDS (60 s)
    # before the sweeper sends it again, so the last victims' work needs that long to finish.
    quiet = time.monotonic()
    while (pending or undelivered) and time.monotonic() - quiet < 120:
        await asyncio.sleep(1.0)
        pending, undelivered = await left()
    stuck = await db.fetch("SELECT * FROM outbox_event WHERE status <> 'delivered' LIMIT 5")
    assert pending == 0 and undelivered == 0, (
        f"{pending} reviews open, {undelivered} undelivered: {[dict(r) for r in stuck]}"
    )
    assert kills >= 3

    ended = await db.fetchval("SELECT count(*) FROM review WHERE status = 'expired'")
    assert ended == REVIEWS
    by_webhook: dict[str, set[str]] = defaultdict(set)
    for request in receiver.on("/hooks/email"):
        review = json.loads(request.body)["data"]["review_id"]
        by_webhook[request.headers["webhook-id"]].add(review)
    reviews = {r for rs in by_webhook.values() for r in rs}
    assert len(reviews) == REVIEWS, "every outcome arrived"
    assert len(by_webhook) == REVIEWS, "one webhook-id per outcome"
    assert all(len(rs) == 1 for rs in by_webhook.values()), "a webhook-id names one outcome"
    raw = len(receiver.on("/hooks/email"))
    print(f"{kills} workers killed; {REVIEWS} reviews ended; {raw} raw deliveries of {REVIEWS}")
    assert raw <= REVIEWS + kills, "at most one repeat for each kill"


def test_a_killed_workers_jobs_wait_about_a_minute_not_an_hour(settings: Settings) -> None:
    """arq leases a running job for the longest job timeout plus 10 s; a job of a killed worker
    waits out that lease before another worker runs it. No job may stretch it past 70 s."""
    assert build_worker(settings).in_progress_timeout_s <= 70
