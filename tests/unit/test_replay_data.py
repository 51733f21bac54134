"""Replay on real support threads (../shared/data/conversations.jsonl, read in place): the
figures add up, and a replay gives the same answer twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from replay_helpers import run

from service.policy.loader import load_policy
from service.replay import synthetic

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "conversations.jsonl"
DEFAULT = load_policy(ROOT / "policies" / "default.yaml")
CAUTIOUS = load_policy(ROOT / "policies" / "examples" / "cautious-retail.yaml")

pytestmark = pytest.mark.skipif(not DATA.exists(), reason="evaluation data not present")


@pytest.fixture(scope="module")
def conversations() -> list[dict[str, Any]]:
    with DATA.open(encoding="utf-8") as handle:
        return list(synthetic.from_threads(json.loads(line) for line in handle))


@pytest.fixture(scope="module")
def result(conversations: list[dict[str, Any]]) -> dict[str, Any]:
    return run(conversations, DEFAULT, CAUTIOUS)


def test_every_customer_turn_is_replayed(
    conversations: list[dict[str, Any]], result: dict[str, Any]
) -> None:
    turns = sum(len(c["turns"]) for c in conversations)
    assert turns == 1050  # the customer turns of the 300 threads
    figures = result["policies"]["policy"]
    assert figures["turns"] == turns and figures["refused"] == 0
    assert len(figures["decisions"]) == turns


@pytest.mark.parametrize("name", ["policy", "baseline"])
def test_counts_add_up(result: dict[str, Any], name: str) -> None:
    f = result["policies"][name]
    assert sum(f["actions"].values()) == f["turns"]
    assert f["turns"] + f["refused"] == 1050
    assert sum(f["shares"].values()) == pytest.approx(1.0)
    assert sum(c["turns"] for c in f["by_channel"].values()) == f["turns"]
    assert sum(c["review"] for c in f["by_channel"].values()) == f["actions"]["review"]
    assert sum(t["transfer"] for t in f["by_team"].values()) == f["actions"]["transfer"]
    assert sum(t["share"] for t in f["by_team"].values()) == pytest.approx(1.0)
    escalated = f["actions"]["review"] + f["actions"]["transfer"]
    assert f["escalation"]["escalated"] == escalated
    # Every escalation has at least one trigger, and a trigger never fires on a sent draft.
    assert max(f["triggers"].values()) <= escalated <= sum(f["triggers"].values())
    assert f["reviews"]["reviewer_hours"] == pytest.approx(f["actions"]["review"] * 4 / 60)
    assert f["peak_hour"]["transfers"] == sum(f["peak_hour"]["by_team"].values())


def test_real_text_exercises_the_rules_that_read_state(result: dict[str, Any]) -> None:
    triggers = result["policies"]["policy"]["triggers"]
    assert {"sentiment", "loop", "repeat_contact", "topic", "confidence"} <= set(triggers)


def test_differences_are_the_turns_whose_decisions_differ(result: dict[str, Any]) -> None:
    mine = {(d["conversation_id"], d["turn"]): d for d in result["policies"]["policy"]["decisions"]}
    theirs = {
        (d["conversation_id"], d["turn"]): d for d in result["policies"]["baseline"]["decisions"]
    }
    changed_action = {
        k for k in mine if k not in theirs or mine[k]["action"] != theirs[k]["action"]
    }
    listed = {(d["conversation_id"], d["turn"]) for d in result["differences"]}
    assert changed_action <= listed
    for d in result["differences"]:
        key = (d["conversation_id"], d["turn"])
        assert d["policy"]["action"] == mine[key]["action"]
        assert (d["baseline"] is None) == (key not in theirs)


def test_replay_is_deterministic(
    conversations: list[dict[str, Any]], result: dict[str, Any]
) -> None:
    assert run(conversations, DEFAULT, CAUTIOUS) == result
