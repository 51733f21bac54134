"""An index for every hot query (issue 13): the statements the decision, the review queue, the
deadline clock, the deliveries and the transfer assignment run, captured as the code sends
them, are explained with sequential scans disabled. A table that still shows a Seq Scan has no
index that can serve that query, and only grows: the test names the query and the table.

Small tables by nature (people, teams, keys, endpoints) may be scanned."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from service import db as database
from service.channels import outbox
from service.reviews import repository as reviews
from service.settings import Settings
from service.transfers import repository as transfers
from service.turns import facts

GROWING = {
    "review",
    "turn",
    "conversation",
    "decision",
    "transfer",
    "transfer_event",
    "transfer_message",
    "outbox_event",
    "audit_event",
}


class Recording:
    """An asyncpg connection that notes each statement it is given, as the code sends it."""

    def __init__(self, conn: asyncpg.Connection, seen: list[tuple[str, tuple[Any, ...]]]) -> None:
        self.conn, self.seen = conn, seen

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.conn, name)
        if name not in ("fetch", "fetchrow", "fetchval", "execute"):
            return method

        async def noted(sql: str, *args: Any) -> Any:
            self.seen.append((sql, args))
            return await method(sql, *args)

        return noted


def scanned(plan: dict[str, Any]) -> set[str]:
    found = set()
    if plan.get("Node Type") == "Seq Scan" and plan.get("Relation Name") in GROWING:
        found.add(plan["Relation Name"])
    for child in plan.get("Plans", []):
        found |= scanned(child)
    return found


async def turn(http: httpx.AsyncClient, key: str, channel: str, message: str, conf: float) -> Any:
    r = await http.post(
        "/v1/turns",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "conversation_id": f"p-{uuid.uuid4().hex[:8]}",
            "channel": channel,
            "customer_id": "cust-plans",
            "message": message,
            "draft": {"text": "Let me check.", "confidence": conf, "intent": "refund"},
        },
    )
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.timeout(300)
async def test_every_hot_query_has_an_index(
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    db: asyncpg.Connection,
    settings: Settings,
) -> None:
    await reviewer()
    letters, chat = await channel_key("letters"), await channel_key("chat")
    held = await turn(http, letters, "letters", "Is my parcel insured?", 0.3)
    moved = await turn(http, chat, "chat", "Could I speak with a real person?", 0.9)
    review_id = uuid.UUID(held["review"]["id"])
    transfer_id = uuid.UUID(moved["transfer"]["id"])
    who = await db.fetchval("SELECT id FROM reviewer LIMIT 1")
    seen: list[tuple[str, tuple[Any, ...]]] = []

    # A connection as the pool makes them (rows by name, JSON decoded), noting what it runs.
    conn = await database.connect(settings)
    raw: Any = Recording(conn, seen)
    plans = {"letters": ("send_draft", None)}
    writes = conn.transaction()  # the expiries and offers below are undone: only their plans count
    await writes.start()
    await reviews.list_open(raw, ["general"])
    await reviews.list_open(raw, None)
    await reviews.get(raw, review_id)
    await reviews.overdue(raw, 500, ["letters", "email"])
    await reviews.expire_due(raw, plans, 500)
    await reviews.return_lapsed_leases(raw)
    await outbox.due(raw)
    await outbox.given_up(raw)
    await transfers.get(raw, transfer_id)
    await transfers.list_open(raw, ["general"])
    await transfers.messages(raw, transfer_id)
    await transfers.waiting(raw)
    await transfers.waiting(raw, teams=["general"])
    await transfers.lapsed_offers(raw)
    await transfers.unattended(raw, "general", timedelta(minutes=5))
    await transfers.end_offers_to_absent(raw)
    await writes.rollback()
    async with conn.transaction():
        await facts.load(
            raw,
            channel="chat",
            conversation=moved["decision_id"],
            customer="cust-plans",
            idempotency_key="k",
            repeat_window=timedelta(hours=72),
        )
        await transfers.waiting_with_agents(raw, transfer_id)
        await reviews.claim_next(raw, who, ["general"], 60)
        await reviews.claim_next(raw, who, ["general", "billing"], 60)
        await reviews.claim_next(raw, who, None, 60)
    await conn.close()

    assert len(seen) >= 20, "the statements were captured"
    missing = []
    async with db.transaction():
        await db.execute("SET LOCAL enable_seqscan = off")
        for sql, args in seen:
            explained = await db.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
            tables = scanned(json.loads(explained)[0]["Plan"])
            if tables:
                missing.append(f"{sorted(tables)} scanned by: {' '.join(sql.split())[:300]}")
    assert not missing, "hot queries with no index to serve them:\n" + "\n".join(missing)
