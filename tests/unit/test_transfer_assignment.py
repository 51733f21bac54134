"""Who is offered a transfer: a table of cases for the pure choice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from service.transfers.assignment import Agent, choose

A, B, C = (uuid.UUID(int=n) for n in (1, 2, 3))
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def agent(
    who: uuid.UUID,
    active: int = 0,
    capacity: int = 3,
    presence: str = "online",
    idle_minutes: int | None = 10,
) -> Agent:
    last = None if idle_minutes is None else T0 - timedelta(minutes=idle_minutes)
    return Agent(who, presence, active, capacity, last)


@pytest.mark.parametrize(
    ("agents", "passed", "expected"),
    [
        ([], (), None),
        ([agent(A)], (), A),
        ([agent(A, active=2), agent(B, active=1)], (), B),  # least loaded
        ([agent(A, idle_minutes=5), agent(B, idle_minutes=30)], (), B),  # longest idle
        ([agent(A, idle_minutes=5), agent(B, idle_minutes=None)], (), B),  # never assigned
        ([agent(A, presence="away"), agent(B, active=2)], (), B),  # away is not offered
        ([agent(A, presence="offline")], (), None),
        ([agent(A, active=3), agent(B, active=3, capacity=3)], (), None),  # everyone full
        ([agent(A, active=0, capacity=0)], (), None),
        ([agent(A), agent(B, active=1)], (A,), B),  # A let the offer lapse
        ([agent(A), agent(B)], (A, B), None),  # everyone passed: the team queue
        ([agent(A, active=1), agent(B, active=1, idle_minutes=60), agent(C, active=2)], (), B),
    ],
    ids=[
        "nobody",
        "one",
        "least loaded",
        "longest idle",
        "never assigned first",
        "away skipped",
        "offline",
        "all at capacity",
        "zero capacity",
        "passed skipped",
        "all passed",
        "load before idleness",
    ],
)
def test_choice(
    agents: list[Agent], passed: tuple[uuid.UUID, ...], expected: uuid.UUID | None
) -> None:
    chosen = choose(agents, passed)
    assert (chosen.id if chosen else None) == expected
