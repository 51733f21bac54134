"""Calibration rules: honest intervals and a threshold chosen on the pessimistic bound."""

from __future__ import annotations

import pytest

from service.metrics.calibration import Reviewed, buckets, recommend, wilson


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (0, 0, 0.0, 1.0),
        (0, 10, 0.0, 0.28),
        (10, 10, 0.72, 1.0),
        (50, 100, 0.40, 0.60),
        (1, 1000, 0.0, 0.006),
    ],
)
def test_wilson_interval(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson(k, n)
    assert lo >= low - 1e-9 and hi <= high + 1e-9 and lo <= (k / n if n else 0.5) <= hi


def drafts(confidence: float, fine: int, bad: int) -> list[Reviewed]:
    return [Reviewed(confidence, True)] * fine + [Reviewed(confidence, False)] * bad


def test_threshold_needs_evidence_not_just_a_good_average() -> None:
    few = drafts(0.9, 5, 0)  # all fine, but 5 drafts prove little
    assert recommend(few, 0.05) is None
    many = drafts(0.5, 50, 50) + drafts(0.8, 300, 3) + drafts(0.95, 400, 0)
    rec = recommend(many, 0.05)
    assert rec is not None and rec["threshold"] == pytest.approx(0.55)
    assert rec["ci95"][1] <= 0.05 and rec["n"] == 703


def test_buckets_cover_the_scale_and_report_counts() -> None:
    items = drafts(0.05, 1, 1) + drafts(0.55, 3, 1) + drafts(1.0, 2, 0)
    out = buckets(items)
    assert len(out) == 10 and sum(b["n"] for b in out) == len(items)
    assert out[0]["approved_unchanged"] == 0.5 and out[5]["approved_unchanged"] == 0.75
    assert out[9]["n"] == 2 and out[3]["approved_unchanged"] is None
