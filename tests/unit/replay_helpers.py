"""Small builders for the replay unit tests: conversations in the file format, run in memory."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from service.policy.loader import parse_policy
from service.policy.model import Policy
from service.replay import report
from service.replay.compare import Tally, compare
from service.replay.runner import Event, Lane, replay
from service.replay.schemas import DECODER
from service.replay.sources import conversation_events, sort_events

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

POLICY_TEXT = """\
version: 1
channels:
  chat: { mode: sync }
  email: { mode: async, latency_budget: 4h, on_timeout: send_draft }
confidence: { threshold: 0.7 }
triggers:
  explicit_request: { transfer: warm, team: general }
  sentiment: { threshold: -0.5, window: 3, min_negative: 2, transfer: warm, team: care }
  distress: { transfer: warm, team: care }
  topics:
    - { name: legal, labels: [legal], keywords: [lawyer*], transfer: warm, team: legal }
  repeat_contact: { window: 72h, transfer: warm, team: general }
  loop: { max_same_intent: 3, transfer: warm, team: general }
routing: { default_team: general }
teams: { general: {}, care: {}, legal: {} }
"""
POLICY = parse_policy(POLICY_TEXT, "policy.yaml")


def variant(old: str, new: str) -> Policy:
    assert old in POLICY_TEXT
    return parse_policy(POLICY_TEXT.replace(old, new), "variant.yaml")


def turn(
    message: str = "where is my parcel?",
    confidence: float = 0.9,
    intent: str | None = "order_status",
    minutes: float = 0,
    **extra: Any,
) -> dict[str, Any]:
    at = T0 + timedelta(minutes=minutes)
    draft = {"text": "On its way.", "confidence": confidence, "intent": intent}
    return {"message": message, "draft": draft, "at": at.isoformat()} | extra


def conversation(
    cid: str, *turns: dict[str, Any], channel: str = "email", customer: str = "ann", **extra: Any
) -> dict[str, Any]:
    return {
        "conversation_id": cid,
        "channel": channel,
        "customer_id": customer,
        "turns": list(turns),
    } | extra


def events(conversations: list[dict[str, Any]]) -> list[Event]:
    found: list[Event] = []
    for line, conv in enumerate(conversations, 1):
        found.extend(conversation_events(DECODER.decode(json.dumps(conv)), line))
    return sort_events(found)


def run(
    conversations: list[dict[str, Any]],
    *policies: Policy,
    decisions: bool = True,
    handling_minutes: float = 4.0,
) -> dict[str, Any]:
    """The --json output for these conversations under these policies (first is the policy)."""
    chosen = policies or (POLICY,)
    lanes = [Lane(name, p) for name, p in zip(("policy", "baseline"), chosen, strict=False)]
    tallies = [Tally(lane.name, lane.policy.version) for lane in lanes]
    for tally in tallies:
        tally.decisions = [] if decisions else None
    comparison = compare(replay(events(conversations), lanes), tallies)
    return report.to_json(comparison, handling_minutes)


def decided(result: dict[str, Any], name: str = "policy") -> list[tuple[str, int, str, list[str]]]:
    return [
        (d["conversation_id"], d["turn"], d["action"], d["triggers"])
        for d in result["policies"][name]["decisions"]
    ]
