"""A shadow policy runs beside the live one: stored on every turn, no effect on customers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from support import Process, free_port, process_env, wait_http_ready
from ui_client import Desk

from service.settings import Settings


@pytest.fixture
def shadowed_server(settings: Settings, tmp_path: Path) -> Any:
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(
        settings.policy_path.read_text().replace("threshold: 0.7", "threshold: 0.9", 1)
    )
    port = free_port()
    env = process_env(settings) | {
        "HITL_PORT": str(port),
        "HITL_SHADOW_POLICY_PATH": str(candidate),
    }
    proc = Process(["serve"], env, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"
    wait_http_ready(f"{base}/readyz", proc)
    yield base
    proc.stop()


async def test_shadow_decisions_are_stored_and_compared(
    shadowed_server: str,
    channel_key: Any,
    reviewer: Any,
    settings: Settings,
    db: asyncpg.Connection,
) -> None:
    key = await channel_key("letters")
    boss = await reviewer("boss@example.com", role="supervisor")
    plain = await reviewer("plain@example.com")
    elsewhere = await reviewer("bill@example.com", teams=("billing",), role="supervisor")
    async with httpx.AsyncClient(base_url=shadowed_server) as http:
        for n, confidence in enumerate((0.95, 0.8, 0.75, 0.5)):
            r = await http.post(
                "/v1/turns",
                headers={"Authorization": f"Bearer {key}"},
                json={
                    "conversation_id": f"s-{n}",
                    "channel": "letters",
                    "customer_id": f"cs-{n}",
                    "message": "When does the shop open on Sunday?",
                    "draft": {"text": "At ten.", "confidence": confidence, "intent": f"hours{n}"},
                },
            )
            assert r.status_code == 200
        live = [
            r["action"] for r in await db.fetch("SELECT action FROM decision ORDER BY created_at")
        ]
        assert live == ["send", "send", "send", "review"], "the live policy alone decides"
        answer = await http.get("/v1/shadow?since=1h", headers={"Authorization": f"Bearer {boss}"})
        assert answer.status_code == 200, answer.text
        summary = answer.json()
        assert summary["turns"] == 4 and summary["same_action"] == 2 and summary["agreement"] == 0.5
        assert {d["conversation_id"] for d in summary["differing"]} == {"s-1", "s-2"}
        assert all(d["shadow"]["action"] == "review" for d in summary["differing"])
        # A supervisor of another team sees the agreement, not general's customers' words.
        other = await http.get(
            "/v1/shadow?since=1h", headers={"Authorization": f"Bearer {elsewhere}"}
        )
        assert other.json()["turns"] == 4 and other.json()["differing"] == []
        denied = await http.get("/v1/shadow", headers={"Authorization": f"Bearer {plain}"})
        assert denied.status_code == 403
        bad = await http.get("/v1/shadow?since=soon", headers={"Authorization": f"Bearer {boss}"})
        assert bad.status_code == 400 and "since" in bad.json()["detail"]
    async with Desk(shadowed_server) as desk:
        await desk.sign_in("boss@example.com")
        page = (await desk.get("/ui/dashboard?period=24h")).text
        assert "Shadow policy" in page and "agreed with the live one on 2 of 4 turns (50%)" in page
