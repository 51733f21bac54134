"""Properties over generated turns: what must hold whatever the confidence, channel and text."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from service.policy.engine import Facts, PriorTurn, Signals, evaluate
from service.policy.loader import load_policy

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = load_policy(ROOT / "policies" / "default.yaml")
SYNC = [name for name, channel in DEFAULT.channels.items() if channel.is_sync]

REQUESTS = [
    "can I talk to a human?",
    "get me a supervisor",
    "I want a representative",
    "call me back",
    "quiero hablar con un agente",
    "je veux parler à un conseiller",
]
DISTRESS = [
    "I want to kill myself",
    "my husband hits me",
    "my son passed away yesterday",
    "he is having a heart attack",
    "I'm going to hurt someone",
]
TOPICS = [
    "my lawyer will contact you",
    "there is a fraudulent charge on my card",
    "does this cause side effects",
    "I need a loan for my business",
]

channels = st.sampled_from([*sorted(DEFAULT.channels), "unknown-channel"])
confidences = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
filler = st.text(alphabet=st.characters(categories=("L", "N", "Zs")), max_size=40)
sentiments = st.one_of(st.none(), st.floats(min_value=-1, max_value=1))
intents = st.one_of(st.none(), st.sampled_from(["refund", "billing", "order_status"]))
facts = st.builds(
    Facts,
    turns=st.lists(st.builds(PriorTurn, intent=intents, sentiment=sentiments), max_size=5).map(
        tuple
    ),
    resolved=st.booleans(),
)


def signals(
    message: str, confidence: float, sentiment: float | None, intent: str | None
) -> Signals:
    return Signals(
        message=message,
        draft_text="draft",
        confidence=confidence,
        intent=intent,
        sentiment=sentiment,
    )


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(REQUESTS + DISTRESS + TOPICS),
    filler,
    channels,
    confidences,
    sentiments,
    intents,
    facts,
)
def test_request_distress_or_topic_always_transfers(
    core: str,
    tail: str,
    channel: str,
    confidence: float,
    sentiment: float | None,
    intent: str | None,
    history: Facts,
) -> None:
    # Filler goes after a full stop, so it cannot turn the core sentence into a negation.
    message = f"{core}. {tail}"
    decision = evaluate(DEFAULT, channel, history, signals(message, confidence, sentiment, intent))
    assert decision.action == "transfer"
    assert decision.team is not None and decision.transfer_mode in ("warm", "cold")
    assert any(t.hard for t in decision.triggers)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["agent", "Representative!!", "a person now please", "operator"]),
    channels,
    confidences,
    facts,
)
def test_a_bare_request_always_transfers(
    message: str, channel: str, confidence: float, history: Facts
) -> None:
    decision = evaluate(DEFAULT, channel, history, signals(message, confidence, None, None))
    assert decision.action == "transfer"
    assert "explicit_request" in decision.rule_ids


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(DISTRESS), channels, confidences)
def test_distress_is_always_warm_to_care(message: str, channel: str, confidence: float) -> None:
    decision = evaluate(DEFAULT, channel, Facts(), signals(message, confidence, None, None))
    assert (decision.action, decision.transfer_mode, decision.team) == ("transfer", "warm", "care")


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200), st.sampled_from(SYNC), confidences, sentiments, intents, facts)
def test_sync_channel_never_gets_review(
    message: str,
    channel: str,
    confidence: float,
    sentiment: float | None,
    intent: str | None,
    history: Facts,
) -> None:
    decision = evaluate(DEFAULT, channel, history, signals(message, confidence, sentiment, intent))
    assert decision.action in ("send", "transfer")


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300), channels, confidences, sentiments, intents, facts)
def test_evaluate_is_total_and_consistent(
    message: str,
    channel: str,
    confidence: float,
    sentiment: float | None,
    intent: str | None,
    history: Facts,
) -> None:
    turn = signals(message, confidence, sentiment, intent)
    decision = evaluate(DEFAULT, channel, history, turn)
    assert decision == evaluate(DEFAULT, channel, history, turn)  # deterministic
    assert -1.0 <= decision.sentiment <= 1.0
    assert decision.policy_version == DEFAULT.version
    assert (decision.action == "transfer") == (decision.team is not None)
    assert (decision.action == "send") == (decision.triggers == ())
    if decision.action == "review":
        assert DEFAULT.channels[channel].mode == "async"
