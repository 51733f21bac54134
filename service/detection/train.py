"""Fits the heads on data/train/, sets their thresholds on data/tune/, writes model/heads.npz.

    .venv/bin/python -m service.detection.train          # fit, report, write
    .venv/bin/python -m service.detection.train --check  # fit, report, compare with the shipped file

The evaluation sets (../shared/data/) are never read here: bench/detectors.py measures on them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from tqdm import tqdm

from service.detection import encoder as encoder_
from service.detection import heads as heads_
from service.detection.heads import HEADS

DATA = Path(__file__).parent / "data"
LABELS = (
    "explicit_request",
    "not_request_mentions_human",
    "distress",
    "anger",
    "legal",
    "fraud",
    "medical",
    "regulated_finance",
    "ordinary",
)
# Per-head aim on the tuning set: the threshold is the highest score that still finds this
# share of the positives, unless that lets more than MAX_FALSE of the calm messages through.
RECALL = {"explicit_request": 0.97, "sentiment": 0.85}
RECALL_DEFAULT = 0.95
MAX_FALSE = 0.01  # share of calm tuning messages (ordinary, mentions) a head may fire on
C_GRID = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
EXAMPLE_PRECISION = (
    0.95  # a policy example fires at the similarity where nearest-example is this right
)


@dataclass(frozen=True)
class Row:
    text: str
    label: str
    category: str | None
    also: tuple[str, ...]
    lang: str
    source: str


def read(folder: Path) -> list[Row]:
    rows = []
    for path in sorted(folder.glob("*.jsonl")):
        if path.name == "conversations.jsonl":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            item = json.loads(line)
            if item["label"] not in LABELS:
                raise SystemExit(f"{path}:{number}: unknown label {item['label']!r}")
            rows.append(
                Row(
                    item["text"],
                    item["label"],
                    item.get("category"),
                    tuple(item.get("also") or ()),
                    item.get("lang", "en"),
                    f"{path.name}:{number}",
                )
            )
    return rows


def target(row: Row, head: str) -> bool | None:
    """Whether the row is a positive for the head; None leaves it out of that head's fit."""
    labels = {row.label, *row.also}
    if head == "explicit_request":
        return "explicit_request" in labels
    if head == "distress":
        return row.label == "distress"
    if head.startswith("distress."):
        return row.label == "distress" and row.category == head.split(".", 1)[1]
    if head.startswith("topics."):
        return head.split(".", 1)[1] in labels
    if head == "sentiment":
        # Distress is negative too, but it is not the frustration this head is about.
        return None if row.label == "distress" else "anger" in labels
    raise ValueError(head)


def calm(row: Row) -> bool:
    """A message on which no hard trigger should fire."""
    return row.label in ("ordinary", "not_request_mentions_human") and not row.also


@dataclass(frozen=True)
class Fitted:
    head: str
    weights: np.ndarray
    bias: float
    c: float
    threshold: float
    recall: float  # on the tuning set, at the threshold
    false_rate: float  # calm tuning messages it fires on
    precision: float


def _pick_threshold(head: str, scores: np.ndarray, y: np.ndarray, calm_mask: np.ndarray) -> float:
    want = RECALL.get(head, RECALL_DEFAULT)
    positives = np.sort(scores[y])
    if positives.size == 0:
        return 0.5
    # Highest threshold keeping `want` of the positives above it.
    at_recall = float(positives[int(np.floor((1 - want) * positives.size))])
    calm_scores = np.sort(scores[calm_mask])[::-1]
    allowed = int(np.floor(MAX_FALSE * calm_scores.size))
    # Lowest threshold letting at most `allowed` calm messages through.
    at_false = float(calm_scores[allowed]) + 1e-6 if calm_scores.size > allowed else 0.0
    # Recall first, but never so low that calm messages flood the queue.
    return min(max(at_recall, at_false), 0.99)


def fit_head(
    head: str,
    train_x: np.ndarray,
    train_rows: list[Row],
    tune_x: np.ndarray,
    tune_rows: list[Row],
) -> Fitted:
    keep = [i for i, r in enumerate(train_rows) if target(r, head) is not None]
    x, y = train_x[keep], np.array([bool(target(train_rows[i], head)) for i in keep])
    tkeep = [i for i, r in enumerate(tune_rows) if target(r, head) is not None]
    tx = tune_x[tkeep]
    ty = np.array([bool(target(tune_rows[i], head)) for i in tkeep])
    tcalm = np.array([calm(tune_rows[i]) for i in tkeep])
    best: tuple[float, LogisticRegression, float] | None = None
    for c in C_GRID:
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
        model.fit(x, y)
        scores = model.predict_proba(tx)[:, 1]
        quality = _average_precision(scores, ty)
        if best is None or quality > best[0]:
            best = (quality, model, c)
    assert best is not None
    _, model, c = best
    scores = model.predict_proba(tx)[:, 1]
    threshold = _pick_threshold(head, scores, ty, tcalm)
    fired = scores >= threshold
    return Fitted(
        head,
        model.coef_[0].astype(np.float32),
        float(model.intercept_[0]),
        c,
        threshold,
        float(fired[ty].mean()) if ty.any() else 0.0,
        float(fired[tcalm].mean()) if tcalm.any() else 0.0,
        float(ty[fired].mean()) if fired.any() else 0.0,
    )


