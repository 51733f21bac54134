"""From embeddings to Readings: the heads' scores, the policy's own examples, the evidence.

Pure once the vectors exist: the same vectors, heads and policy always give the same Reading.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from service.detection.heads import Heads
from service.detection.reading import Reading
from service.policy.model import Policy


@dataclass(frozen=True, eq=False)
class Examples:
    """A policy's `examples:` phrases encoded once, with the rule id each one fires."""

    keys: tuple[str, ...]
    texts: tuple[str, ...]
    vectors: np.ndarray  # (examples, 512)
    digest: str  # names the phrases and the heads they were read with

    @property
    def empty(self) -> bool:
        return not self.keys


def compile_examples(
    policy: Policy, encode: Callable[[list[str]], np.ndarray], heads: Heads
) -> Examples:
    keys = [key for key, phrases in policy.detection.examples.items() for _ in phrases]
    texts = [p for phrases in policy.detection.examples.values() for p in phrases]
    vectors = encode(texts) if texts else np.zeros((0, heads.weights.shape[1]), np.float32)
    named = "\n".join(f"{k}\t{t}" for k, t in zip(keys, texts, strict=True))
    digest = hashlib.sha256(f"{heads.digest}\n{named}".encode()).hexdigest()[:32]
    return Examples(tuple(keys), tuple(texts), vectors, digest)


def read(heads: Heads, examples: Examples, policy: Policy, vectors: np.ndarray) -> list[Reading]:
    """One Reading per row of vectors. Evidence (the nearest training example, or the policy's
    example) is looked up only for what reaches its threshold: most messages need none."""
    probabilities = heads.scores(vectors)
    similar = vectors @ examples.vectors.T if not examples.empty else None
    thresholds = policy.detection.thresholds
    needed = policy.detection.similarity
    out = []
    for row, vector in enumerate(vectors):
        scores = {name: float(p) for name, p in zip(heads.names, probabilities[row], strict=True)}
        evidence: dict[str, str] = {}
        for name, score in scores.items():
            if score >= thresholds.get(name, 2.0) and (hit := heads.nearest(vector, name)):
                evidence[name] = hit[0]
        best: dict[str, float] = {}
        if similar is not None:
            for column, key in enumerate(examples.keys):
                value = float(similar[row, column])
                if value > best.get(key, -2.0):
                    best[key] = value
                    if value >= needed.get(key, 2.0):
                        evidence[f"examples.{key}"] = examples.texts[column]
        out.append(Reading(scores, best, evidence, examples.digest))
    return out
