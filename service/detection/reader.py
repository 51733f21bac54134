"""From embeddings to Readings: the heads' scores, the policy's own examples, the evidence.

Pure once the vectors exist: the same vectors, heads and policy always give the same Reading.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from service.detection.heads import BY_SENTENCE, Heads, Sparse
from service.detection.reading import Reading
from service.policy.model import Policy


@dataclass(frozen=True, eq=False)
class Encoded:
    """One message as the heads read it: its segments (encoder.segments) as vectors and as
    n-gram features."""

    vectors: np.ndarray  # (segments, 512)
    lexical: tuple[Sparse, ...]


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
    vectors = encode(texts) if texts else np.zeros((0, heads.bank.shape[1]), np.float32)
    named = "\n".join(f"{k}\t{t}" for k, t in zip(keys, texts, strict=True))
    digest = hashlib.sha256(f"{heads.digest}\n{named}".encode()).hexdigest()[:32]
    return Examples(tuple(keys), tuple(texts), vectors, digest)


def _likeliest(scores: dict[str, float]) -> str:
    """The distress category head scoring highest: whose examples show for the catch-all."""
    return max((k for k in scores if k.startswith("distress.")), key=scores.__getitem__)


def read(heads: Heads, examples: Examples, policy: Policy, groups: list[Encoded]) -> list[Reading]:
    """One Reading per message, from its segments' vectors (encoder.segments: the whole text,
    then each sentence of a longer one): every head takes its best segment. Evidence (the nearest
    training example, or the policy's own example) is looked up only for what reaches its
    threshold: most messages need none."""
    if not groups:
        return []
    vectors = np.concatenate([g.vectors for g in groups])
    bank = heads.similarities(vectors)
    probabilities = heads.scores(bank, [f for g in groups for f in g.lexical])
    similar = vectors @ examples.vectors.T if not examples.empty else None
    thresholds = policy.detection.thresholds
    needed = policy.detection.similarity
    out = []
    start = 0
    for group in groups:
        size = len(group.vectors)
        rows = slice(start, start + size)
        start += size
        first = start - size
        best_rows = first + np.argmax(probabilities[rows], axis=0)
        for j, name in enumerate(heads.names):
            if name not in BY_SENTENCE:
                best_rows[j] = first  # the whole text
        scores = {name: float(probabilities[best_rows[j], j]) for j, name in enumerate(heads.names)}
        evidence: dict[str, str] = {}
        for j, name in enumerate(heads.names):
            if scores[name] >= thresholds.get(name, 2.0):
                shown = name if name != "distress" else _likeliest(scores)
                nearest = heads.nearest(bank[best_rows[j]], shown)
                if nearest is not None:
                    evidence[name] = nearest
        best: dict[str, float] = {}
        if similar is not None:
            block = similar[rows].max(axis=0)
            for column, key in enumerate(examples.keys):
                value = float(block[column])
                if value > best.get(key, -2.0):
                    best[key] = value
                    if value >= needed.get(key, 2.0):
                        evidence[f"examples.{key}"] = examples.texts[column]
        out.append(Reading(scores, best, evidence, examples.digest))
    return out
