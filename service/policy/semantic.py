"""How the engine reads the semantic detector: a head over its threshold, a policy example
close enough, a rule's match overruled as a near miss, the tone as a sentiment score."""

from __future__ import annotations

from service.detection.reading import Reading
from service.policy.model import Policy


def fires(policy: Policy, reading: Reading | None, key: str) -> tuple[float, str] | None:
    """(score, evidence) when the detector's head, or one of the policy's own examples, fires
    the trigger with this rule id; None otherwise."""
    if reading is None:
        return None
    detection = policy.detection
    score, threshold = reading.scores.get(key), detection.thresholds.get(key)
    if score is not None and threshold is not None and score >= threshold:
        nearest = reading.evidence.get(key)
        return score, f'close to "{nearest}"' if nearest else f"score {score:.2f}"
    similar, needed = reading.similar.get(key), detection.similarity.get(key)
    if similar is not None and needed is not None and similar >= needed:
        return similar, f'like the policy example "{reading.evidence.get("examples." + key, "")}"'
    return None


def overruled(policy: Policy, reading: Reading | None, key: str) -> bool:
    """A rule's phrase or keyword matched, but the head is sure the signal is absent: a near
    miss such as "what time can I pick up my prescription" or "my phone died"."""
    if reading is None:
        return False
    floor = policy.detection.veto.get(key)
    score = reading.scores.get(key)
    return floor is not None and score is not None and score < floor


def tone(policy: Policy, reading: Reading) -> float:
    """The tone head's probability of a negative message as a score from 1 to -1, so that the
    head's calibrated threshold lands on the policy's sentiment threshold (piecewise linear)."""
    p = reading.scores["sentiment"]
    pivot, cut = policy.detection.negative, policy.triggers.sentiment.threshold
    if p <= pivot:
        score = 1 + (cut - 1) * p / pivot
    else:
        score = cut + (-1 - cut) * (p - pivot) / (1 - pivot)
    if fires(policy, Reading({}, reading.similar, reading.evidence), "sentiment"):
        score = min(score, (cut - 1) / 2)  # like one of the policy's negative examples
    return max(-1.0, min(1.0, score))
