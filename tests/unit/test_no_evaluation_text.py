"""No evaluation text in the project (issue 9): the messages of ../shared/data/escalation_eval,
written outside the team to measure the detectors, appear nowhere in the training and tuning
rows, the tests, the benches or the policies. Read in place, never copied: a phrase of two
words or more (or a sentence of a script written without spaces) found inside any of them,
casefolded, fails this test and names the file and the phrase."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT.parent / "shared" / "data" / "escalation_eval"
NO_SPACES = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af\u0e00-\u0e7f]")
pytestmark = pytest.mark.skipif(not EVAL.exists(), reason="evaluation data not present")


def evaluation_phrases() -> set[str]:
    found: set[str] = set()
    for path in EVAL.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts = [row.get("text")] + [t.get("text") for t in row.get("turns") or []]
            found |= {t.strip().casefold() for t in texts if isinstance(t, str)}
    return {t for t in found if len(t.split()) >= 2 or (len(t) >= 6 and NO_SPACES.search(t))}


def project_files() -> list[Path]:
    folders = ("service/detection/data", "tests", "bench", "policies")
    suffixes = {".jsonl", ".py", ".lua", ".yaml", ".md", ".json"}
    return [
        p
        for folder in folders
        for p in (ROOT / folder).rglob("*")
        if p.suffix in suffixes and p.is_file() and p != Path(__file__)
    ]


def test_no_evaluation_message_is_in_the_project() -> None:
    phrases = evaluation_phrases()
    assert len(phrases) > 100, "the evaluation set was read"
    copies = []
    for path in project_files():
        text = path.read_text(encoding="utf-8", errors="replace").casefold()
        copies += [f"{path.relative_to(ROOT)}: {p!r}" for p in phrases if p in text]
    assert not copies, "evaluation text in the project:\n" + "\n".join(sorted(copies))
