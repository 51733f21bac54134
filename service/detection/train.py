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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC
from tqdm import tqdm

from service.detection import encoder as encoder_
from service.detection import heads as heads_
from service.detection import ngrams
from service.detection.calibration import (
    CALM_BUDGET,
    HARD,
    RECALL,
    RECALL_DEFAULT,
    Knobs,
    calibrate,
    rule_hits,
)
from service.detection.dataset import DATA, Row, calm, data_digest, read, target
from service.detection.heads import BY_SENTENCE, HEADS

C_GRID = (1.0, 4.0)
LEXICAL_C = (3.0, 10.0)
GAMMA = 1.0  # sklearn's "scale" for unit vectors of 512 dimensions: 1 / (512 * 1/512)
# A policy's own example fires at the similarity where "the nearest training example's head"
# is right this often on the tuning set (never below 0.7: a support lead's example is a
# paraphrase to match, not a topic to wander from; never above 0.85, where a translation of the
# example would no longer fire it). The tuning set's near misses are written to sit close to
# the topics, so the nearest-example rule is right less often on it than a policy's own
# examples, written for its own topics, would be.
EXAMPLE_PRECISION = 0.85
EXAMPLE_SIMILARITY = (0.7, 0.85)


@dataclass(frozen=True)
class Fitted:
    head: str
    dual: np.ndarray  # over the whole bank
    bias: float
    c: float
    lexical: np.ndarray  # the n-gram model's weights
    lexical_bias: float
    scale: tuple[float, float]  # spread of each margin on the training rows
    tune_scores: np.ndarray  # the head's score on every tuning row


