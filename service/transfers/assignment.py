"""Which agent gets a transfer offer (pure): available, under capacity, least loaded, longest idle."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Agent:
    id: uuid.UUID
    presence: str  # online | away | offline
    active: int  # transfers offered to or accepted by them, still open
    capacity: int
    last_assigned_at: datetime | None  # None: never assigned, the longest idle of all


def choose(agents: Iterable[Agent], passed: Iterable[uuid.UUID] = ()) -> Agent | None:
    """The agent to offer to, or None: the transfer waits in the team queue.

    Only online agents with room are eligible, and not those who already let this offer lapse.
    Least loaded first; among equals, whoever has waited longest since their last assignment.
    """
    skip = set(passed)
    eligible = [
        a for a in agents if a.presence == "online" and a.active < a.capacity and a.id not in skip
    ]
    if not eligible:
        return None
    return min(eligible, key=_order)


def _order(agent: Agent) -> tuple[int, int, float]:
    never = agent.last_assigned_at is None
    idle_since = agent.last_assigned_at.timestamp() if agent.last_assigned_at else 0.0
    return (agent.active, 0 if never else 1, idle_since)
