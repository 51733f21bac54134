"""The whole path over real HTTP, a real worker process, real Postgres and Redis: a held draft
ends by a reviewer or by its budget, and the channel receives a verifiable signed webhook."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from typing import Any

import asyncpg
import httpx
from standardwebhooks.webhooks import Webhook
from support import Receiver, cli, wait_for


def held_turn(channel: str, conversation: str | None = None) -> dict[str, Any]:
    return {
        "conversation_id": conversation or f"c-{uuid.uuid4().hex[:8]}",
        "channel": channel,
        "customer_id": f"cust-{uuid.uuid4().hex[:6]}",  # no repeat-contact trigger
        "message": "Can I change the delivery address of my order?",
        "draft": {
            "text": "Yes, reply with the new address.",
            "confidence": 0.4,
            "intent": "address",
        },
    }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def submit(http: httpx.AsyncClient, key: str, channel: str) -> dict[str, Any]:
    r = await http.post("/v1/turns", json=held_turn(channel), headers=auth(key))
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "review", r.json()
    return r.json()["review"]  # type: ignore[no-any-return]


def verified(receiver: Receiver, path: str, secret: str) -> list[dict[str, Any]]:
    """Every request on path, checked with the reference standardwebhooks library."""
    hook = Webhook(secret)
    return [hook.verify(r.body, r.headers) for r in receiver.on(path)]


async def test_reviewer_edit_reaches_the_channel_signed(
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    receiver: Receiver,
    start_worker: Any,
    settings: Any,
) -> None:
    start_worker()
    key, token = await channel_key("letters"), await reviewer()
    review = await submit(http, key, "letters")
    listed = (await http.get("/v1/reviews?status=open", headers=auth(token))).json()
    assert [r["id"] for r in listed] == [review["id"]]
    r = await http.post(
        f"/v1/reviews/{review['id']}/edit",
        json={"text": "Sure: send it here."},
        headers=auth(token),
    )
    assert r.status_code == 200, r.text
    code, secret, _ = await cli(settings, "webhooks", "secret", "letters")
    assert code == 0 and secret.startswith("whsec_")
    events = await asyncio.to_thread(
        wait_for, lambda: verified(receiver, "/hooks/letters", secret.strip()), 10
    )
    assert events[0]["type"] == "review.completed"
    assert events[0]["data"]["final_text"] == "Sure: send it here."
    assert (
        events[0]["data"]["outcome"] == "edited" and events[0]["data"]["by"] == "rita@example.com"
    )
    got = (await http.get(f"/v1/reviews/{review['id']}", headers=auth(key))).json()
    assert got["status"] == "edited" and got["outcome_by"] == "reviewer"


async def test_budget_expiry_applies_each_on_timeout(
    http: httpx.AsyncClient,
    channel_key: Any,
    receiver: Receiver,
    start_worker: Any,
    db: asyncpg.Connection,
) -> None:
    start_worker()
    reviews = {
        ch: await submit(http, await channel_key(ch), ch) for ch in ("email", "sms", "forms")
    }
    for channel in reviews:
        await asyncio.to_thread(wait_for, lambda c=channel: receiver.on(f"/hooks/{c}"), 10)
    rows = {
        r["id"]: r
        for r in await db.fetch(
            "SELECT id::text, status, fallback, final_text, outcome_by, draft_text, "
            "EXTRACT(EPOCH FROM decided_at - deadline) AS late FROM review"
        )
    }
    email, sms, forms = (rows[reviews[c]["id"]] for c in ("email", "sms", "forms"))
    assert (email["status"], email["fallback"], email["final_text"]) == (
        "expired",
        "send_draft",
        email["draft_text"],
    )
    assert (sms["fallback"], sms["final_text"]) == (
        "holding_message",
        "We are on it and will reply shortly.",
    )
    assert forms["fallback"] == "transfer" and forms["final_text"] is None
    for row in rows.values():
        assert row["outcome_by"] == "timeout"
        assert 0 <= row["late"] < 1.0, f"fallback fired {row['late']:.2f}s after the deadline"
    transfer = await db.fetchrow("SELECT reason, team, status FROM transfer")
    assert (transfer["reason"], transfer["team"]) == ("timeout", "general")
    types = [json.loads(r.body)["type"] for r in receiver.on("/hooks/forms")]
    await asyncio.to_thread(wait_for, lambda: len(receiver.on("/hooks/forms")) >= 2, 10)
    types = sorted(json.loads(r.body)["type"] for r in receiver.on("/hooks/forms"))
    assert types == ["review.completed", "transfer.created"]


async def test_two_reviewers_race_exactly_one_wins(
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    db: asyncpg.Connection,
) -> None:
    key = await channel_key("letters")
    rita, sam = await reviewer("rita@example.com"), await reviewer("sam@example.com")
    for _ in range(5):
        review = await submit(http, key, "letters")
        answers = await asyncio.gather(
            http.post(f"/v1/reviews/{review['id']}/approve", headers=auth(rita)),
            http.post(f"/v1/reviews/{review['id']}/edit", json={"text": "x"}, headers=auth(sam)),
        )
        assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
        loser = next(r for r in answers if r.status_code == 409).json()
        assert loser["extra"]["review"]["status"] in ("approved", "edited")
    assert await db.fetchval("SELECT count(*) FROM outbox_event") == 5


async def test_claim_lease_release_and_next(
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
) -> None:
    key = await channel_key("letters")
    rita, sam = await reviewer("rita@example.com"), await reviewer("sam@example.com")
    first, second = await submit(http, key, "letters"), await submit(http, key, "letters")
    claimed = await http.post("/v1/reviews/next", headers=auth(rita))
    assert claimed.status_code == 200 and claimed.json()["id"] == first["id"]
    taken = await http.post(f"/v1/reviews/{first['id']}/claim", headers=auth(sam))
    assert taken.status_code == 409 and "rita@example.com" in taken.json()["detail"]
    assert (
        await http.post(f"/v1/reviews/{first['id']}/approve", headers=auth(sam))
    ).status_code == 409
    assert (await http.post("/v1/reviews/next", headers=auth(sam))).json()["id"] == second["id"]
    assert (await http.post("/v1/reviews/next", headers=auth(sam))).status_code == 204
    assert (
        await http.post(f"/v1/reviews/{first['id']}/release", headers=auth(rita))
    ).status_code == 200
    over = await http.post(f"/v1/reviews/{first['id']}/take-over", headers=auth(sam))
    assert over.status_code == 200 and over.json()["status"] == "taken_over"


async def test_other_teams_reviews_are_forbidden(
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
) -> None:
    key = await channel_key("letters")
    outsider = await reviewer("lena@example.com", teams=("legal",))
    review = await submit(http, key, "letters")
    assert (await http.get("/v1/reviews?status=open", headers=auth(outsider))).json() == []
    r = await http.post(f"/v1/reviews/{review['id']}/approve", headers=auth(outsider))
    assert r.status_code == 403
    assert (await http.get("/v1/reviews", headers=auth("hitl_rt_nope"))).status_code == 401


async def test_killed_worker_loses_nothing(
    http: httpx.AsyncClient,
    channel_key: Any,
    start_worker: Any,
    db: asyncpg.Connection,
    settings: Any,
) -> None:
    worker = start_worker()
    key = await channel_key("email")
    reviews = [await submit(http, key, "email") for _ in range(5)]
    worker.kill()  # SIGKILL: jobs in flight and deferred jobs are abandoned
    await asyncio.sleep(4)  # every deadline passes while no worker runs
    assert await db.fetchval("SELECT count(*) FROM review WHERE status = 'pending'") == 5
    restarted = time.monotonic()
    start_worker()
    await asyncio.to_thread(wait_for, lambda: _all_ended(settings, len(reviews)), 20)
    # Ended within one sweeper interval of the worker coming back (plus its start-up).
    assert time.monotonic() - restarted < settings.sweep_interval_seconds + 8


async def test_redis_flushall_loses_nothing(
    http: httpx.AsyncClient,
    channel_key: Any,
    start_worker: Any,
    redis_client: Any,
    receiver: Receiver,
    servers: dict[str, Any],
    settings: Any,
) -> None:
    key = await channel_key("email")
    reviews = [await submit(http, key, "email") for _ in range(5)]
    # Every deadline job and queue key vanishes before any worker saw it.
    await (redis_client.flushall() if servers["embedded"] else redis_client.flushdb())
    start_worker()
    await asyncio.to_thread(wait_for, lambda: _all_ended(settings, len(reviews)), 20)
    await asyncio.to_thread(wait_for, lambda: len(receiver.on("/hooks/email")) >= 5, 20)
    ids = {json.loads(r.body)["data"]["review_id"] for r in receiver.on("/hooks/email")}
    assert ids == {r["id"] for r in reviews}


async def test_failing_receiver_gets_one_delivery_with_a_stable_id(
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    receiver: Receiver,
    start_worker: Any,
    db: asyncpg.Connection,
) -> None:
    start_worker()
    receiver.failures_left["/hooks/letters"] = 3
    key, token = await channel_key("letters"), await reviewer()
    review = await submit(http, key, "letters")
    await http.post(f"/v1/reviews/{review['id']}/approve", headers=auth(token))
    await asyncio.to_thread(wait_for, lambda: len(receiver.on("/hooks/letters")) >= 4, 20)
    await asyncio.sleep(1.5)  # time for a wrong extra attempt to show up
    attempts = receiver.on("/hooks/letters")
    assert len(attempts) == 4, "3 failures, then exactly one accepted delivery"
    assert len({a.headers["webhook-id"] for a in attempts}) == 1
    row = await db.fetchrow("SELECT status, attempts FROM outbox_event")
    assert (row["status"], row["attempts"]) == ("delivered", 4)
    gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
    assert all(g >= 0.09 for g in gaps), f"retries must back off, saw gaps {gaps}"


def _all_ended(settings: Any, expected: int) -> bool:
    async def count() -> int:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM review WHERE status = 'expired' AND outcome_by = 'timeout'"
                )
            )
        finally:
            await conn.close()

    return asyncio.run(count()) == expected
