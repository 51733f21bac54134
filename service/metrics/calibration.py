"""Calibration from review outcomes: how often drafts at each confidence were fine as written,
and the lowest threshold that keeps edited-or-worse drafts that would be auto-sent under a target."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from service import db
from service.db import Connection

Z95 = 1.96
STEPS = tuple(round(0.05 * i, 2) for i in range(1, 20))  # candidate thresholds 0.05 .. 0.95

OUTCOMES = """
SELECT r.channel, t.intent, t.confidence, r.status FROM review r JOIN turn t ON t.id = r.turn_id
WHERE r.outcome_by = 'reviewer' AND r.status IN ('approved', 'edited', 'taken_over')
  AND r.decided_at >= now() - make_interval(secs => :secs)
  AND (CAST(:teams AS text[]) IS NULL OR r.team = ANY(:teams))
"""
# Turns a threshold could send to review: async channels, no hard trigger fired. The volume is
# the whole traffic's, whoever asks: the threshold is one for every team, and it is counts only.
VOLUME = """
SELECT t.confidence FROM decision d JOIN turn t ON t.id = d.turn_id
WHERE d.created_at >= now() - make_interval(secs => :secs) AND t.channel = ANY(:channels)
  AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(d.triggers) x WHERE (x->>'hard')::boolean)
"""


@dataclass(frozen=True)
class Reviewed:
    confidence: float
    fine: bool  # approved unchanged


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval: honest bounds for a proportion from few observations."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def buckets(items: Sequence[Reviewed], width: float = 0.1) -> list[dict[str, Any]]:
    out = []
    for i in range(round(1 / width)):
        low, high = i * width, (i + 1) * width
        inside = [
            r for r in items if low <= r.confidence < high or (high >= 1 and r.confidence == 1)
        ]
        fine = sum(r.fine for r in inside)
        lo, hi = wilson(fine, len(inside))
        out.append(
            {
                "from": round(low, 2),
                "to": round(high, 2),
                "n": len(inside),
                "approved_unchanged": fine / len(inside) if inside else None,
                "ci95": [round(lo, 3), round(hi, 3)],
            }
        )
    return out


def recommend(items: Sequence[Reviewed], target: float) -> dict[str, Any] | None:
    """Lowest threshold whose drafts at or above it were edited-or-worse at most `target`, judged
    on the upper 95% bound (not the point estimate), so that few data do not look safe."""
    for t in STEPS:
        above = [r for r in items if r.confidence >= t]
        if not above:
            break
        bad = sum(not r.fine for r in above)
        lo, hi = wilson(bad, len(above))
        if hi <= target:
            return {
                "threshold": t,
                "n": len(above),
                "edited_or_worse": bad / len(above),
                "ci95": [round(lo, 3), round(hi, 3)],
            }
    return None


async def calibrate(
    conn: Connection,
    since: timedelta,
    target: float,
    async_channels: Sequence[str],
    current: float,
    teams: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The fit on the review outcomes of these teams (None: an admin, every team)."""
    secs = since.total_seconds()
    scope = None if teams is None else list(teams)
    rows = await db.rows(conn, OUTCOMES, {"secs": secs, "teams": scope})
    groups: dict[tuple[str, str | None], list[Reviewed]] = {}
    for r in rows:
        groups.setdefault((r.channel, r.intent), []).append(
            Reviewed(r.confidence, r.status == "approved")
        )
    everything = [x for items in groups.values() for x in items]
    volume = [
        r.confidence
        for r in await db.rows(conn, VOLUME, {"secs": secs, "channels": list(async_channels)})
    ]
    overall = recommend(everything, target)
    return {
        "teams": None if scope is None else sorted(scope),
        "target": target,
        "reviewed": len(everything),
        "current_threshold": current,
        "buckets": buckets(everything),
        "recommended": overall,
        "review_volume": _volume(volume, current, overall["threshold"] if overall else None),
        "groups": [
            {
                "channel": ch,
                "intent": intent,
                "reviewed": len(items),
                "recommended": recommend(items, target),
            }
            for (ch, intent), items in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:50]
        ],
    }


def _volume(confidences: Sequence[float], current: float, proposed: float | None) -> dict[str, Any]:
    """Turns the recorded traffic would have held for review under each threshold (an estimate
    from recorded confidences; `hitl replay` gives the exact answer with every trigger)."""
    return {
        "turns": len(confidences),
        "at_current": sum(c < current for c in confidences),
        "at_recommended": sum(c < proposed for c in confidences) if proposed is not None else None,
    }
