"""Comparison figures per policy, and the differing turns with the rules behind them."""

from __future__ import annotations

import pytest
from replay_helpers import POLICY, conversation, events, run, turn, variant

from service.replay import report
from service.replay.compare import Tally, compare
from service.replay.runner import Lane, TurnEvent, Verdict, replay

STRICT = variant("confidence: { threshold: 0.7 }", "confidence: { threshold: 0.85 }")

# Six turns: two drafts at 0.8 (below 0.85 only under STRICT), a sync low confidence, a
# lawyer, and a loop on the third "z".
CONVERSATIONS = [
    conversation("a", turn(confidence=0.95), turn(confidence=0.8, intent="refund", minutes=1)),
    conversation("b", turn(confidence=0.5, intent="x", minutes=30), channel="chat", customer="bob"),
    conversation(
        "c",
        turn("I will call my lawyer", intent="z", minutes=70),
        turn(confidence=0.8, intent="z", minutes=75),
        turn(intent="z", minutes=80),
        customer="cy",
    ),
]


@pytest.mark.parametrize(
    ("policy", "actions", "triggers"),
    [
        (POLICY, {"send": 3, "review": 0, "transfer": 3}, {"confidence": 1, "topic": 1, "loop": 1}),
        (STRICT, {"send": 1, "review": 2, "transfer": 3}, {"confidence": 3, "topic": 1, "loop": 1}),
    ],
)
def test_actions_and_triggers(policy: object, actions: dict, triggers: dict) -> None:
    figures = run(CONVERSATIONS, policy)["policies"]["policy"]  # type: ignore[arg-type]
    assert figures["turns"] == 6
    assert figures["actions"] == actions
    assert figures["triggers"] == triggers


def test_escalation_rates_by_trigger_channel_and_team() -> None:
    figures = run(CONVERSATIONS, STRICT)["policies"]["policy"]
    assert figures["peak_hour"] == {
        "hour": "2026-03-02T10:00:00Z",
        "transfers": 2,
        "by_team": {"legal": 1, "general": 1},
    }
    assert figures["escalation"] == {
        "escalated": 5,
        "turns": 6,
        "rate": pytest.approx(5 / 6),
        "by_trigger": {
            "confidence": {"turns": 3, "rate": pytest.approx(0.5)},
            "topic": {"turns": 1, "rate": pytest.approx(1 / 6)},
            "loop": {"turns": 1, "rate": pytest.approx(1 / 6)},
        },
    }
    assert figures["by_channel"] == {
        "chat": {"turns": 1, "review": 0, "transfer": 1, "rate": 1.0},
        "email": {"turns": 5, "review": 2, "transfer": 2, "rate": pytest.approx(0.8)},
    }
    assert figures["by_team"] == {
        "general": {"review": 2, "transfer": 2, "share": 0.8, "peak_hour_transfers": 1},
        "legal": {"review": 0, "transfer": 1, "share": 0.2, "peak_hour_transfers": 1},
    }


@pytest.mark.parametrize(("minutes", "hours"), [(4.0, 2 * 4 / 60), (30.0, 1.0), (0.0, 0.0)])
def test_reviewer_hours_follow_the_handling_time(minutes: float, hours: float) -> None:
    reviews = run(CONVERSATIONS, STRICT, handling_minutes=minutes)["policies"]["policy"]["reviews"]
    assert reviews == {
        "count": 2,
        "handling_minutes": minutes,
        "reviewer_hours": pytest.approx(hours),
    }


def test_peak_hour_is_the_busiest_hour_of_transfers_by_team() -> None:
    busy = [
        conversation(f"p{i}", turn("my lawyer*", intent=None, minutes=120 + i), customer=f"x{i}")
        for i in range(3)
    ]
    figures = run(CONVERSATIONS + busy, STRICT)["policies"]["policy"]
    assert figures["peak_hour"] == {
        "hour": "2026-03-02T11:00:00Z",
        "transfers": 3,
        "by_team": {"legal": 3},
    }
    assert figures["by_team"]["legal"]["peak_hour_transfers"] == 3


def test_no_transfers_means_no_peak_hour() -> None:
    assert run([conversation("a", turn())])["policies"]["policy"]["peak_hour"] is None


def test_differences_name_the_rules_that_made_them() -> None:
    result = run(CONVERSATIONS, STRICT, POLICY)
    assert [(d["conversation_id"], d["turn"]) for d in result["differences"]] == [
        ("a", 1),
        ("c", 1),
    ]
    first = result["differences"][0]
    assert first["policy"] == {
        "action": "review",
        "triggers": ["confidence"],
        "rule_ids": ["confidence.global"],
        "team": "general",
    }
    assert first["baseline"] == {"action": "send", "triggers": [], "rule_ids": [], "team": None}
    assert first["rules_added"] == ["confidence.global"] and first["rules_removed"] == []
    assert first["at"] == "2026-03-02T09:01:00Z" and first["channel"] == "email"


def test_a_policy_compared_with_itself_differs_nowhere() -> None:
    result = run(CONVERSATIONS, POLICY, POLICY)
    assert result["differences"] == []
    assert result["policies"]["policy"] == result["policies"]["baseline"]


def test_a_different_window_keeps_separate_state() -> None:
    short = variant("repeat_contact: { window: 72h", "repeat_contact: { window: 1h")
    convs = [conversation("a", turn()), conversation("b", turn(minutes=120), channel="chat")]
    result = run(convs, short, POLICY)
    (diff,) = result["differences"]
    assert diff["conversation_id"] == "b" and diff["rules_removed"] == ["repeat_contact"]


def test_recorded_decisions_are_checked_under_their_own_version_only() -> None:
    replayed = [e for e in events(CONVERSATIONS) if isinstance(e, TurnEvent)]
    for number, event in enumerate(replayed):
        # The service sent everything; two of those were under this very policy version.
        event.recorded = Verdict("send", (), (), None)
        event.recorded_version = POLICY.version if number < 2 else "an older version"
    tallies = [Tally("policy", POLICY.version), Tally("recorded")]
    results = ((e, [*v, e.recorded]) for e, v in replay(replayed, [Lane("policy", POLICY)]))
    comparison = compare(results, tallies, check_version=POLICY.version)
    assert comparison.reproduced is not None
    assert (comparison.reproduced["turns"], comparison.reproduced["matching"]) == (2, 2)
    assert len(comparison.differences) == 3  # b, the lawyer and the loop were really sent
    text = report.to_text(comparison, 4.0)
    assert "reproduced under version" in text and "2 of 2 (100.0%)" in text


def test_a_recorded_decision_not_reproduced_is_shown() -> None:
    (event,) = [e for e in events(CONVERSATIONS[:1])[:1] if isinstance(e, TurnEvent)]
    event.recorded = Verdict("review", ("confidence",), ("confidence.global",), "general")
    event.recorded_version = POLICY.version
    results = ((e, [*v, e.recorded]) for e, v in replay([event], [Lane("policy", POLICY)]))
    comparison = compare(results, [Tally("policy"), Tally("recorded")], POLICY.version)
    assert comparison.reproduced is not None
    (mismatch,) = comparison.reproduced["mismatches"]
    assert mismatch["rules_removed"] == ["confidence.global"]
    text = report.to_text(comparison, 4.0)
    assert "0 of 1 (0.0%)" in text and "review (confidence.global)" in text
