"""The heads on the sentence embedding: one score per signal, its calibrated threshold, and the
training example nearest a message, shown as evidence. Pure numpy over plain arrays.

Each head adds two margins, each scaled by its spread on the training set:
- a support-vector machine with an RBF kernel over the one bank of training embeddings: a
  message is compared with the bank once (a single matrix product), and every head, and the
  nearest example, is read from that comparison;
- a logistic model over hashed character and word n-grams (service/detection/ngrams.py), which
  sees the words the embedding blurs ("I want to talk to a person" / "I talked to a person").
Measured on our tuning set while choosing (recall at 3% of calm messages escalated, training set
of 5,366 rows then, a scratch comparison rather than a bench), explicit requests: SVM 0.80,
n-grams 0.83, the two added 0.88 (a logistic head on the embedding: 0.61 on 5,000 rows);
distress: SVM 0.95, n-grams 0.86, added 0.97.

Fitted by service/detection/train.py on data/train/; thresholds set on data/tune/; shipped as
model/heads.npz, whose digest is part of every policy version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from service.policy.model import DISTRESS_CATEGORIES, MODEL_TOPICS

Sparse = tuple[np.ndarray, np.ndarray]  # (indices, values), as ngrams.features gives
SHIPPED = Path(__file__).parent / "model" / "heads.npz"

# Head names are the policy's rule ids, so a policy's `threshold:` finds its head by name.
# "distress" is any category: it adds recall, the category heads name which one it is.
HEADS: tuple[str, ...] = (
    "explicit_request",
    "distress",
    *(f"distress.{c}" for c in DISTRESS_CATEGORIES),
    *(f"topics.{t}" for t in MODEL_TOPICS),
    "sentiment",  # the probability that the message's tone is negative
)


# Heads that read a long message sentence by sentence and take the best one: a request or a
# crisis is often one sentence at the end of a story. Topics and tone are about the whole text.
BY_SENTENCE: frozenset[str] = frozenset(
    h for h in HEADS if h.split(".")[0] in ("explicit_request", "distress")
)


@dataclass(frozen=True, eq=False)
class Heads:
    names: tuple[str, ...]
    bank: np.ndarray  # (examples, 512) float32: every training embedding
    bank_text: tuple[str, ...]
    dual: np.ndarray  # (heads, examples) float32: the SVMs' dual coefficients (0: not a support)
    bias: np.ndarray  # (heads,) float32
    gamma: float
    lexical: np.ndarray  # (ngrams.DIMENSIONS, heads) float32: the n-gram models' weights
    lexical_bias: np.ndarray  # (heads,)
    scale: np.ndarray  # (2, heads): each margin's spread on the training set
    thresholds: Mapping[str, float]  # score at which each head fires, set on the tuning set
    veto: Mapping[str, float]  # below this score a rule's phrase or keyword match is overruled
    example_similarity: float  # cosine at which a policy's own example fires its trigger
    encoder: str  # encoder.identity() the heads were fitted on
    report: Mapping[str, object]  # what training measured
    digest: str
    # The bank rows some head's SVM weighs (18,410 of 27,248), and their coefficients: the
    # product with the bank reads it from memory on every batch (53 MB, more than the L3 cache
    # here), and it was 40% of the detector process's time. The rest only serve as evidence.
    support_bank: np.ndarray  # (supports, 512)
    support_dual: np.ndarray  # (heads, supports)
    positive_rows: tuple[np.ndarray, ...]  # each head's positive examples, as bank row numbers

    def similarities(self, vectors: np.ndarray) -> np.ndarray:
        """(messages, supports) cosine similarities with the support vectors (unit vectors)."""
        return vectors @ self.support_bank.T  # type: ignore[no-any-return]

    def scores(self, similarities: np.ndarray, lexical: list[Sparse]) -> np.ndarray:
        """(texts, heads) scores from 0 to 1: the two scaled margins, added, through a
        logistic curve. similarities are with the support vectors (Heads.similarities);
        lexical holds each text's n-gram features (ngrams.features)."""
        kernel = np.exp(-self.gamma * (2.0 - 2.0 * similarities))
        semantic = kernel @ self.support_dual.T + self.bias
        words = np.stack([v @ self.lexical[i] for i, v in lexical]) + self.lexical_bias
        margin = semantic / self.scale[0] + words / self.scale[1]
        return 1.0 / (1.0 + np.exp(-margin))  # type: ignore[no-any-return]

    def nearest(self, vectors: np.ndarray, wanted: list[set[str]]) -> list[dict[str, str]]:
        """For each vector, the training example closest to it of each head in its set (the
        heads that fired on it): one product with the whole bank, for the vectors that need one
        (most messages fire nothing)."""
        similarities = vectors @ self.bank.T
        out: list[dict[str, str]] = []
        for row, heads in zip(similarities, wanted, strict=True):
            found = {}
            for head in heads:
                rows = self.positive_rows[self.names.index(head)]
                if rows.size:
                    found[head] = self.bank_text[int(rows[np.argmax(row[rows])])]
            out.append(found)
        return out


def digest_of(arrays: Mapping[str, np.ndarray]) -> str:
    """Over the arrays' contents (not the zip file's bytes, which carry timestamps)."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        value = np.ascontiguousarray(arrays[key])
        h.update(key.encode())
        h.update(str(value.dtype).encode())
        h.update(str(value.shape).encode())
        h.update(value.tobytes())
    return h.hexdigest()


def save(path: Path, arrays: Mapping[str, np.ndarray]) -> str:
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
    return digest_of(arrays)


@cache
def load(path: Path = SHIPPED) -> Heads:
    """Read a heads file (the shipped one by default), once per process."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {key: z[key] for key in z.files}
    names = tuple(str(n) for n in arrays["names"])
    bank = arrays["bank"].astype(np.float32)
    dual = arrays["dual"].astype(np.float32)
    support = np.flatnonzero(np.any(dual != 0, axis=0))
    return Heads(
        names=names,
        bank=bank,
        bank_text=tuple(str(t) for t in arrays["bank_text"]),
        dual=dual,
        bias=arrays["bias"].astype(np.float32),
        gamma=float(arrays["gamma"]),
        lexical=arrays["lexical"].astype(np.float32),
        lexical_bias=arrays["lexical_bias"].astype(np.float32),
        scale=arrays["scale"].astype(np.float32),
        thresholds=dict(zip(names, map(float, arrays["thresholds"]), strict=True)),
        veto=dict(zip(names, map(float, arrays["veto"]), strict=True)),
        example_similarity=float(arrays["example_similarity"]),
        encoder=str(arrays["encoder"]),
        report=json.loads(str(arrays["report"])),
        digest=digest_of(arrays),
        support_bank=np.ascontiguousarray(bank[support]),
        support_dual=np.ascontiguousarray(dual[:, support]),
        positive_rows=tuple(np.flatnonzero(row) for row in arrays["positive"].astype(bool)),
    )
