"""A policy's detected triggers resolved against the shipped heads; its version covers them."""

from __future__ import annotations

import dataclasses
import hashlib

from service.detection.heads import Heads
from service.policy.model import DetectionPolicy, Policy


def version(text_sha256: str, heads: Heads) -> str:
    """SHA-256 over the policy text's digest and the heads' digest (which covers the encoder's
    identity and every training example): a new model is a new policy version."""
    return hashlib.sha256(f"{text_sha256}\n{heads.digest}".encode()).hexdigest()


def bind(policy: Policy, heads: Heads) -> Policy:
    """The policy with its thresholds, examples and version resolved against these heads."""
    t = policy.triggers
    # The catch-all distress head decides and the category heads name the kind; a category
    # fires on its own head only where the policy gives it a threshold.
    thresholds = {k: v for k, v in heads.thresholds.items() if not k.startswith("distress.")}
    examples: dict[str, tuple[str, ...]] = {}
    similarity: dict[str, float] = {}

    def detected(key: str, threshold: float | None, phrases: tuple[str, ...]) -> None:
        if threshold is not None:
            if key in heads.names:
                thresholds[key] = threshold
            else:  # no head for it (a topic of the policy's own): the threshold is for examples
                similarity[key] = threshold
        if phrases:
            examples[key] = phrases
            similarity.setdefault(key, heads.example_similarity)

    detected("explicit_request", t.explicit_request.threshold, t.explicit_request.examples)
    detected("sentiment", None, t.sentiment.examples)
    if t.distress.threshold is not None:
        thresholds["distress"] = t.distress.threshold
    category_thresholds = dict(t.distress.thresholds)
    for category, phrases in (*t.distress.examples, *((c, ()) for c in category_thresholds)):
        detected(f"distress.{category}", category_thresholds.get(category), phrases)
    for topic in t.topics:
        detected(f"topics.{topic.name}", topic.threshold, topic.examples)
    detection = DetectionPolicy(
        heads=heads.digest,
        thresholds=thresholds,
        examples=examples,
        similarity=similarity,
        veto=dict(heads.veto),
        negative=heads.thresholds["sentiment"],
    )
    return dataclasses.replace(policy, version=version(policy.version, heads), detection=detection)
