"""Retention on real PostgreSQL (issue 13): `hitl prune` deletes whole old conversations (turns,
decisions, reviews, transfers, their messages and events), old finished deliveries and old
audit rows, in batches; it keeps anything open, anything recent and every pending delivery;
`--dry-run` deletes nothing; the prune's statements can use their indexes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from support import ROOT, process_env

from service import db as database
from service.policy.model import RetentionPolicy
from service.retention import CONVERSATIONS, DELIVERIES, prune

OLD = "now() - interval '500 days'"


def held(message: str = "Can I change my address?", confidence: float = 0.4) -> dict[str, Any]:
    key = uuid.uuid4().hex[:10]
    return {
        "conversation_id": f"r-{key}",
        "channel": "letters",  # async, 1 h budget: a held draft stays open
        "customer_id": f"r-{key}",
        "message": message,
        "draft": {"text": "Yes.", "confidence": confidence, "intent": "address"},
    }


async def make_history(http: httpx.AsyncClient, key: str, token: str) -> dict[str, str]:
    """Conversations of every kind, by what should become of them; returns their external ids."""
    auth, person = {"Authorization": f"Bearer {key}"}, {"Authorization": f"Bearer {token}"}
    made: dict[str, str] = {}
    for name in ("old_done", "old_open", "recent"):
        body = held()
        r = await http.post("/v1/turns", json=body, headers=auth)
        assert r.json()["action"] == "review", r.text
        made[name] = body["conversation_id"]
        if name != "old_open":  # approved: the review ended, the conversation is the AI's
            done = await http.post(
                f"/v1/reviews/{r.json()['review']['id']}/approve", headers=person
            )
            assert done.status_code == 200
    # An old conversation that went to a person and came back: a transfer with its messages.
    body = held("I want to talk to a real person please", 0.9)
    r = await http.post("/v1/turns", json=body, headers=auth)
    transfer = r.json()["transfer"]["id"]
    for step, data in (
        ("accept", None),
        ("reply", {"text": "Hi"}),
        ("close", {"resolution": "ok"}),
    ):
        assert (
            await http.post(f"/v1/transfers/{transfer}/{step}", json=data, headers=person)
        ).is_success
    made["old_handed_back"] = body["conversation_id"]
    return made


async def age(db: asyncpg.Connection, external_ids: list[str]) -> None:
    await db.execute(
        f"UPDATE conversation SET last_turn_at = {OLD} WHERE external_id = ANY($1::text[])",
        external_ids,
    )
    # As a worker would have left them: delivered (this test runs none).
    await db.execute(
        f"UPDATE outbox_event SET created_at = {OLD}, status = 'delivered', delivered_at = {OLD}"
    )
    await db.execute(f"UPDATE audit_event SET at = {OLD}")


async def test_prune_deletes_old_history_whole_and_keeps_the_rest(
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    db: asyncpg.Connection,
    settings: Any,
    tmp_path: Path,
) -> None:
    made = await make_history(http, await channel_key("letters"), await reviewer())
    await age(db, [made["old_done"], made["old_open"], made["old_handed_back"]])
    await db.execute(
        "INSERT INTO outbox_event (dedupe_key, channel, event_type, status, created_at) "
        f"VALUES ('still-pending', 'letters', 'x', 'pending', {OLD})"
    )
    await db.execute(
        "INSERT INTO audit_event (actor, kind, subject_type, subject_id) "
        "VALUES ('t', 'recent', 'x', '1')"
    )
    before = await db.fetchval("SELECT count(*) FROM audit_event")

    policy = tmp_path / "policy.yaml"
    policy.write_text(
        settings.policy_path.read_text()
        + "retention: { conversations: 30d, deliveries: 30d, audit: 30d }\n"
    )
    env = process_env(settings) | {"HITL_POLICY_PATH": str(policy)}

    def hitl_prune(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "service", "prune", *args],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stderr

    dry = await asyncio.to_thread(hitl_prune, "--dry-run")
    assert "conversations: 2 past 30d" in dry, dry  # old_done and old_handed_back; not old_open
    assert await db.fetchval("SELECT count(*) FROM conversation") == 4, "a dry run deletes nothing"
    said = await asyncio.to_thread(hitl_prune)
    assert "pruned 2 conversations" in said, said

    left = {r["external_id"] for r in await db.fetch("SELECT external_id FROM conversation")}
    assert left == {made["old_open"], made["recent"]}
    for table in ("turn", "decision", "review"):
        orphans = await db.fetchval(
            f"SELECT count(*) FROM {table} x WHERE NOT EXISTS (SELECT 1 FROM conversation c "
            f"WHERE c.id = x.conversation_id)"
            if table != "decision"
            else "SELECT count(*) FROM decision d WHERE NOT EXISTS (SELECT 1 FROM turn t WHERE t.id = d.turn_id)"
        )
        assert orphans == 0, table
    assert await db.fetchval("SELECT count(*) FROM transfer") == 0
    assert await db.fetchval("SELECT count(*) FROM transfer_message") == 0
    assert await db.fetchval("SELECT count(*) FROM transfer_event") == 0
    assert await db.fetchval("SELECT count(*) FROM review WHERE status = 'pending'") == 1
    statuses = [r["status"] for r in await db.fetch("SELECT status FROM outbox_event")]
    assert statuses == ["pending"], "a delivery still being tried is never deleted"
    assert await db.fetchval("SELECT count(*) FROM audit_event") == 1 < before


async def test_prune_goes_in_batches(
    http: httpx.AsyncClient, channel_key: Any, reviewer: Any, db: asyncpg.Connection, settings: Any
) -> None:
    key, token = await channel_key("letters"), await reviewer()
    ids = []
    for _ in range(7):
        made = await make_history(http, key, token)
        ids += [made["old_done"], made["old_handed_back"]]
    await age(db, ids)
    pool = await database.create_pool(settings, 2)
    batches: list[tuple[str, int]] = []
    try:
        spent = await prune(
            pool, RetentionPolicy(conversations=timedelta(days=30)), budget_seconds=0.0
        )
        assert spent.rows == {"conversations": 0}, "a spent budget stops before the next batch"
        pruned = await prune(
            pool,
            RetentionPolicy(conversations=timedelta(days=30)),
            batch=3,
            progress=lambda kind, n: batches.append((kind, n)),
        )
    finally:
        await pool.close()
    assert pruned.rows == {"conversations": 14} and pruned.turns == 14
    assert [n for _, n in batches] == [3, 3, 3, 3, 2], "five short transactions, not one long"


async def test_the_prune_statements_can_use_their_indexes(db: asyncpg.Connection) -> None:
    """On a small table the planner may scan; forbidding that shows an index can serve each.
    Conversations are many and mostly recent, as in service, and analysed: with whatever
    statistics earlier tests left, the planner once walked the primary key instead."""
    await db.execute(
        "INSERT INTO conversation (channel, external_id, customer_id, handled_by, last_turn_at) "
        "SELECT 'email', 'plan-' || n, 'c' || n, 'ai', now() - CASE WHEN n <= 20 "
        "THEN interval '48 hours' ELSE interval '1 minute' END FROM generate_series(1, 2000) n"
    )
    await db.execute("ANALYZE conversation")
    for sql, index in (
        (CONVERSATIONS, "conversation_last_turn"),
        (DELIVERIES, "outbox_finished"),
    ):
        async with db.transaction():
            await db.execute("SET LOCAL enable_seqscan = off")
            plan = "\n".join(
                r[0]
                for r in await db.fetch(
                    "EXPLAIN " + sql.replace(":secs", "86400").replace(":n", "500")
                )
            )
        assert index in plan, plan
        if index == "conversation_last_turn":
            assert "transfer_by_conversation" in plan, plan
