"""The dashboard page: supervisors only, charts with their denominators, no inline script."""

from __future__ import annotations

from typing import Any

import httpx
from ui_client import Desk


async def test_dashboard_shows_charts_to_supervisors_only(
    server: str, channel_key: Any, reviewer: Any, http: httpx.AsyncClient
) -> None:
    key = await channel_key("letters")
    for n, message in enumerate(["Where is my parcel?", "I want to talk to a human"]):
        await http.post(
            "/v1/turns",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "conversation_id": f"d-{n}",
                "channel": "letters",
                "customer_id": f"cd-{n}",
                "message": message,
                "draft": {"text": "Soon.", "confidence": 0.9, "intent": f"i{n}"},
            },
        )
    outcome = await http.post(
        "/v1/conversations/d-1/outcome",
        json={"resolved": True, "csat": 4},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert outcome.status_code == 200, outcome.text
    await reviewer("boss@example.com", role="supervisor")
    await reviewer("carla@example.com", teams=("care",), role="supervisor")
    await reviewer("rita@example.com")
    async with Desk(server) as boss:
        assert (await boss.sign_in("boss@example.com")).status_code == 303
        page = await boss.get("/ui/dashboard?period=24h")
        assert page.status_code == 200
        html = page.text
        assert html.count("<svg") == 4 and "Escalation rate by trigger type" in html
        assert "1 of 2 AI turns went to a person of your teams" in html
        assert "<script>" not in html.split("</head>")[1]
        assert "asked for a person (n=1)" in html, "CSAT by trigger type shows its count"
        assert (await boss.get("/ui/dashboard?period=1y")).status_code == 400
    async with Desk(server) as carla:  # the transfer went to general: none of care's work
        await carla.sign_in("carla@example.com")
        html = (await carla.get("/ui/dashboard?period=24h")).text
        assert "0 of 2 AI turns went to a person of your teams" in html, html
        assert "asked for a person (n=1)" not in html
    async with Desk(server) as rita:
        await rita.sign_in("rita@example.com")
        assert (await rita.get("/ui/dashboard")).status_code == 403
