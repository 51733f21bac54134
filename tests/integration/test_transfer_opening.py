"""One way to open a transfer (service/transfers/opening.py): a turn's decision, a reviewer
taking a draft over and a review's budget running out all write the same row, first event and
transfer.created delivery, differing only in what differs (reason, who opened it)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import httpx

from service import db as database
from service.policy.loader import load_policy
from service.reviews import service as reviews
from service.settings import Settings

TIER = {"customer_tier": "gold"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def turn(channel: str, message: str, confidence: float) -> dict[str, Any]:
    return {
        "conversation_id": f"o-{uuid.uuid4().hex[:8]}",
        "channel": channel,
        "customer_id": f"cust-{uuid.uuid4().hex[:6]}",
        "message": message,
        "draft": {"text": "Let me check that.", "confidence": confidence, "intent": "refund"},
        "metadata": TIER,
    }


async def opened(db: asyncpg.Connection, transfer_id: str) -> dict[str, Any]:
    """What opening wrote: the row, the first event and the transfer.created payload."""
    row = await db.fetchrow(
        "SELECT t.reason, t.mode, t.team, t.priority, t.summary->'customer'->>'tier' AS tier, "
        "(SELECT actor FROM transfer_event e WHERE e.transfer_id = t.id ORDER BY e.id LIMIT 1) "
        "  AS actor, "
        "(SELECT payload->'data' FROM outbox_event o "
        "  WHERE o.dedupe_key = 'transfer.created:' || t.id) AS announced "
        "FROM transfer t WHERE t.id = $1",
        uuid.UUID(transfer_id),
    )
    assert row is not None
    return dict(row) | {"announced": json.loads(row["announced"])}


async def test_every_path_opens_a_transfer_the_same_way(
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    db: asyncpg.Connection,
    settings: Settings,
) -> None:
    token = await reviewer()
    me = await db.fetchval("SELECT id FROM reviewer WHERE email = 'rita@example.com'")
    chat, letters, forms = [await channel_key(c) for c in ("chat", "letters", "forms")]
    asked = await http.post(
        "/v1/turns", json=turn("chat", "Could I speak with a real person?", 0.9), headers=auth(chat)
    )
    assert asked.json()["action"] == "transfer", asked.text
    by_turn = await opened(db, asked.json()["transfer"]["id"])

    held = await http.post(
        "/v1/turns", json=turn("letters", "Is my parcel insured?", 0.3), headers=auth(letters)
    )
    review_id = held.json()["review"]["id"]
    taken = await http.post(f"/v1/reviews/{review_id}/take-over", headers=auth(token))
    assert taken.status_code == 200, taken.text
    taken_id = await db.fetchval(
        "SELECT id::text FROM transfer WHERE review_id = $1", uuid.UUID(review_id)
    )
    by_take_over = await opened(db, taken_id)

    held = await http.post(
        "/v1/turns", json=turn("forms", "Is my parcel insured?", 0.3), headers=auth(forms)
    )
    review_id = held.json()["review"]["id"]
    await db.execute(
        "UPDATE review SET deadline = now() - interval '1 second' WHERE id = $1",
        uuid.UUID(review_id),
    )
    pool = await database.create_pool(settings, 1)
    try:
        async with database.transaction(pool) as conn:
            ended, _ = await reviews.expire(
                conn, uuid.UUID(review_id), load_policy(settings.policy_path)
            )
    finally:
        await pool.close()
    assert ended
    timed_out_id = await db.fetchval(
        "SELECT id::text FROM transfer WHERE review_id = $1", uuid.UUID(review_id)
    )
    by_timeout = await opened(db, timed_out_id)

    paths = {"turn": by_turn, "take over": by_take_over, "timeout": by_timeout}
    assert {p: o["reason"] for p, o in paths.items()} == {
        "turn": "trigger",
        "take over": "take_over",
        "timeout": "timeout",
    }
    assert {p: o["actor"] for p, o in paths.items()} == {
        "turn": "channel:chat",
        "take over": f"reviewer:{me}",
        "timeout": "worker",
    }
    for path, o in paths.items():
        announced = o["announced"]
        assert set(announced) == {
            "transfer_id",
            "conversation_id",
            "mode",
            "team",
            "reason",
            "summary",
            "triggers",
        }, path
        assert (announced["reason"], announced["mode"], announced["team"]) == (
            o["reason"],
            o["mode"],
            o["team"],
        ), path
        if o["mode"] == "warm":  # the customer's tier reaches the person on every path
            assert o["tier"] == "gold" == announced["summary"]["customer"]["tier"], path
    assert by_turn["mode"] == by_take_over["mode"] == "warm"


async def test_a_warm_transfer_carries_the_conversation_so_far(
    http: httpx.AsyncClient, channel_key: Any
) -> None:
    """The turn path builds the transcript from the facts it loaded (no query of its own): the
    turns stored before, oldest first, then the one being decided."""
    key = await channel_key("chat")
    said = {"Which plan am I on at the moment?": "plan", "And when is my next bill due?": "bill"}
    body = turn("chat", "", 0.9)
    for message, intent in said.items():
        draft = body["draft"] | {"intent": intent}
        answer = await http.post(
            "/v1/turns", json=body | {"message": message, "draft": draft}, headers=auth(key)
        )
        assert answer.json()["action"] == "send", answer.text
    asked = await http.post(
        "/v1/turns",
        json=body | {"message": "Please let me talk to a real person."},
        headers=auth(key),
    )
    transfer = asked.json()["transfer"]
    assert transfer["mode"] == "warm", asked.text
    transcript = transfer["summary"]["transcript"]
    assert [t["customer"] for t in transcript] == [*said, "Please let me talk to a real person."]
    assert all(t["at"] for t in transcript[:-1]), "stored turns keep their time"
