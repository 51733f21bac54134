"""What the semantic detector read in each replayed turn, for each policy being replayed.

A turn recorded by the service keeps its reading (turn.scores); it is used as it is wherever
the replayed policy reads with the same heads and examples (Reading.detector), so replaying
history under new thresholds encodes nothing and reproduces the live decisions exactly. Every
other turn is encoded here, in batches, once for all the policies.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from service.detection.reading import Reading
from service.detection.service import Detector
from service.replay.runner import Event, Lane, TurnEvent

BATCH = 256
REMEMBERED = 20_000  # messages whose readings are kept: replays repeat "yes", "ok", "agent"


def attach(
    events: list[Event],
    lanes: list[Lane],
    detector: Detector,
    tick: Callable[[int], object] | None = None,
) -> None:
    """Set each turn's readings, one per lane; tick(n) reports turns read."""
    digests = [detector.examples(lane.policy).digest for lane in lanes]
    remembered: OrderedDict[str, tuple[Reading, ...]] = OrderedDict()
    pending: list[TurnEvent] = []
    for event in events:
        if not isinstance(event, TurnEvent):
            continue
        stored = event.stored
        if stored is not None and all(stored.detector == d for d in digests):
            event.readings = (stored,) * len(lanes)
            if tick is not None:
                tick(1)
            continue
        pending.append(event)
        if len(pending) >= BATCH:
            _read(pending, lanes, digests, detector, remembered, tick)
            pending = []
    if pending:
        _read(pending, lanes, digests, detector, remembered, tick)


def _read(
    batch: list[TurnEvent],
    lanes: list[Lane],
    digests: list[str],
    detector: Detector,
    remembered: OrderedDict[str, tuple[Reading, ...]],
    tick: Callable[[int], object] | None,
) -> None:
    fresh = list(
        dict.fromkeys(e.signals.message for e in batch if e.signals.message not in remembered)
    )
    if fresh:
        groups = detector.groups(fresh)
        per_lane = [detector.readings(lane.policy, groups) for lane in lanes]
        for i, message in enumerate(fresh):
            remembered[message] = tuple(readings[i] for readings in per_lane)
            if len(remembered) > REMEMBERED:
                remembered.popitem(last=False)
    for event in batch:
        readings = remembered.get(event.signals.message)
        if readings is None:  # pushed out by this very batch: read it alone
            groups = detector.groups([event.signals.message])
            readings = tuple(detector.readings(lane.policy, groups)[0] for lane in lanes)
        stored = event.stored
        # A lane that reads like the live service did keeps the live reading exactly.
        event.readings = tuple(
            stored if stored is not None and stored.detector == digest else reading
            for reading, digest in zip(readings, digests, strict=True)
        )
    if tick is not None:
        tick(len(batch))
