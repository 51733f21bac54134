"""`hitl policy check` and `hitl policy explain`, driven through click."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from service.policy.cli import policy

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = str(ROOT / "policies" / "default.yaml")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(policy, list(args))
    return result.exit_code, result.output


def test_check_valid() -> None:
    code, out = run("check", DEFAULT)
    assert code == 0 and "ok" in out


def test_check_prints_every_issue_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: 2\nchanels: {}\nrouting: {default_team: x}\nteams: {}\n")
    code, out = run("check", str(path))
    assert code == 1
    lines = [line for line in out.splitlines() if line.startswith(str(path))]
    assert len(lines) >= 3
    assert any("did you mean 'channels'" in line for line in lines)
    assert "Traceback" not in out


def test_check_missing_file(tmp_path: Path) -> None:
    code, out = run("check", str(tmp_path / "nope.yaml"))
    assert code == 1 and "cannot read" in out


def turn_file(tmp_path: Path, body: dict[str, object]) -> str:
    path = tmp_path / "turn.json"
    path.write_text(json.dumps(body))
    return str(path)


TURN = {
    "conversation_id": "c-1",
    "channel": "email",
    "customer_id": "u-1",
    "message": "Third time writing. Get me a manager.",
    "draft": {"text": "Sorry about that", "confidence": 0.4, "intent": "refund"},
    "topics": ["billing"],
    "facts": {
        "turns": [{"intent": "refund", "sentiment": -0.8}, {"intent": "refund", "sentiment": -0.7}],
        "contacts": [
            {
                "conversation_id": "c-0",
                "intents": ["refund"],
                "topics": [],
                "resolved": None,
                "last_at": "2024-05-01T10:00:00+00:00",
            }
        ],
    },
}


def test_explain_lists_every_rule_and_the_outcome(tmp_path: Path) -> None:
    code, out = run("explain", DEFAULT, turn_file(tmp_path, TURN))
    assert code == 0, out
    for rule in (
        "explicit_request",
        "sentiment.sustained",
        "loop",
        "repeat_contact",
        "confidence.global",
    ):
        assert rule in out
    assert "decision: transfer, warm" in out


def test_explain_json(tmp_path: Path) -> None:
    code, out = run("explain", DEFAULT, turn_file(tmp_path, TURN), "--json")
    assert code == 0
    body = json.loads(out)
    assert body["action"] == "transfer"
    assert body["triggers"][0]["type"] == "explicit_request"


def test_explain_send(tmp_path: Path) -> None:
    body = {
        **TURN,
        "message": "where is my parcel",
        "draft": {"text": "x", "confidence": 0.9},
        "facts": None,
        "channel": "chat",
    }
    code, out = run("explain", DEFAULT, turn_file(tmp_path, body))
    assert code == 0 and "decision: send" in out and "fired: nothing" in out


def test_explain_rejects_a_bad_turn_file(tmp_path: Path) -> None:
    path = tmp_path / "turn.json"
    path.write_text("{not json")
    code, out = run("explain", DEFAULT, str(path))
    assert code == 2 and "not JSON" in out
    code, out = run("explain", DEFAULT, turn_file(tmp_path, {"channel": "chat", "message": "x"}))
    assert code == 2 and "draft" in out
    bad = {**TURN, "draft": {"text": "x", "confidence": 7}}
    code, out = run("explain", DEFAULT, turn_file(tmp_path, bad))
    assert code == 2 and "between 0 and 1" in out
