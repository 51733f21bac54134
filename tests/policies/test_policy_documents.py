"""Every policy document shipped under policies/ is valid and keeps the contract's promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.policy.engine import Facts, Signals, evaluate
from service.policy.loader import load_policy

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted((ROOT / "policies").glob("**/*.yaml"))


def test_there_is_a_default_policy() -> None:
    assert ROOT / "policies" / "default.yaml" in DOCUMENTS


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_document_is_valid(path: Path) -> None:
    policy = load_policy(path)
    assert policy.default_team in policy.teams


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
@pytest.mark.parametrize(
    "message",
    ["please let me talk to a human", "my brother passed away", "I'm calling my lawyer"],
)
def test_document_transfers_hard_triggers_on_every_channel(path: Path, message: str) -> None:
    policy = load_policy(path)
    for channel in policy.channels:
        turn = Signals(message=message, draft_text="x", confidence=1.0)
        assert evaluate(policy, channel, Facts(), turn).action == "transfer", (channel, message)
