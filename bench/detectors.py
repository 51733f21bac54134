"""Measures the escalation detectors on text the team never trained or tuned on.

    .venv/bin/python bench/detectors.py               # the live engine: rules + semantic heads
    .venv/bin/python bench/detectors.py --rules-only  # the rules alone (as before the model)
    .venv/bin/python bench/detectors.py --tune        # the same figures on our own tuning set
    .venv/bin/python bench/detectors.py --file F      # on another labelled file of ours

Sets: ../shared/data/escalation_eval/ (900 messages, 90 conversations, 11 languages, written
outside the team; evaluation only) and the dataset-labelled rows of ../shared/data/utterances.jsonl
(raw labels, noisy). Every message goes through what POST /v1/turns runs: the detector's reading
and service.policy.engine.evaluate on a sync channel with a confident draft, so an ordinary
message is right only when the answer is `send`. Conversations are sent turn by turn with each
turn's intent, the facts rebuilt as the service stores them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.detection.reading import Reading  # noqa: E402
from service.detection.service import Detector  # noqa: E402
from service.policy import engine  # noqa: E402
from service.policy.loader import load_policy  # noqa: E402
from service.policy.model import Policy  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
EVAL = SHARED / "escalation_eval"
TUNE = ROOT / "service" / "detection" / "data" / "tune"
TOPICS = ("legal", "fraud", "medical", "regulated_finance")
CHANNEL = "chat"
CONFIDENT = 0.95


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


class Judge:
    """Decides on messages exactly as the live intake does, encoding in batches."""

    def __init__(self, policy: Policy, rules_only: bool) -> None:
        self.policy = policy
        self.detector = None if rules_only else Detector()

    def readings(self, texts: list[str]) -> list[Reading | None]:
        if self.detector is None:
            return [None] * len(texts)
        out: list[Reading | None] = []
        for start in range(0, len(texts), 64):
            out.extend(self.detector.read_all(self.policy, texts[start : start + 64]))
        return out

    def decide(
        self, text: str, reading: Reading | None, facts: engine.Facts, intent: str | None = None
    ) -> engine.Decision:
        signals = engine.Signals(
            message=text, draft_text="", confidence=CONFIDENT, intent=intent, reading=reading
        )
        return engine.evaluate(self.policy, CHANNEL, facts, signals)


def ratio(hit: int, total: int) -> str:
    return f"{hit / total:.3f} ({hit}/{total})" if total else "n/a"


def messages(judge: Judge, rows: list[dict[str, Any]], verbose: bool) -> None:
    started = time.perf_counter()
    readings = judge.readings([r["text"] for r in rows])
    decisions = [
        judge.decide(r["text"], rd, engine.Facts()) for r, rd in zip(rows, readings, strict=True)
    ]
    elapsed = time.perf_counter() - started
    kinds: list[set[str]] = [{t.type for t in d.triggers} for d in decisions]

    def has(row: dict[str, Any], label: str) -> bool:
        return row["label"] == label or label in (row.get("also") or [])

    explicit = [i for i, r in enumerate(rows) if r["label"] == "explicit_request"]
    found = [i for i in explicit if "explicit_request" in kinds[i]]
    fired = [i for i, k in enumerate(kinds) if "explicit_request" in k]
    right = [i for i in fired if has(rows[i], "explicit_request")]
    not_en = [i for i in explicit if rows[i]["lang"] != "en"]
    distress = [i for i, r in enumerate(rows) if r["label"] == "distress"]
    topics = [i for i, r in enumerate(rows) if r["label"] in TOPICS]
    calm = [
        i
        for i, r in enumerate(rows)
        if r["label"] in ("ordinary", "not_request_mentions_human") and not r.get("also")
    ]
    escalated = [i for i in calm if decisions[i].action != "send"]
    print(
        f"{len(rows)} messages decided in {elapsed:.1f} s ({elapsed / len(rows) * 1000:.2f} ms each)"
    )
    print(f"{'signal':<46}{'target':>8}  measured")
    lines = [
        ("explicit request, recall", ">= 0.95", ratio(len(found), len(explicit))),
        (
            "  outside English",
            "",
            ratio(sum("explicit_request" in kinds[i] for i in not_en), len(not_en)),
        ),
        ("explicit request, precision", ">= 0.90", ratio(len(right), len(fired))),
        (
            "distress (action transfer), recall",
            ">= 0.95",
            ratio(sum(decisions[i].action == "transfer" for i in distress), len(distress)),
        ),
        (
            "policy topics (a topic trigger), recall",
            ">= 0.90",
            ratio(sum("topic" in kinds[i] for i in topics), len(topics)),
        ),
        (
            "  the right topic",
            "",
            ratio(
                sum(f"topics.{rows[i]['label']}" in decisions[i].rule_ids for i in topics),
                len(topics),
            ),
        ),
        ("ordinary and mention rows escalated", "<= 0.05", ratio(len(escalated), len(calm))),
        (
            "  near misses escalated",
            "",
            ratio(
                sum(rows[i].get("category") == "near_miss" for i in escalated),
                sum(rows[i].get("category") == "near_miss" for i in calm),
            ),
        ),
    ]
    for name, want, got in lines:
        print(f"{name:<46}{want:>8}  {got}")
    print()
    _by(rows, decisions, kinds, "lang", "per language")
    _by(
        [r for r in rows if r["label"] == "distress"],
        [decisions[i] for i in distress],
        [kinds[i] for i in distress],
        "category",
        "distress per category (share transferred)",
    )
    _confusion(rows, kinds, decisions)
    if verbose:
        _errors(rows, decisions, kinds, readings)


def _outcome(kinds: set[str], decision: engine.Decision) -> str:
    for kind in ("distress", "explicit_request", "topic", "sentiment"):
        if kind in kinds:
            return kind
    return decision.action


def _right(row: dict[str, Any], kinds: set[str], decision: engine.Decision) -> bool:
    label = row["label"]
    if label == "explicit_request":
        return "explicit_request" in kinds
    if label == "distress":
        return decision.action == "transfer"
    if label in TOPICS:
        return "topic" in kinds
    if label in ("ordinary", "not_request_mentions_human") and not row.get("also"):
        return decision.action == "send"
    return True  # anger and rows with several labels: no single right answer here


def _by(
    rows: list[dict[str, Any]],
    decisions: list[engine.Decision],
    kinds: list[set[str]],
    key: str,
    title: str,
) -> None:
    groups: dict[str, list[bool]] = defaultdict(list)
    for row, decision, kind in zip(rows, decisions, kinds, strict=True):
        groups[str(row.get(key))].append(_right(row, kind, decision))
    print(title + ": right / rows")
    print(
        "  "
        + "  ".join(
            f"{g} {sum(v)}/{len(v)} ({sum(v) / len(v):.2f})" for g, v in sorted(groups.items())
        )
    )
    print()


def _confusion(
    rows: list[dict[str, Any]], kinds: list[set[str]], decisions: list[engine.Decision]
) -> None:
    columns = ("distress", "explicit_request", "topic", "sentiment", "review", "send", "transfer")
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for row, kind, decision in zip(rows, kinds, decisions, strict=True):
        label = row["label"] + (".near_miss" if row.get("category") == "near_miss" else "")
        table[label][_outcome(kind, decision)] += 1
    print("confusion: label (rows) -> first trigger by precedence, else the action")
    print(f"{'label':<28}{'rows':>5}" + "".join(f"{c[:9]:>10}" for c in columns))
    for label in sorted(table):
        counts = table[label]
        print(
            f"{label:<28}{sum(counts.values()):>5}" + "".join(f"{counts[c]:>10}" for c in columns)
        )
    print()


def _errors(
    rows: list[dict[str, Any]],
    decisions: list[engine.Decision],
    kinds: list[set[str]],
    readings: list[Reading | None],
) -> None:
    for row, decision, kind, reading in zip(rows, decisions, kinds, readings, strict=True):
        if not _right(row, kind, decision):
            top = ""
            if reading is not None:
                best = sorted(reading.scores.items(), key=lambda kv: -kv[1])[:3]
                top = " ".join(f"{k}={v:.2f}" for k, v in best)
            print(
                f"MISS {row['label']:<28} got={sorted(kind) or decision.action} [{top}] {row['text'][:150]!r}"
            )


def conversations(judge: Judge, convs: list[dict[str, Any]]) -> None:
    results: dict[str, list[bool]] = defaultdict(list)
    for conv in convs:
        texts = [t["text"] for t in conv["turns"]]
        readings = judge.readings(texts)
        prior: list[engine.PriorTurn] = []
        seen: set[str] = set()
        for turn, reading in zip(conv["turns"], readings, strict=True):
            decision = judge.decide(
                turn["text"], reading, engine.Facts(turns=tuple(prior)), turn.get("intent")
            )
            seen |= {t.type for t in decision.triggers}
            prior.append(engine.PriorTurn(turn.get("intent"), decision.sentiment))
        expect = conv["expect"]
        if expect == "loop":
            ok = "loop" in seen
        elif expect == "sentiment_sustained":
            ok = "sentiment" in seen
        else:
            ok = not ({"loop", "sentiment"} & seen)
        results[expect].append(ok)
    total = sum(sum(v) for v in results.values())
    count = sum(len(v) for v in results.values())
    print(f"conversations right (target >= 0.90): {ratio(total, count)}")
    print("  " + "  ".join(f"{k} {sum(v)}/{len(v)}" for k, v in sorted(results.items())))
    print()


UTTERANCE_EXPECT: dict[str, Callable[[set[str], engine.Decision], bool]] = {
    "human_request": lambda k, d: "explicit_request" in k,
    "safety_distress": lambda k, d: d.action == "transfer",
    "legal": lambda k, d: "topic" in k,
    "fraud_security": lambda k, d: "topic" in k,
    "medical_health": lambda k, d: "topic" in k,
    "ordinary": lambda k, d: d.action == "send",
}


def utterances(judge: Judge) -> None:
    rows = [
        r
        for r in read_jsonl(SHARED / "utterances.jsonl")
        if r.get("category_basis") == "dataset_label" and r["category"] in UTTERANCE_EXPECT
    ]
    readings = judge.readings([r["text"] for r in rows])
    per: dict[str, list[bool]] = defaultdict(list)
    for row, reading in zip(rows, readings, strict=True):
        decision = judge.decide(row["text"], reading, engine.Facts())
        kinds = {t.type for t in decision.triggers}
        per[row["category"]].append(UTTERANCE_EXPECT[row["category"]](kinds, decision))
    print(f"utterances.jsonl, {len(rows)} dataset-labelled rows (raw labels, known to be noisy):")
    for category, results in sorted(per.items()):
        what = "sent (nothing fired)" if category == "ordinary" else "found"
        print(f"  {category:<18} {what:<22} {ratio(sum(results), len(results))}")
    print()


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default=str(ROOT / "policies" / "default.yaml"))
    parser.add_argument("--rules-only", action="store_true", help="without the semantic heads")
    parser.add_argument("--tune", action="store_true", help="our own tuning set, not evaluation")
    parser.add_argument("--errors", action="store_true", help="print each wrong message")
    parser.add_argument("--file", type=Path, help="another labelled file of ours (row format of "
                        "service/detection/data/README.md), e.g. one not yet tuned on")  # fmt: skip
    args = parser.parse_args(list(argv) if argv is not None else None)
    policy = load_policy(args.policy)
    judge = Judge(policy, args.rules_only)
    mode = "rules only" if args.rules_only else "rules + semantic heads"
    if args.file:
        print(f"== {args.file}, {mode}")
        messages(judge, read_jsonl(args.file), args.errors)
        return
    if args.tune:
        print(f"== our tuning set ({TUNE}), {mode}")
        messages(judge, read_jsonl(TUNE / "messages.jsonl"), args.errors)
        conversations(judge, read_jsonl(TUNE / "conversations.jsonl"))
        return
    print(f"== escalation_eval (never trained or tuned on), {mode}, policy {policy.version[:12]}")
    messages(judge, read_jsonl(EVAL / "messages.jsonl"), args.errors)
    conversations(judge, read_jsonl(EVAL / "conversations.jsonl"))
    utterances(judge)


if __name__ == "__main__":
    main()