def _average_precision(scores: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(-scores)
    hits = y[order]
    if not hits.any():
        return 0.0
    precision = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float(precision[hits].mean())


def example_similarity(
    bank: np.ndarray, bank_head: np.ndarray, tune_x: np.ndarray, tune_rows: list[Row]
) -> float:
    """The cosine above which "the nearest training example's head" is right EXAMPLE_PRECISION
    of the time on the tuning set: how close a policy's own example must be to fire."""
    sims = tune_x @ bank.T
    best = np.argmax(sims, axis=1)
    best_sim = sims[np.arange(len(tune_rows)), best]
    right = np.array(
        [bool(target(row, HEADS[bank_head[b]])) for row, b in zip(tune_rows, best, strict=True)]
    )
    order = np.argsort(-best_sim)
    precision = np.cumsum(right[order]) / np.arange(1, order.size + 1)
    ok = np.flatnonzero(precision >= EXAMPLE_PRECISION)
    if ok.size == 0:
        return 0.95
    return float(max(best_sim[order][ok[-1]], 0.6))


def encode_all(texts: list[str], what: str) -> np.ndarray:
    enc = encoder_.shared()
    out = np.zeros((len(texts), encoder_.DIMENSION), dtype=np.float32)
    step = 64
    with tqdm(total=len(texts), desc=f"encoding {what}", unit="msg", disable=None) as bar:
        for start in range(0, len(texts), step):
            out[start : start + step] = enc.encode(texts[start : start + step])
            bar.update(min(step, len(texts) - start))
    return out


def train() -> tuple[dict[str, np.ndarray], dict[str, object]]:
    train_rows, tune_rows = read(DATA / "train"), read(DATA / "tune")
    train_x = encode_all([r.text for r in train_rows], "training set")
    tune_x = encode_all([r.text for r in tune_rows], "tuning set")
    fitted = [fit_head(h, train_x, train_rows, tune_x, tune_rows) for h in HEADS]
    # The evidence bank: every training positive of each head but the catch-all "distress".
    bank_rows, bank_head = [], []
    for index, head in enumerate(HEADS):
        if head == "distress":
            continue
        for i, row in enumerate(train_rows):
            if target(row, head):
                bank_rows.append(i)
                bank_head.append(index)
    bank = train_x[bank_rows]
    heads_of_bank = np.array(bank_head, dtype=np.int16)
    similarity = example_similarity(bank, heads_of_bank, tune_x, tune_rows)
    report: dict[str, object] = {
        "train_rows": len(train_rows),
        "tune_rows": len(tune_rows),
        "train_languages": dict(sorted(Counter(r.lang for r in train_rows).items())),
        "tune_languages": dict(sorted(Counter(r.lang for r in tune_rows).items())),
        "example_similarity": round(similarity, 4),
        "heads": {
            f.head: {
                "C": f.c,
                "threshold": round(f.threshold, 4),
                "tune_recall": round(f.recall, 4),
                "tune_precision": round(f.precision, 4),
                "tune_calm_fired": round(f.false_rate, 4),
                "train_positives": sum(bool(target(r, f.head)) for r in train_rows),
            }
            for f in fitted
        },
    }
    arrays = {
        "names": np.array(HEADS),
        "weights": np.stack([f.weights for f in fitted]),
        "bias": np.array([f.bias for f in fitted], dtype=np.float32),
        "thresholds": np.array([f.threshold for f in fitted], dtype=np.float32),
        "example_similarity": np.array(similarity, dtype=np.float32),
        "bank_text": np.array([train_rows[i].text for i in bank_rows]),
        "bank_head": heads_of_bank,
        "bank_vectors": bank.astype(np.float16),
        "encoder": np.array(encoder_.identity()),
        "report": np.array(json.dumps(report, sort_keys=True)),
    }
    return arrays, report


def print_report(report: dict[str, object], out: Iterable[str] | None = None) -> None:
    print(
        f"training rows {report['train_rows']}  tuning rows {report['tune_rows']}  "
        f"example similarity {report['example_similarity']}"
    )
    print(f"{'head':28} {'C':>5} {'thresh':>7} {'recall':>7} {'prec':>6} {'calm':>6} {'train+':>6}")
    heads = report["heads"]
    assert isinstance(heads, dict)
    for name, h in heads.items():
        print(
            f"{name:28} {h['C']:5g} {h['threshold']:7.3f} {h['tune_recall']:7.3f} "
            f"{h['tune_precision']:6.3f} {h['tune_calm_fired']:6.3f} {h['train_positives']:6d}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped heads")
    parser.add_argument("--out", type=Path, default=heads_.SHIPPED)
    args = parser.parse_args(argv)
    arrays, report = train()
    print_report(report)
    if args.check:
        shipped = heads_.load()
        same = np.allclose(shipped.weights, arrays["weights"], atol=1e-4)
        print("shipped heads reproduced" if same else "shipped heads differ: retrain and commit")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    digest = heads_.save(args.out, arrays)
    print(f"wrote {args.out} (digest {digest[:16]})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
