"""The heads on the sentence embedding: one logistic score per signal, its calibrated threshold,
and the training examples nearest a message, shown as evidence. Pure numpy over plain arrays.

The heads are fitted by service/detection/train.py on data/train/ and their thresholds set on
data/tune/; the result is the file model/heads.npz, whose digest is part of every policy version.
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


@dataclass(frozen=True, eq=False)
class Heads:
    names: tuple[str, ...]
    weights: np.ndarray  # (heads, 512) float32
    bias: np.ndarray  # (heads,) float32
    thresholds: Mapping[str, float]  # calibrated on the tuning set
    example_similarity: float  # cosine at which a policy's own example fires its trigger
    bank_text: tuple[str, ...]  # positive training examples, for evidence
    bank_head: np.ndarray  # (examples,) index into names of the head each example is for
    bank_vectors: np.ndarray  # (examples, 512) float32
    encoder: str  # encoder.identity() the heads were fitted on
    report: Mapping[str, object]  # what training measured, for `hitl policy explain` and docs
    digest: str

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """(messages, heads) probabilities for (messages, 512) embeddings."""
        logits = vectors @ self.weights.T + self.bias
        return 1.0 / (1.0 + np.exp(-logits))  # type: ignore[no-any-return]

    def nearest(self, vector: np.ndarray, head: str) -> tuple[str, float] | None:
        """The training example of this head (or of any distress category for "distress")
        closest to the message, and its cosine similarity."""
        if head == "distress":
            mask = np.isin(
                self.bank_head, [self.names.index(f"distress.{c}") for c in DISTRESS_CATEGORIES]
            )
        else:
            mask = self.bank_head == self.names.index(head)
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            return None
        sims = self.bank_vectors[rows] @ vector
        best = int(np.argmax(sims))
        return self.bank_text[int(rows[best])], float(sims[best])


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
    """Read a heads file (the shipped one by default); about 20 ms, once per process."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {key: z[key] for key in z.files}
    names = tuple(str(n) for n in arrays["names"])
    return Heads(
        names=names,
        weights=arrays["weights"].astype(np.float32),
        bias=arrays["bias"].astype(np.float32),
        thresholds=dict(zip(names, map(float, arrays["thresholds"]), strict=True)),
        example_similarity=float(arrays["example_similarity"]),
        bank_text=tuple(str(t) for t in arrays["bank_text"]),
        bank_head=arrays["bank_head"].astype(np.int32),
        bank_vectors=arrays["bank_vectors"].astype(np.float32),
        encoder=str(arrays["encoder"]),
        report=json.loads(str(arrays["report"])),
        digest=digest_of(arrays),
    )
