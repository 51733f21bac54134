"""What the semantic detector read in one message: the engine's input, plain data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reading:
    """Scores by head name (explicit_request, distress, distress.<category>, topics.<name>,
    sentiment), cosine similarities to the policy's own `examples:` by rule id, and the nearest
    example's text (evidence) for whatever fired."""

    scores: Mapping[str, float]
    similar: Mapping[str, float] = field(default_factory=dict)
    evidence: Mapping[str, str] = field(default_factory=dict)
    detector: str = ""  # digest of the heads and the policy's examples that produced it

    def stored(self) -> dict[str, Any]:
        """The form kept with the turn, so replay under new thresholds needs no encoding.
        Floats are written exactly (repr), so a replay compares the very same numbers."""
        return {
            "detector": self.detector,
            "scores": dict(self.scores),
            "similar": dict(self.similar),
        }

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> Reading:
        return cls(
            scores={k: float(v) for k, v in data.get("scores", {}).items()},
            similar={k: float(v) for k, v in data.get("similar", {}).items()},
            detector=str(data.get("detector", "")),
        )
