"""The engine: confidence, sync/async, every trigger, precedence, routing, golden decisions."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.policy.engine import (
    Decision,
    Facts,
    PriorContact,
    PriorTurn,
    Signals,
    evaluate,
)
from service.policy.loader import load_policy, parse_policy
from service.policy.model import Policy

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = load_policy(ROOT / "policies" / "default.yaml")
NOW = datetime(2024, 5, 1, tzinfo=UTC)

POLICY = parse_policy(
    """\
version: 1
channels:
  chat: { mode: sync }
  email: { mode: async, latency_budget: 4h, on_timeout: send_draft }
confidence:
  threshold: 0.7
  per_channel: { email: 0.6 }
  per_intent: { refund: 0.9 }
  transfer: cold
triggers:
  explicit_request: { transfer: warm, team: general }
  sentiment: { threshold: -0.5, window: 3, min_negative: 2, transfer: cold, team: care }
  distress: { transfer: warm, team: care }
  topics:
    - { name: legal, labels: [legal], keywords: [lawyer*], transfer: cold, team: legal }
    - { name: billing, labels: [billing], keywords: [invoice], transfer: cold, team: billing }
  repeat_contact: { window: 72h, transfer: cold, team: general }
  loop: { max_same_intent: 3, transfer: cold, team: general }
routing:
  default_team: general
  rules:
    - when: { locale: es, trigger: explicit_request }
      team: spanish
    - when: { customer_tier: vip }
      team: vip
