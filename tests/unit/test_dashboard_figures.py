"""Pure parts of the dashboard: shares that add up, edit sizes, charts that escape their labels."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.metrics.dashboard import OUTCOMES, edit_share, shares
from ui import charts


@given(st.dictionaries(st.sampled_from(OUTCOMES), st.integers(min_value=0, max_value=10**6)))
def test_shares_always_add_up_to_exactly_100(counts: dict[str, int]) -> None:
    parts = shares(counts, OUTCOMES)
    assert [p["key"] for p in parts] == list(OUTCOMES)
    assert [p["n"] for p in parts] == [counts.get(k, 0) for k in OUTCOMES]
    total = round(sum(p["pct"] for p in parts), 6)
    assert total == (100.0 if sum(counts.values()) else 0.0)


@pytest.mark.parametrize(
    ("draft", "final", "low", "high"),
    [
        ("Hello there", "Hello there", 0.0, 0.0),
        ("Hello there", "Hello there!", 0.0, 0.1),
        ("Your refund is on its way", "Completely different words here", 0.6, 1.0),
        ("", "x", 1.0, 1.0),
    ],
)
def test_edit_share(draft: str, final: str, low: float, high: float) -> None:
    assert low <= edit_share(draft, final) <= high


def test_charts_escape_labels_and_stay_script_free() -> None:
    svg = charts.bars(
        ["<script>alert(1)</script>"], [charts.Series("a&b", [3.0])], stacked=True, title="t"
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a&amp;b" in svg
    assert "style=" not in svg
    bar = charts.share_bar([("approved", 60.0, 6), ("edited", 40.0, 4)], title="outcomes")
    assert bar.count("<rect") >= 2 and "60.0% (6)" in bar
