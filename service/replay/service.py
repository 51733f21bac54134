"""Running a comparison: the one use-case behind `hitl replay` and the /ui/replay report."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from service.detection.service import Detector
from service.policy.model import Policy
from service.replay import readings
from service.replay.compare import Comparison, Tally, compare
from service.replay.runner import Event, Lane, TurnEvent, Verdict, collector_paused, replay
from service.replay.sources import read_file

RECORDED = "recorded"


def run(
    events: list[Event],
    lanes: list[Lane],
    *,
    against_recorded: bool = False,
    decisions: bool = False,
    check: str | None = None,
    tick: Callable[[int], Any] | None = None,
    read: Callable[[int], Any] | None = None,
    detector: Detector | None = None,
) -> Comparison:
    """tick(n) reports turns decided; read(n) turns whose messages were read by the detector
    (before any is decided: that is where a file replay spends its time)."""
    readings.attach(events, lanes, detector or Detector(), tick=read)
    tallies = [Tally(lane.name, lane.policy.version) for lane in lanes]
    if against_recorded:
        tallies.append(Tally(RECORDED))
    for tally in tallies:
        tally.decisions = [] if decisions else None
    results: Iterable[tuple[TurnEvent, list[Verdict | None]]]
    results = replay(events, lanes, tick=tick)
    if against_recorded:
        results = _with_recorded(results)
    return compare(results, tallies, check_version=check)


def compare_file(path: Path, policies: list[tuple[str, Policy]]) -> Comparison:
    """A JSON-lines file of conversations through each named policy (the first is the candidate)."""
    lanes = [Lane(name, policy) for name, policy in policies]
    with collector_paused():
        return run(read_file(path), lanes)


def turns_in(events: list[Event]) -> int:
    return sum(1 for e in events if isinstance(e, TurnEvent))


def _with_recorded(
    results: Iterable[tuple[TurnEvent, list[Verdict | None]]],
) -> Iterator[tuple[TurnEvent, list[Verdict | None]]]:
    for event, verdicts in results:
        yield event, [*verdicts, event.recorded]