teams: { general: {}, care: {}, legal: {}, billing: {}, spanish: {}, vip: {} }
""",
    "test.yaml",
)


def turn(
    message: str = "where is my parcel?", confidence: float = 0.95, **extra: object
) -> Signals:
    return Signals(message=message, draft_text="draft", confidence=confidence, **extra)  # type: ignore[arg-type]


def decide(
    message: str = "where is my parcel?",
    confidence: float = 0.95,
    channel: str = "chat",
    facts: Facts | None = None,
    policy: Policy = POLICY,
    **extra: object,
) -> Decision:
    return evaluate(policy, channel, facts or Facts(), turn(message, confidence, **extra))


@pytest.mark.parametrize(
    ("channel", "confidence", "intent", "action", "rule"),
    [
        ("chat", 0.95, None, "send", None),
        ("chat", 0.70, None, "send", None),
        ("chat", 0.69, None, "transfer", "confidence.global"),
        ("email", 0.65, None, "send", None),
        ("email", 0.55, None, "review", "confidence.channel.email"),
        ("email", 0.85, "refund", "review", "confidence.intent.refund"),
        ("chat", 0.85, "refund", "transfer", "confidence.intent.refund"),
        ("chat", 0.0, None, "transfer", "confidence.global"),
        ("email", math.nan, None, "review", "confidence.channel.email"),
        ("unknown", 0.1, None, "transfer", "confidence.global"),
    ],
)
def test_confidence(
    channel: str, confidence: float, intent: str | None, action: str, rule: str | None
) -> None:
    decision = decide(confidence=confidence, channel=channel, intent=intent)
    assert decision.action == action
    assert decision.rule_ids == ((rule,) if rule else ())


def test_low_confidence_on_sync_is_a_cold_transfer_to_the_default_team() -> None:
    decision = decide(confidence=0.2)
    assert (decision.transfer_mode, decision.team) == ("cold", "general")


def test_review_names_the_queue_team_but_no_transfer() -> None:
    decision = decide(confidence=0.2, channel="email")
    assert (decision.action, decision.team, decision.transfer_mode) == ("review", None, None)
    assert decision.review_team == "general"


HARD = [
    ("explicit_request", "please get me a human", "general", "warm"),
    ("distress.self_harm", "I want to end my life", "care", "warm"),
    ("topics.legal", "my lawyer will write to you", "legal", "cold"),
]


@pytest.mark.parametrize(("rule", "message", "team", "mode"), HARD)
@pytest.mark.parametrize("channel", ["chat", "email"])
@pytest.mark.parametrize("confidence", [0.0, 0.5, 1.0])
def test_hard_triggers_transfer_whatever_the_confidence(
    rule: str, message: str, team: str, mode: str, channel: str, confidence: float
) -> None:
    decision = decide(message, confidence, channel)
    assert decision.action == "transfer"
    assert decision.triggers[0].rule_id == rule
    assert (decision.team, decision.transfer_mode) == (team, mode)


def test_topic_label_from_the_channel_fires() -> None:
    decision = decide("hello", topics=("Legal",))
    assert decision.rule_ids == ("topics.legal",)
    assert decision.triggers[0].evidence == "label legal"


def test_all_triggers_are_reported_and_precedence_picks_the_team() -> None:
    decision = decide("my lawyer says get me a human, I want to die", confidence=0.1)
    assert decision.rule_ids == (
        "distress.self_harm",
        "explicit_request",
        "topics.legal",
        "confidence.global",
    )
    assert decision.team == "care"


def test_warm_beats_cold() -> None:
    # legal is cold, explicit request is warm: the transfer is warm, the team explicit's.
    decision = decide("my lawyer says get me a human")
    assert (decision.transfer_mode, decision.team) == ("warm", "general")


def test_custom_precedence() -> None:
    policy = parse_policy(
        (ROOT / "policies" / "default.yaml")
        .read_text()
        .replace(
            "precedence: [distress, explicit_request, topic, sentiment, loop, repeat_contact]",
            "precedence: [topic, explicit_request]",
        )
    )
    decision = decide("my lawyer says get me a human", policy=policy)
    assert decision.team == "legal"
    assert policy.routing.precedence[:3] == ("topic", "explicit_request", "distress")


@pytest.mark.parametrize(
    ("sentiments", "current", "fires"),
    [
        ((), -0.9, False),
        ((-0.9,), -0.9, True),
        ((-0.9, 0.5), -0.9, True),
        ((-0.9, 0.5, 0.5), -0.9, False),  # the first is outside the window of 3
        ((0.5, -0.6), -0.1, False),
        ((None, -0.6), -0.6, True),
        ((None, None), -0.9, False),
        ((-0.6, -0.7), 0.9, True),
    ],
)
def test_sustained_negative_sentiment(
    sentiments: tuple[float | None, ...], current: float, fires: bool
) -> None:
    facts = Facts(turns=tuple(PriorTurn(None, s) for s in sentiments))
    decision = decide(facts=facts, sentiment=current)
    assert ("sentiment.sustained" in decision.rule_ids) is fires
    assert decision.sentiment == current


def test_sentiment_is_computed_when_the_channel_sends_none() -> None:
    assert decide("This is awful, terrible, horrible service").sentiment < -0.5
    assert decide("where is my parcel").sentiment == 0.0


@pytest.mark.parametrize(
    ("intents", "current", "resolved", "fires"),
    [
        (("refund", "refund"), "refund", False, True),
        (("refund", "other", "refund"), "refund", False, True),
        (("refund",), "refund", False, False),
        (("refund", "refund"), "refund", True, False),
        (("refund", "refund"), None, False, False),
        (("other", "other"), "refund", False, False),
    ],
)
def test_loop(intents: tuple[str, ...], current: str | None, resolved: bool, fires: bool) -> None:
    facts = Facts(turns=tuple(PriorTurn(i, 0.0) for i in intents), resolved=resolved)
    decision = decide(facts=facts, intent=current)
    assert ("loop" in decision.rule_ids) is fires


def contact(
    intents: tuple[str, ...] = (), topics: tuple[str, ...] = (), resolved: bool | None = None
) -> PriorContact:
    return PriorContact("c-1", intents, topics, resolved, NOW)


@pytest.mark.parametrize(
    ("earlier", "intent", "topics", "fires"),
    [
        (contact(intents=("refund",)), "refund", (), True),
        (contact(intents=("refund",), resolved=False), "refund", (), True),
        (contact(intents=("refund",), resolved=True), "refund", (), False),
        (contact(intents=("refund",)), "delivery", (), False),
        (contact(topics=("Billing",)), None, ("billing",), True),
        (contact(topics=("billing",)), None, (), False),
    ],
)
def test_repeat_contact(
    earlier: PriorContact, intent: str | None, topics: tuple[str, ...], fires: bool
) -> None:
    decision = decide(facts=Facts(contacts=(earlier,)), intent=intent, topics=topics)
    assert ("repeat_contact" in decision.rule_ids) is fires


def test_repeat_contact_on_a_topic_found_in_the_text() -> None:
    decision = decide(
        "about my invoice again", facts=Facts(contacts=(contact(topics=("billing",)),))
    )
    assert "repeat_contact" in decision.rule_ids


def test_soft_trigger_goes_to_review_on_async() -> None:
    policy = parse_policy(
        (ROOT / "policies" / "default.yaml")
        .read_text()
        .replace("    max_same_intent: 3\n", "    max_same_intent: 3\n    hard: false\n")
    )
    facts = Facts(turns=(PriorTurn("refund", 0.0), PriorTurn("refund", 0.0)))
    assert decide(facts=facts, intent="refund", channel="email", policy=policy).action == "review"
    assert decide(facts=facts, intent="refund", channel="chat", policy=policy).action == "transfer"
    assert decide(facts=facts, intent="refund", channel="email").action == "transfer"


@pytest.mark.parametrize(
    ("message", "extra", "team", "rule"),
    [
        ("get me a human", {"locale": "es-MX"}, "spanish", 0),
        ("get me a human", {"locale": "es"}, "spanish", 0),
        ("get me a human", {"locale": "en"}, "general", None),
        ("my lawyer", {"locale": "es"}, "legal", None),
        ("my lawyer", {"customer_tier": "VIP"}, "vip", 1),
    ],
)
def test_routing_rules(message: str, extra: dict[str, str], team: str, rule: int | None) -> None:
    decision = decide(message, **extra)
    assert (decision.team, decision.routing_rule) == (team, rule)


def test_decision_records_policy_version() -> None:
    assert decide().policy_version == POLICY.version


GOLDEN = [
    # (channel, message, confidence, action, mode, team, rule ids) under policies/default.yaml
    ("chat", "Where is my parcel?", 0.92, "send", None, None, ()),
    ("chat", "Where is my parcel?", 0.40, "transfer", "cold", "general", ("confidence.global",)),
    (
        "voice",
        "Where is my parcel?",
        0.72,
        "transfer",
        "cold",
        "general",
        ("confidence.channel.voice",),
    ),
    ("email", "Where is my parcel?", 0.40, "review", None, None, ("confidence.global",)),
    ("sms", "Where is my parcel?", 0.90, "send", None, None, ()),
    (
        "chat",
        "I want to talk to a real person",
        0.99,
        "transfer",
        "warm",
        "general",
        ("explicit_request",),
    ),
    ("email", "agent!!", 0.99, "transfer", "warm", "general", ("explicit_request",)),
    (
        "sms",
        "my wife passed away, please close her account",
        0.95,
        "transfer",
        "warm",
        "care",
        ("distress.bereavement",),
    ),
    (
        "email",
        "I will take legal action against you",
        0.95,
        "transfer",
        "warm",
        "legal",
        ("topics.legal",),
    ),
    (
        "chat",
        "someone used my card without my permission",
        0.95,
        "transfer",
        "warm",
        "fraud",
        ("topics.fraud",),
    ),
    (
        "email",
        "what are the side effects of this supplement?",
        0.95,
        "transfer",
        "warm",
        "medical",
        ("topics.medical",),
    ),
    (
        "chat",
        "I want to apply for a mortgage",
        0.95,
        "transfer",
        "warm",
        "finance",
        ("topics.regulated_finance",),
    ),
    ("email", "no need for an agent, it works now, thanks", 0.95, "send", None, None, ()),
    ("chat", "your agent Maria was great", 0.95, "send", None, None, ()),
]


@pytest.mark.parametrize(
    ("channel", "message", "confidence", "action", "mode", "team", "rules"), GOLDEN
)
def test_golden_decisions_of_the_default_policy(
    channel: str,
    message: str,
    confidence: float,
    action: str,
    mode: str | None,
    team: str | None,
    rules: tuple[str, ...],
) -> None:
    decision = evaluate(DEFAULT, channel, Facts(), turn(message, confidence))
    assert (decision.action, decision.transfer_mode, decision.team) == (action, mode, team)
    assert decision.rule_ids == rules
    for trigger in decision.triggers:
        assert trigger.detail and trigger.evidence


def test_default_policy_routes_low_confidence_billing_to_billing() -> None:
    decision = evaluate(DEFAULT, "chat", Facts(), turn("why this charge", 0.3, intent="billing"))
    assert (decision.action, decision.team, decision.routing_rule) == ("transfer", "billing", 0)
