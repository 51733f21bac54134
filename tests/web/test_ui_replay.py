"""/ui/replay: a supervisor uploads conversations and compares two policies, as `hitl replay` would."""

from __future__ import annotations

import json
from typing import Any

from ui_client import Desk

from service.settings import Settings

CONVERSATIONS = [
    {
        "conversation_id": f"r-{n}",
        "channel": "letters",
        "customer_id": f"rc-{n}",
        "turns": [
            {
                "message": "When do you open on Sunday?",
                "draft": {"text": "At ten.", "confidence": c, "intent": "hours"},
                "topics": [],
                "sentiment": None,
                "at": f"2026-11-0{n + 1}T10:00:00Z",
            }
        ],
        "outcome": None,
    }
    for n, c in enumerate((0.95, 0.8, 0.75, 0.5))
]


async def test_upload_and_compare(server: str, reviewer: Any, settings: Settings) -> None:
    live = settings.policy_path
    (live.parent / "stricter.yaml").write_text(
        live.read_text().replace("threshold: 0.7", "threshold: 0.9", 1)
    )
    await reviewer("boss@example.com", role="supervisor")
    body = "\n".join(json.dumps(c) for c in CONVERSATIONS).encode()
    async with Desk(server) as boss:
        await boss.sign_in("boss@example.com")
        page = await boss.get("/ui/replay")
        assert page.status_code == 200 and "stricter.yaml" in page.text
        r = await boss.client.post(
            "/ui/replay",
            data={"_csrf": boss.csrf, "policy": "stricter.yaml", "baseline": live.name},
            files={"upload": ("sunday <b>.jsonl", body, "application/json")},
        )
        assert r.status_code == 200, r.text[:500]
        html = r.text
        assert "Turns decided differently (2)" in html
        assert "3 of 4 turns escalated" in html and "1 of 4 turns escalated" in html
        assert html.count("<svg") == 3 and "<b>" not in html.split("</form>")[1]
        again = await boss.client.post(
            "/ui/replay",
            data={
                "_csrf": boss.csrf,
                "policy": "stricter.yaml",
                "baseline": "",
                "sample": "nope.jsonl",
            },
        )
        assert again.status_code == 400
        bad = await boss.client.post(
            "/ui/replay",
            data={"_csrf": boss.csrf, "policy": "stricter.yaml", "baseline": ""},
            files={"upload": ("broken.jsonl", b'{"conversation_id": 1}\n', "application/json")},
        )
        assert bad.status_code == 400 and "broken" in bad.text