def kernel(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    """The RBF kernel of unit vectors: exp(-gamma * |a - b|^2) = exp(-gamma * (2 - 2 a.b))."""
    return np.exp(-gamma * (2.0 - 2.0 * (a @ b.T)))  # type: ignore[no-any-return]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Segmented:
    """The tuning rows as the live detector reads them: each row's segments (the whole text and
    its sentences, encoder.segments) against the bank and as n-grams; a head's score is its best
    segment's (BY_SENTENCE) or the whole text's."""

    kernel: np.ndarray  # (segments, bank)
    lexical: sparse.csr_matrix  # (segments, ngrams.DIMENSIONS)
    starts: np.ndarray  # index of each row's first segment


def combined(
    kernel: np.ndarray,
    features: sparse.csr_matrix,
    dual: np.ndarray,
    bias: float,
    words: LogisticRegression,
    scale: tuple[float, float],
) -> np.ndarray:
    """The head's score on each row: both margins, each over its spread, through a logistic."""
    margin = (kernel @ dual + bias) / scale[0] + words.decision_function(features) / scale[1]
    return _sigmoid(margin)


def best_segment(per_segment: np.ndarray, starts: np.ndarray, by_sentence: bool) -> np.ndarray:
    if not by_sentence:
        return per_segment[starts]
    return np.maximum.reduceat(per_segment, starts)  # type: ignore[no-any-return]


def fit_head(
    head: str,
    gram: np.ndarray,
    features: sparse.csr_matrix,
    train_rows: list[Row],
    tune: Segmented,
    tune_rows: list[Row],
) -> Fitted:
    """One SVM on the precomputed kernel and one n-gram logistic model; C of each picked by
    average precision of the combined score on the tuning set."""
    keep = np.array([i for i, r in enumerate(train_rows) if target(r, head) is not None])
    y = np.array([bool(target(train_rows[i], head)) for i in keep])
    tkeep = [i for i, r in enumerate(tune_rows) if target(r, head) is not None]
    ty = np.array([bool(target(tune_rows[i], head)) for i in tkeep])
    by_sentence = head in BY_SENTENCE
    words = [
        LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(features[keep], y)
        for c in LEXICAL_C
    ]
    best: tuple[float, Fitted] | None = None
    for c in C_GRID:
        model = SVC(C=c, kernel="precomputed", class_weight="balanced")
        model.fit(gram[np.ix_(keep, keep)], y)
        dual = np.zeros(len(train_rows), dtype=np.float64)
        dual[keep[model.support_]] = model.dual_coef_[0]
        bias = float(model.intercept_[0])
        semantic_spread = float(np.std(gram[keep] @ dual + bias)) or 1.0
        for lexical in words:
            spread = (
                semantic_spread,
                float(np.std(lexical.decision_function(features[keep]))) or 1.0,
            )
            per_segment = combined(tune.kernel, tune.lexical, dual, bias, lexical, spread)
            scores = best_segment(per_segment, tune.starts, by_sentence)
            quality = _average_precision(scores[tkeep], ty)
            if best is None or quality > best[0]:
                fitted = Fitted(
                    head,
                    dual.astype(np.float32),
                    bias,
                    c,
                    lexical.coef_[0].astype(np.float32),
                    float(lexical.intercept_[0]),
                    spread,
                    scores,
                )
                best = (quality, fitted)
    assert best is not None
    return best[1]


def _average_precision(scores: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(-scores)
    hits = y[order]
    if not hits.any():
        return 0.0
    precision = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float(precision[hits].mean())


def example_similarity(
    bank: np.ndarray, positive: np.ndarray, tune_x: np.ndarray, tune_rows: list[Row]
) -> float:
    """The cosine above which "the nearest positive example's head" is right EXAMPLE_PRECISION
    of the time on the tuning set: how close a policy's own example must be to fire."""
    sims = tune_x @ bank.T
    labelled = positive.any(axis=0)
    sims[:, ~labelled] = -2.0
    best = np.argmax(sims, axis=1)
    best_sim = sims[np.arange(len(tune_rows)), best]
    right = np.array(
        [
            any(bool(target(row, HEADS[h])) for h in np.flatnonzero(positive[:, b]))
            for row, b in zip(tune_rows, best, strict=True)
        ]
    )
    order = np.argsort(-best_sim)
    precision = np.cumsum(right[order]) / np.arange(1, order.size + 1)
    ok = np.flatnonzero(precision >= EXAMPLE_PRECISION)
    low, high = EXAMPLE_SIMILARITY
    if ok.size == 0:
        return high
    return float(min(max(best_sim[order][ok[-1]], low), high))


def featurize(texts: list[str]) -> sparse.csr_matrix:
    rows = [ngrams.features(t) for t in texts]
    indptr = np.cumsum([0] + [len(i) for i, _ in rows])
    indices = np.concatenate([i for i, _ in rows]) if rows else np.zeros(0, np.int64)
    values = np.concatenate([v for _, v in rows]) if rows else np.zeros(0, np.float32)
    return sparse.csr_matrix((values, indices, indptr), shape=(len(texts), ngrams.DIMENSIONS))


def encode_all(texts: list[str], what: str) -> np.ndarray:
    enc = encoder_.shared()
    out = np.zeros((len(texts), encoder_.DIMENSION), dtype=np.float32)
    step = 64
    with tqdm(total=len(texts), desc=f"encoding {what}", unit="msg", disable=None) as bar:
        for start in range(0, len(texts), step):
            out[start : start + step] = enc.encode(texts[start : start + step])
            bar.update(min(step, len(texts) - start))
    return out


def _cut_offs(
    fitted: list[Fitted], tune_rows: list[Row]
) -> tuple[dict[str, float], dict[str, float]]:
    calm_rows = np.array([calm(r) for r in tune_rows])
    knobs = []
    for f in fitted:
        if f.head in HARD:
            positives = np.array([bool(target(r, f.head)) for r in tune_rows])
            knobs.append(
                Knobs(f.head, f.tune_scores, positives, rule_hits(tune_rows, f.head), 0, 0)
            )
    calibrate(knobs, calm_rows)
    thresholds = {k.head: k.threshold for k in knobs}
    veto = {k.head: min(k.veto, k.threshold) for k in knobs}
    for f in fitted:
        if f.head in thresholds:
            continue
        # Category heads name the kind of distress (the catch-all head decides); the tone head
        # needs several negative turns to act. Each takes the score where it finds RECALL.
        keep = np.array([target(r, f.head) is not None for r in tune_rows])
        y = np.array([bool(target(r, f.head)) for r in tune_rows])[keep]
        ranked = np.sort(f.tune_scores[keep][y])
        want = RECALL.get(f.head, RECALL_DEFAULT)
        thresholds[f.head] = float(ranked[int(np.floor((1 - want) * ranked.size))])
        veto[f.head] = 0.0
    return thresholds, veto


def _measured(
    f: Fitted, threshold: float, veto: float, train_rows: list[Row], tune_rows: list[Row]
) -> dict[str, object]:
    keep = np.array([target(r, f.head) is not None for r in tune_rows])
    y = np.array([bool(target(r, f.head)) for r in tune_rows])
    calm_rows = np.array([calm(r) for r in tune_rows])
    fired = f.tune_scores >= threshold
    return {
        "C": f.c,
        "support_vectors": int(np.count_nonzero(f.dual)),
        "threshold": round(threshold, 4),
        "veto": round(veto, 4),
        "tune_recall": round(float(fired[keep & y].mean()), 4) if (keep & y).any() else 0.0,
        "tune_precision": round(float(y[fired & keep].mean()), 4) if (fired & keep).any() else 0.0,
        "tune_calm_fired": round(float(fired[calm_rows].mean()), 4),
        "train_positives": sum(bool(target(r, f.head)) for r in train_rows),
    }


def train() -> tuple[dict[str, np.ndarray], dict[str, object]]:
    train_rows, tune_rows = read(DATA / "train"), read(DATA / "tune")
    train_x = encode_all([r.text for r in train_rows], "training set")
    pieces = [encoder_.segments(r.text) for r in tune_rows]
    flat = [p for group in pieces for p in group]
    tune_x = encode_all(flat, "tuning set")
    starts = np.cumsum([0] + [len(g) for g in pieces[:-1]])
    # The bank is stored in float16; fit on exactly what will be served.
    train_x = train_x.astype(np.float16).astype(np.float32)
    gram = kernel(train_x, train_x, GAMMA)
    features = featurize([encoder_.clip(r.text) for r in train_rows])
    tune = Segmented(kernel(tune_x, train_x, GAMMA), featurize(flat), starts)
    fitted = [
        fit_head(head, gram, features, train_rows, tune, tune_rows)
        for head in tqdm(HEADS, desc="fitting heads", disable=None)
    ]
    thresholds, veto = _cut_offs(fitted, tune_rows)
    positive = np.array([[bool(target(r, head)) for r in train_rows] for head in HEADS], dtype=bool)
    positive[HEADS.index("distress")] = False  # its evidence is the category head's
    similarity = example_similarity(train_x, positive, tune_x[starts], tune_rows)
    report: dict[str, object] = {
        "train_rows": len(train_rows),
        "tune_rows": len(tune_rows),
        "data": data_digest(train_rows + tune_rows),
        "train_languages": dict(sorted(Counter(r.lang for r in train_rows).items())),
        "tune_languages": dict(sorted(Counter(r.lang for r in tune_rows).items())),
        "example_similarity": round(similarity, 4),
        "gamma": GAMMA,
        "calm_budget": CALM_BUDGET,
        "heads": {
            f.head: _measured(f, thresholds[f.head], veto[f.head], train_rows, tune_rows)
            for f in fitted
        },
    }
    arrays = {
        "names": np.array(HEADS),
        "bank": train_x.astype(np.float16),
        "bank_text": np.array([r.text for r in train_rows]),
        "positive": positive,
        "dual": np.stack([f.dual for f in fitted]),
        "bias": np.array([f.bias for f in fitted], dtype=np.float32),
        "gamma": np.array(GAMMA, dtype=np.float32),
        "lexical": np.stack([f.lexical for f in fitted], axis=1).astype(np.float16),
        "lexical_bias": np.array([f.lexical_bias for f in fitted], dtype=np.float32),
        "scale": np.array(
            [[f.scale[0] for f in fitted], [f.scale[1] for f in fitted]], dtype=np.float32
        ),
        "thresholds": np.array([thresholds[h] for h in HEADS], dtype=np.float32),
        "veto": np.array([veto[h] for h in HEADS], dtype=np.float32),
        "example_similarity": np.array(similarity, dtype=np.float32),
        "encoder": np.array(encoder_.identity()),
        "report": np.array(json.dumps(report, sort_keys=True)),
    }
    return arrays, report


def print_report(report: dict[str, object]) -> None:
    print(
        f"training rows {report['train_rows']}  tuning rows {report['tune_rows']}  "
        f"example similarity {report['example_similarity']}"
    )
    print(
        f"{'head':28} {'C':>5} {'thresh':>7} {'veto':>6} {'recall':>7} {'prec':>6} {'calm':>6} "
        f"{'train+':>6}"
    )
    heads = report["heads"]
    assert isinstance(heads, dict)
    for name, h in heads.items():
        print(
            f"{name:28} {h['C']:5g} {h['threshold']:7.3f} {h['veto']:6.3f} {h['tune_recall']:7.3f} "
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
        same = np.allclose(shipped.dual, arrays["dual"], atol=1e-3)
        print("shipped heads reproduced" if same else "shipped heads differ: retrain and commit")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    digest = heads_.save(args.out, arrays)
    print(f"wrote {args.out} (digest {digest[:16]})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
