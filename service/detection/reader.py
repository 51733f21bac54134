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
    probabilities = heads.scores(
        heads.similarities(vectors), [f for g in groups for f in g.lexical]
    )
    similar = vectors @ examples.vectors.T if not examples.empty else None
    thresholds = policy.detection.thresholds
    spans, scored = [], []
    # segment row -> {head fired by that segment: the head whose training example it shows}
    fired: dict[int, dict[str, str]] = {}
    start = 0
    for group in groups:
        first, start = start, start + len(group.vectors)
        spans.append((first, start))
        best_rows = first + np.argmax(probabilities[first:start], axis=0)
        for j, name in enumerate(heads.names):
            if name not in BY_SENTENCE:
                best_rows[j] = first  # the whole text
        scores = {name: float(probabilities[best_rows[j], j]) for j, name in enumerate(heads.names)}
        for j, name in enumerate(heads.names):
            if scores[name] >= thresholds.get(name, 2.0):
                whose = name if name != "distress" else _likeliest(scores)
                fired.setdefault(int(best_rows[j]), {})[name] = whose
        scored.append(scores)
    rows = sorted(fired)
    nearest = dict(
        zip(rows, heads.nearest(vectors[rows], [set(fired[r].values()) for r in rows]), strict=True)
    )
    out = []
    for (first, end), scores in zip(spans, scored, strict=True):
        evidence = {
            name: nearest[row][whose]
            for row in range(first, end)
            for name, whose in fired.get(row, {}).items()
            if whose in nearest[row]
        }
        best: dict[str, float] = {}
        if similar is not None:
            _examples(examples, similar[first:end], policy, best, evidence)
        out.append(Reading(scores, best, evidence, examples.digest))
    return out


def _examples(
    examples: Examples,
    similar: np.ndarray,
    policy: Policy,
    best: dict[str, float],
    evidence: dict[str, str],
) -> None:
    """Each rule's best cosine to its policy examples over the message's segments, and the
    example shown as evidence where it reaches the rule's similarity."""
    needed = policy.detection.similarity
    block = similar.max(axis=0)
    for column, key in enumerate(examples.keys):
        value = float(block[column])
        if value > best.get(key, -2.0):
            best[key] = value
            if value >= needed.get(key, 2.0):
                evidence[f"examples.{key}"] = examples.texts[column]
