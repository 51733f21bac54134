"""`hitl replay FILE`: the CONTRACT section 3 shape, the text tables, and clear refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from replay_helpers import POLICY_TEXT, conversation, turn

from service.replay.cli import replay_command

CONVERSATIONS = [
    conversation("a", turn(), turn(confidence=0.75, intent="refund", minutes=1)),
    conversation("b", turn("can I talk to a human?", minutes=3), channel="chat", customer="bob"),
]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    policy = tmp_path / "current.yaml"
    policy.write_text(POLICY_TEXT)
    strict = tmp_path / "strict.yaml"
    strict.write_text(POLICY_TEXT.replace("threshold: 0.7 }", "threshold: 0.8 }"))
    data = tmp_path / "history.jsonl"
    data.write_text("\n".join(json.dumps(c) for c in CONVERSATIONS) + "\n\n")
    return {"policy": policy, "strict": strict, "data": data}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(replay_command, list(args), catch_exceptions=False)


def test_json_has_the_contract_shape(files: dict[str, Path]) -> None:
    result = invoke(
        "--policy",
        str(files["strict"]),
        "--baseline",
        str(files["policy"]),
        "--json",
        str(files["data"]),
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) == {"policies", "differences"}
    assert list(out["policies"]) == ["strict", "current"]
    for figures in out["policies"].values():
        assert figures["turns"] == 3
        assert set(figures["actions"]) == {"send", "review", "transfer"}
        assert all(isinstance(n, int) for n in figures["triggers"].values())
        assert "decisions" not in figures
    assert out["policies"]["strict"]["actions"] == {"send": 1, "review": 1, "transfer": 1}
    assert out["policies"]["current"]["triggers"] == {"explicit_request": 1}
    (diff,) = out["differences"]
    assert diff["conversation_id"] == "a" and diff["turn"] == 1
    assert diff["rules_added"] == ["confidence.global"]


def test_decisions_lists_every_turn_in_input_order(files: dict[str, Path]) -> None:
    result = invoke("--policy", str(files["policy"]), "--json", "--decisions", str(files["data"]))
    decisions = json.loads(result.output)["policies"]["current"]["decisions"]
    assert decisions == [
        {"conversation_id": "a", "turn": 0, "action": "send", "triggers": []},
        {"conversation_id": "a", "turn": 1, "action": "send", "triggers": []},
        {"conversation_id": "b", "turn": 0, "action": "transfer", "triggers": ["explicit_request"]},
    ]


def test_text_tables(files: dict[str, Path]) -> None:
    result = invoke(
        "--policy",
        str(files["strict"]),
        "--baseline",
        str(files["policy"]),
        "--handling-minutes",
        "30",
        str(files["data"]),
    )
    assert result.exit_code == 0
    text = result.output
    for expected in (
        "strict",
        "current",
        "escalation rate",
        "reviewer-hours @ 30 min",
        "by team",
        "1 turn decided differently",
        "a#1",
        "+confidence.global",
    ):
        assert expected in text, expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"conversation_id": "a"}', "history.jsonl:2: Object missing required field"),
        ("not json", "history.jsonl:2: not a JSON object"),
        (
            json.dumps(conversation("x", turn(confidence=1.5))),
            "history.jsonl:2: Expected `float` <= 1.0 - at `$.turns[0].draft.confidence`",
        ),
        (
            json.dumps(
                conversation("x", {"message": "hi", "draft": {"text": "t", "confidence": 0.5}})
            ),
            "history.jsonl:2: Object missing required field `at`",
        ),
    ],
)
def test_a_bad_line_is_named(
    tmp_path: Path, files: dict[str, Path], line: str, message: str
) -> None:
    bad = tmp_path / "history.jsonl"
    bad.write_text(json.dumps(CONVERSATIONS[0]) + "\n" + line + "\n")
    result = CliRunner().invoke(replay_command, ["--policy", str(files["policy"]), str(bad)])
    assert result.exit_code == 1
    assert message in result.output


def test_file_or_from_db_not_both_nor_neither(files: dict[str, Path]) -> None:
    runner = CliRunner()
    both = runner.invoke(
        replay_command, ["--policy", str(files["policy"]), "--from-db", str(files["data"])]
    )
    neither = runner.invoke(replay_command, ["--policy", str(files["policy"])])
    stray = runner.invoke(
        replay_command, ["--policy", str(files["policy"]), "--channel", "sms", str(files["data"])]
    )
    assert both.exit_code == neither.exit_code == stray.exit_code == 2
    assert "either FILE.jsonl or --from-db" in both.output
    assert "--channel goes with --from-db" in stray.output


def test_an_invalid_policy_is_refused_with_its_errors(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(POLICY_TEXT.replace("threshold: 0.7", "threshold: high"))
    result = CliRunner().invoke(replay_command, ["--policy", str(broken), str(files["data"])])
    assert result.exit_code == 1 and "broken.yaml" in result.output


def test_same_file_twice_is_named_policy_and_baseline(files: dict[str, Path]) -> None:
    result = invoke(
        "--policy",
        str(files["policy"]),
        "--baseline",
        str(files["policy"]),
        "--json",
        str(files["data"]),
    )
    out = json.loads(result.output)
    assert list(out["policies"]) == ["policy", "baseline"] and out["differences"] == []


def test_decisions_in_text_too(files: dict[str, Path]) -> None:
    result = invoke("--policy", str(files["policy"]), "--decisions", str(files["data"]))
    assert "decisions: current" in result.output
    assert "b#0" in result.output and "explicit_request" in result.output
