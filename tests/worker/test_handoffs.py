"""Transfers end to end over HTTP with a real worker: offers move on when unanswered, then the
team queue; accept and close reach the channel as signed webhooks; the AI gets the conversation back."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import httpx
from support import Receiver, wait_for


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def request_a_person(
    http: httpx.AsyncClient, key: str, channel: str = "letters"
) -> dict[str, Any]:
    r = await http.post(
        "/v1/turns",
        headers=auth(key),
        json={
            "conversation_id": f"h-{uuid.uuid4().hex[:8]}",
            "channel": channel,
            "customer_id": f"cust-{uuid.uuid4().hex[:6]}",
            "message": "Third message about this now. Could I please speak with an actual person?",
            "draft": {"text": "I can help with that.", "confidence": 0.9, "intent": "refund"},
        },
    )
    assert r.status_code == 200 and r.json()["action"] == "transfer", r.text
    return r.json()["transfer"]  # type: ignore[no-any-return]


async def online(http: httpx.AsyncClient, token: str) -> None:
    r = await http.put("/v1/me/presence", json={"presence": "online"}, headers=auth(token))
    assert r.status_code == 200, r.text


async def test_unanswered_offers_move_on_then_queue_then_accept_and_close(
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    receiver: Receiver,
    start_worker: Any,
    db: asyncpg.Connection,
) -> None:
    start_worker()
    key = await channel_key("letters")
    ann, bob = await reviewer("ann@example.com"), await reviewer("bob@example.com")
    await online(http, ann)
    await online(http, bob)
    transfer = await request_a_person(http, key)
    assert transfer["mode"] == "warm" and transfer["summary"]["transcript"]

    def steps() -> list[str]:
        async def read() -> list[str]:
            conn = await asyncpg.connect(dsn)
            try:
                rows = await conn.fetch(
                    "SELECT status FROM transfer_event WHERE transfer_id = $1 ORDER BY id",
                    uuid.UUID(transfer["id"]),
                )
                return [r["status"] for r in rows]
            finally:
                await conn.close()

        return asyncio.run(read())

    dsn = await db.fetchval(
        "SELECT 'postgresql://' || current_user || '@127.0.0.1:' || "
        "current_setting('port') || '/' || current_database()"
    )
    # general's offer_timeout is 2 s: ann, then bob, let it lapse; then it waits in the queue.
    await asyncio.to_thread(wait_for, lambda: steps().count("offer_lapsed") == 2, 15)
    await asyncio.to_thread(wait_for, lambda: "queued" in steps(), 5)
    seen = (await http.get(f"/v1/transfers/{transfer['id']}", headers=auth(key))).json()
    assert seen["status"] == "queued" and seen["assigned_to"] is None
    offered_to = await db.fetch(
        "SELECT detail->>'agent' AS agent FROM transfer_event WHERE status = 'offered' ORDER BY id"
    )
    assert len({r["agent"] for r in offered_to}) == 2, "the second offer went to the other agent"

    accepted = await http.post(f"/v1/transfers/{transfer['id']}/accept", headers=auth(bob))
    assert accepted.status_code == 200 and accepted.json()["assigned_to"] == "bob@example.com"
    again = await http.post(f"/v1/transfers/{transfer['id']}/accept", headers=auth(ann))
    assert again.status_code == 409
    closed = await http.post(
        f"/v1/transfers/{transfer['id']}/close",
        headers=auth(bob),
        json={"resolution": "refund issued, customer happy"},
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed"

    def kinds() -> list[str]:
        return [json.loads(r.body)["type"] for r in receiver.on("/hooks/letters")]

    await asyncio.to_thread(wait_for, lambda: len(kinds()) >= 3, 10)
    assert sorted(kinds()) == ["transfer.accepted", "transfer.closed", "transfer.created"]
    closed_event = next(
        json.loads(r.body)
        for r in receiver.on("/hooks/letters")
        if json.loads(r.body)["type"] == "transfer.closed"
    )
    assert closed_event["data"]["resolution"] == "refund issued, customer happy"
    assert await db.fetchval("SELECT handled_by FROM conversation") == "ai"
    assert await db.fetchval("SELECT sum(active_transfers) FROM reviewer") == 0


async def test_transfer_reads_and_cancel_respect_the_channel(
    http: httpx.AsyncClient,
    channel_key: Any,
) -> None:
    letters, sms = await channel_key("letters"), await channel_key("sms")
    transfer = await request_a_person(http, letters)
    assert (await http.get(f"/v1/transfers/{transfer['id']}", headers=auth(sms))).status_code == 403
    assert (
        await http.get(f"/v1/transfers/{uuid.uuid4()}", headers=auth(letters))
    ).status_code == 404
    cancelled = await http.post(f"/v1/transfers/{transfer['id']}/cancel", headers=auth(letters))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    closing = await http.post(
        f"/v1/transfers/{transfer['id']}/close", headers=auth(letters), json={"resolution": "x"}
    )
    # Only the person who accepted a transfer (or a supervisor or admin) closes it.
    assert closing.status_code == 403 and "cannot close" in closing.json()["detail"]


async def test_sync_channel_below_threshold_transfers_in_the_same_request(
    http: httpx.AsyncClient,
    channel_key: Any,
    db: asyncpg.Connection,
) -> None:
    key = await channel_key("voice")
    r = await http.post(
        "/v1/turns",
        headers=auth(key),
        json={
            "conversation_id": "v-1",
            "channel": "voice",
            "customer_id": "cust-v",
            "message": "What is the status of my claim?",
            "draft": {"text": "It is approved.", "confidence": 0.3, "intent": "claim_status"},
        },
    )
    body = r.json()
    assert body["action"] == "transfer" and body["review"] is None
    assert body["transfer"]["mode"] == "cold" and body["transfer"]["summary"] is None
    assert await db.fetchval("SELECT reason FROM transfer") == "sync_low_confidence"
