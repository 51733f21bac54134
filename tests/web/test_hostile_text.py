"""Hostile characters in every text field and id of a turn (issue 12): right-to-left overrides,
CR/LF, zero-width and combining characters, astral emoji are stored exactly as sent; lone
surrogates (not text at all) are refused with a 400; the server's log stays one JSON object
per line whatever the customer wrote; the outcome route's id is kept literal."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from support import LOGS

NASTY = (
    "\u202eevil\u202c",  # right-to-left override, then pop
    "line one\r\nline two\r\n",  # CRLF, as in a forged log line
    "zero\u200bwidth\u200djoin\ufeff",  # zero-width space, joiner, BOM
    "e\u0301\u0301\u0301",  # stacked combining accents
    "\U0001f600 \U0001f469\u200d\U0001f4bb",  # astral plane, a ZWJ sequence
    "'; DROP TABLE turn; --",  # SQL-looking, kept literal
    '<img src=x onerror=alert(1)> hx-get="/ui/logout"',
)
# Field of the request -> (table, column, how the stored value is found)
FIELDS = {
    "conversation_id": "SELECT c.external_id FROM conversation c JOIN turn t ON t.conversation_id = c.id WHERE t.id = $1",
    "customer_id": "SELECT c.customer_id FROM conversation c JOIN turn t ON t.conversation_id = c.id WHERE t.id = $1",
    "message": "SELECT message FROM turn WHERE id = $1",
    "draft.text": "SELECT draft_text FROM turn WHERE id = $1",
    "draft.intent": "SELECT intent FROM turn WHERE id = $1",
    "locale": "SELECT locale FROM turn WHERE id = $1",
    "topics": "SELECT topics[1] FROM turn WHERE id = $1",
    "metadata": "SELECT metadata->>'note' FROM turn WHERE id = $1",
}


def body_with(field: str, value: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "conversation_id": f"c-{uuid.uuid4().hex[:8]}",
        "channel": "email",
        "customer_id": f"cust-{uuid.uuid4().hex[:6]}",
        "message": "Where is my parcel?",
        "draft": {"text": "On its way.", "confidence": 0.9, "intent": "order_status"},
    }
    if field.startswith("draft."):
        body["draft"][field.split(".")[1]] = value
    elif field == "topics":
        body["topics"] = [value]
    elif field == "metadata":
        body["metadata"] = {"note": value}
    elif field in ("conversation_id", "customer_id"):
        body[field] = value + uuid.uuid4().hex[:6]  # unique: no repeat contact, no history
    else:
        body[field] = value
    return body


@pytest.mark.parametrize("field", list(FIELDS))
async def test_hostile_text_is_stored_exactly(
    http: httpx.AsyncClient, channel_key: Any, db: asyncpg.Connection, field: str
) -> None:
    key = await channel_key("email")
    for value in NASTY:
        if field == "locale" and len(value) > 35:
            continue
        body = body_with(field, value)
        r = await http.post("/v1/turns", json=body, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, (field, value, r.text)
        turn_id = await db.fetchval(
            "SELECT turn_id FROM decision WHERE id = $1", uuid.UUID(r.json()["decision_id"])
        )
        stored = await db.fetchval(FIELDS[field], turn_id)
        sent = body
        for part in field.split("."):
            sent = sent[part]
        expected = sent[0] if field == "topics" else sent["note"] if field == "metadata" else sent
        assert stored == expected, (field, value, stored)


async def test_lone_surrogates_are_refused_and_the_log_stays_json(
    http: httpx.AsyncClient, channel_key: Any, db: asyncpg.Connection
) -> None:
    key = await channel_key("email")
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    for field in ("message", "customer_id", "draft.text"):
        raw = json.dumps(body_with(field, "SURROGATE")).replace("SURROGATE", "\\ud800x")
        r = await http.post("/v1/turns", content=raw.encode(), headers=headers)
        assert r.status_code == 400 and "body" in r.json()["detail"], r.text
    assert await db.fetchval("SELECT count(*) FROM turn") == 0
    # The customer's CR/LF cannot forge a log record: every line of the server's log is JSON.
    await http.post(
        "/v1/turns",
        json=body_with("message", 'ok\r\n{"level": "error", "event": "forged"}\r\n'),
        headers={"Authorization": f"Bearer {key}"},
    )
    await http.post("/v1/turns", json={"channel": "x\r\ny"}, headers=headers)
    lines = LOGS["serve"].read_text(encoding="utf-8", errors="strict").splitlines()
    assert lines, "the server logs"
    for line in lines:
        record = json.loads(line)
        assert record.get("event") != "forged"


async def test_an_outcome_id_is_taken_literally(http: httpx.AsyncClient, channel_key: Any) -> None:
    key = await channel_key("email")
    for hostile in ("..%2F..%2Fetc", "a%0D%0Ab", "%E2%80%AEx", "' OR 1=1 --"):
        r = await http.post(
            f"/v1/conversations/{hostile}/outcome",
            json={"resolved": True},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 404, (hostile, r.text)
