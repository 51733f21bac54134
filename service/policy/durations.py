"""Durations as policies write them: `90s`, `10m`, `4h`, `3d`, or combined like `1h30m`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_WHOLE = re.compile(r"^(?:\d+[smhdw])+$")
_PART = re.compile(r"(\d+)([smhdw])")
# A year is far beyond any latency budget or window; larger values are typos.
MAX_SECONDS = 366 * 86400


class DurationError(ValueError):
    """The text is not a duration; the message says how to write one."""


def parse_duration(text: str, longest: int = MAX_SECONDS) -> timedelta:
    """Parse `4h` into a timedelta; raise DurationError with a readable reason. Longer than
    `longest` seconds (a year, unless said) is taken for a typo."""
    cleaned = text.strip().lower().replace(" ", "")
    if not _WHOLE.match(cleaned):
        raise DurationError(f"{text!r} is not a duration")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(cleaned))
    if seconds <= 0:
        raise DurationError(f"{text!r} is zero; a duration must be positive")
    if seconds > longest:
        limit = "a year" if longest == MAX_SECONDS else f"{longest // 86400} days"
        raise DurationError(f"{text!r} is longer than {limit}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest policy spelling of a duration, e.g. `1h30m`."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
