"""Scores the text detectors on the dataset-labelled rows of ../shared/data/utterances.jsonl."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.policy import detectors  # noqa: E402
from service.policy.loader import load_policy  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "utterances.jsonl"
DETECTORS = ("explicit", "distress", "legal", "fraud", "medical", "finance")
# Which detector each escalation bucket should fire; the other buckets expect nothing hard.
EXPECTED = {
    "human_request": "explicit",
    "safety_distress": "distress",
    "legal": "legal",
    "fraud_security": "fraud",
    "medical_health": "medical",
    "account_financial": "finance",
}
TOPIC_NAMES = {
    "legal": "legal",
    "fraud": "fraud",
    "medical": "medical",
    "regulated_finance": "finance",
}
# account_financial mixes regulated products with refunds, returns and transfers; the default
# policy's regulated_finance topic covers only the former. These are the dataset's own label
# names (metadata, not text) for regulated products: credit, loans, investments, claims, tax.
REGULATED_LABEL_PREFIXES = (
    "Mortgage",
    "Credit reporting",
    "Debt collection",
    "Student loan",
    "Vehicle loan",
    "Payday loan",
    "Credit card",
    "ApplyLoan",
    "PurchaseStocks",
    "ApplyCreditCard",
    "GetCreditReport",
    "GetDebtIncomeRatio",
    "FileClaim",
    "DisputeCharge",
    "rollover_401k",
    "credit_score",
    "improve_credit_score",
    "interest_rate",
    "apr",
    "taxes",
    "credit_limit",
    "EMI",
    "TAXES",
    "insurance",
)
# Rows whose dataset label I judged wrong for escalation after reading every disagreement: ids
# only (no text), grouped by the bucket they belong in and why. Scored raw and corrected.
# "account_issue" and "unclear" are buckets of their own that expect no hard trigger.
_JUDGED = {
    (
        "account_issue",
        "human_request label on a wallet/bonus/deposit problem; no ask for a person",
    ): "u00294 u00295 u00297 u00298 u00299 u00303 u00305 u00306 u00307 u00308 u00310 "
    "u00311 u00313 u00314 u00316 u00318 u00320 u00321 u00322 u00323 u00324 u00325 u00327 u00328 "
    "u00329 u00331 u00527 u00529 u00530 u00531 u00532 u00534 u00535 u00538 u00540 u00544 u00545 "
    "u00546 u00549 u00550 u00551 u00554 u00555 u00558 u00559 u00561 u00564 u00566 u00567",
    (
        "complaint_anger",
        "human_request label on a complaint or insult with no ask for a person",
    ): "u00199 u00201 u00207 u00208 u00209 u00211 u00454 u00456 u00457 u00458 u00464 u00477 u00485 "
    "u00486 u00490 u00491 u00492",
    (
        "unclear",
        "human_request label on urgency alone, a one-word reply or a fragment",
    ): "u00203 u00461 u00466 u00472 u00473 u00489 u00528 u00539 u00542 u00556 u00565",
    ("safety_distress", "human_request label on a declared emergency"): "u00474",
    (
        "ordinary",
        "human_request label on a question about call-centre opening hours",
    ): "u00433 u00434 u00436 u00439 u00443 u00451 u00452",
    (
        "ordinary",
        "human_request label, but the customer talks to the bot or changes subject",
    ): "u00319 u00536",
    ("ordinary", "human_request label on a message that declines an agent"): "u00541",
    ("human_request", "ordinary label, but the customer asks to talk to an advisor"): "u01735",
    ("medical_health", "ordinary label on a health question"): "u01583",
    (
        "unclear",
        "medical_health label on a menu click or fragment with no health content",
    ): "u00497 u00498 u00510 u01857 u01909",
    ("ordinary", "fraud_security label on a question about the game's fair-play rules"): "u00582",
}
LABEL_ERRORS: dict[str, tuple[str, str]] = {
    row_id: (category, why) for (category, why), ids in _JUDGED.items() for row_id in ids.split()
}


def load_rows() -> list[dict[str, str]]:
    with DATA.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return [r for r in rows if r.get("category_basis") == "dataset_label"]


def fired(matcher: detectors.TopicMatcher, text: str) -> set[str]:
    folded = detectors.fold(text)
    out = set()
    if detectors.explicit_request(folded) is not None:
        out.add("explicit")
    if detectors.distress(folded, ("self_harm", "violence", "abuse", "emergency", "bereavement")):
        out.add("distress")
    for hit in matcher.match(folded, ()):
        out.add(TOPIC_NAMES.get(hit.key, hit.key))
    return out


def category_of(row: dict[str, str], corrected: bool) -> str:
    if corrected and row["id"] in LABEL_ERRORS:
        return LABEL_ERRORS[row["id"]][0]
    return row["category"]


def confusion(rows: list[dict[str, str]], results: dict[str, set[str]], corrected: bool) -> None:
    counts: dict[str, Counter[str]] = {}
    for row in rows:
        cat = category_of(row, corrected)
        counter = counts.setdefault(cat, Counter())
        counter["rows"] += 1
        for name in results[row["id"]] or {"none"}:
            counter[name] += 1
    header = f"{'category':<20}{'rows':>6}" + "".join(f"{d:>10}" for d in (*DETECTORS, "none"))
    print(header)
    for cat in sorted(counts):
        c = counts[cat]
        print(f"{cat:<20}{c['rows']:>6}" + "".join(f"{c[d]:>10}" for d in (*DETECTORS, "none")))


def scores(rows: list[dict[str, str]], results: dict[str, set[str]], corrected: bool) -> None:
    print(f"{'detector':<10}{'tp':>6}{'fp':>6}{'fn':>6}{'precision':>11}{'recall':>8}")
    for det in DETECTORS:
        tp = fp = fn = 0
        for row in rows:
            want = EXPECTED.get(category_of(row, corrected)) == det
            got = det in results[row["id"]]
            tp += want and got
            fp += got and not want
            fn += want and not got
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        print(f"{det:<10}{tp:>6}{fp:>6}{fn:>6}{precision:>11.3f}{recall:>8.3f}")


def summary(rows: list[dict[str, str]], results: dict[str, set[str]], corrected: bool) -> None:
    def recall(selected: list[dict[str, str]]) -> str:
        hit = sum(EXPECTED[category_of(r, corrected)] in results[r["id"]] for r in selected)
        return f"{hit / len(selected):.3f} ({hit}/{len(selected)})" if selected else "n/a"

    topic_cats = ("legal", "fraud_security", "medical_health")
    topic_rows = [r for r in rows if category_of(r, corrected) in topic_cats]
    finance = [r for r in rows if category_of(r, corrected) == "account_financial"]
    regulated = [r for r in finance if (r.get("label") or "").startswith(REGULATED_LABEL_PREFIXES)]
    ordinary = [r for r in rows if category_of(r, corrected) == "ordinary"]
    hard = sum(bool(results[r["id"]]) for r in ordinary)
    print(f"topic recall (legal, fraud, medical): {recall(topic_rows)}")
    print(f"topic recall incl. regulated finance:  {recall(topic_rows + regulated)}")
    print(f"finance recall, regulated-product labels: {recall(regulated)}")
    print(f"finance recall, whole account_financial bucket: {recall(finance)}")
    print(
        f"ordinary rows firing any hard trigger: {hard / len(ordinary):.3f} ({hard}/{len(ordinary)})"
    )


def show_disagreements(rows: list[dict[str, str]], results: dict[str, set[str]]) -> None:
    for row in rows:
        want = EXPECTED.get(row["category"])
        got = results[row["id"]]
        missed = want is not None and want not in got
        extra = (want is None and row["category"] == "ordinary" and got) or (
            "explicit" in got and want != "explicit"
        )
        if missed or extra:
            mark = "LABEL?" if row["id"] in LABEL_ERRORS else ""
            print(
                f"{row['id']} {row['category']:<18} want={want} got={sorted(got)} {mark} | "
                f"{row['text'][:140]!r}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", default=str(ROOT / "policies" / "default.yaml"))
    parser.add_argument("--disagreements", action="store_true", help="print each disagreement")
    args = parser.parse_args()
    policy = load_policy(args.policy)
    matcher = detectors.compile_topics(policy.triggers.topics)
    rows = load_rows()
    results = {row["id"]: fired(matcher, row["text"]) for row in rows}
    for corrected in (False, True):
        title = (
            f"with my label corrections ({len(LABEL_ERRORS)} rows relabelled)"
            if corrected
            else "raw dataset labels"
        )
        print(f"== {len(rows)} dataset-labelled rows, {title}")
        confusion(rows, results, corrected)
        scores(rows, results, corrected)
        summary(rows, results, corrected)
        print()
    if args.disagreements:
        show_disagreements(rows, results)


if __name__ == "__main__":
    main()
