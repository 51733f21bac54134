"""Supervisor insights over real HTTP: calibration from real review outcomes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_calibration_from_review_outcomes(
    http: httpx.AsyncClient, channel_key: Any, reviewer: Any
) -> None:
    key = await channel_key("letters")
    boss = await reviewer("boss@example.com", teams=("general",), role="supervisor")
    for n, (confidence, edit) in enumerate(
        [(0.35, True), (0.45, True), (0.55, False), (0.65, False)]
    ):
        r = await http.post(
            "/v1/turns",
            headers=auth(key),
            json={
                "conversation_id": f"cal-{n}",
                "channel": "letters",
                "customer_id": f"c{uuid.uuid4().hex[:6]}",
                "message": "Do you ship to Norway?",
                "draft": {
                    "text": "Yes, in 5 days.",
                    "confidence": confidence,
                    "intent": f"shipping{n}",
                },
            },
        )
        review = r.json()["review"]["id"]
        action = (
            http.post(
                f"/v1/reviews/{review}/edit", json={"text": "Yes, in 3-5 days."}, headers=auth(boss)
            )
            if edit
            else http.post(f"/v1/reviews/{review}/approve", headers=auth(boss))
        )
        assert (await action).status_code == 200
    answer = await http.get("/v1/calibration?since=1h&target=0.05", headers=auth(boss))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["reviewed"] == 4 and body["current_threshold"] == 0.7
    by_bucket = {b["from"]: b for b in body["buckets"] if b["n"]}
    assert (
        by_bucket[0.3]["approved_unchanged"] == 0.0 and by_bucket[0.6]["approved_unchanged"] == 1.0
    )
    assert body["recommended"] is None, "four drafts are not evidence enough for any threshold"
    assert body["review_volume"]["at_current"] == 4
    assert body["teams"] == ["general"]
    care = await reviewer("carla@example.com", teams=("care",), role="supervisor")
    theirs = (await http.get("/v1/calibration?since=1h", headers=auth(care))).json()
    assert theirs["reviewed"] == 0 and theirs["teams"] == ["care"], "general's reviews, not care's"
    admin = await reviewer("ada@example.com", teams=(), role="admin")
    every = (await http.get("/v1/calibration?since=1h", headers=auth(admin))).json()
    assert every["reviewed"] == 4 and every["teams"] is None
    bad = await http.get("/v1/calibration?target=2", headers=auth(boss))
    assert bad.status_code == 400 and "target" in bad.json()["detail"]
