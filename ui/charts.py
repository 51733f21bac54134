"""Small server-rendered SVG charts (pure): no script, no inline style, so the CSP stays strict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#3b5bdb", "#e8590c", "#2f9e44", "#ae3ec9", "#1098ad", "#f08c00", "#868e96", "#c92a2a")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def bars(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    stacked: bool,
    title: str,
    unit: str = "",
    width: int = 720,
    height: int = 240,
) -> str:
    """Vertical bars per label, stacked or side by side, with a y scale and a legend."""
    pad_l, pad_b, pad_t = 44, 28, 30  # the legend sits above the plot
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    tops = [
        sum(s.values[i] for s in series)
        if stacked
        else max((s.values[i] for s in series), default=0)
        for i in range(len(labels))
    ]
    peak = max(tops, default=0) or 1
    slot = plot_w / max(len(labels), 1)
    parts = [_frame(width, height, title)]
    for tick in (0, 0.5, 1):
        y = pad_t + plot_h * (1 - tick)
        parts.append(
            f'<line x1="{pad_l}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e9ecef"/>'
        )
        parts.append(
            f'<text x="{pad_l - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#868e96">{_fmt(peak * tick)}{unit}</text>'
        )
    for i, label in enumerate(labels):
        x0 = pad_l + i * slot + slot * 0.15
        base = 0.0
        inner = slot * 0.7 / (1 if stacked else max(len(series), 1))
        for j, s in enumerate(series):
            v = s.values[i]
            h = plot_h * v / peak
            x = x0 if stacked else x0 + j * inner
            y = pad_t + plot_h - (base + h if stacked else h)
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(inner - 1, 1):.1f}" '
                f'height="{h:.1f}" fill="{_color(j)}"><title>{escape(s.name)} · '
                f"{escape(label)}: {_fmt(v)}{unit}</title></rect>"
            )
            if stacked:
                base += h
        if len(labels) <= 31 and (i % max(1, len(labels) // 12) == 0):
            parts.append(
                f'<text x="{x0 + slot * 0.35:.1f}" y="{height - 10}" text-anchor="middle" '
                f'font-size="10" fill="#868e96">{escape(label)}</text>'
            )
    parts.append(_legend([s.name for s in series], width))
    parts.append("</svg>")
    return "".join(parts)


def share_bar(parts: Sequence[tuple[str, float, int]], *, title: str, width: int = 720) -> str:
    """One 100% bar: (name, percent, count) segments, labelled in a legend with their counts."""
    height = 64
    out = [_frame(width, height, title)]
    x = 8.0
    for i, (name, pct, n) in enumerate(parts):
        w = (width - 16) * pct / 100
        if w > 0:
            out.append(
                f'<rect x="{x:.1f}" y="8" width="{w:.1f}" height="22" fill="{_color(i)}">'
                f"<title>{escape(name)}: {pct:.1f}% ({n})</title></rect>"
            )
        x += w
    out.append(_legend([f"{name} {pct:.1f}% ({n})" for name, pct, n in parts], width, y=50))
    out.append("</svg>")
    return "".join(out)


def _frame(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>'
    )


def _legend(names: Sequence[str], width: int, y: int = 8) -> str:
    out, x = [], 52.0
    for i, name in enumerate(names):
        out.append(
            f'<rect x="{x:.0f}" y="{y}" width="10" height="10" fill="{_color(i)}"/>'
            f'<text x="{x + 14:.0f}" y="{y + 9}" font-size="11" fill="#495057">{escape(name)}</text>'
        )
        x += 24 + 6.5 * len(name)
        if x > width - 80:
            break
    return "".join(out)


def _fmt(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.1f}"
