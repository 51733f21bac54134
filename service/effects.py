"""What a committed change asks of the outside world: deliveries to attempt, jobs, live events.

Gathered while the transaction runs and dispatched only after it commits. Postgres stays the
truth: if Redis is down when we dispatch, the sweeper finds the same work again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Effects:
    # Deliveries to attempt: (outbox id, what names this attempt, when; None = now). The name
    # goes in the job id, so that an attempt is not mistaken for an earlier one arq may still
    # remember: "0" the first, "<attempts>" a scheduled retry, "<attempts>:sweep" re-found by
    # the sweeper, "<attempts>:retry" retried by a person after it gave up.
    deliveries: list[tuple[uuid.UUID, str, datetime | None]] = field(default_factory=list)
    live: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[uuid.UUID] = field(default_factory=list)  # transfers to offer to an agent
    offer_deadlines: list[tuple[uuid.UUID, datetime]] = field(default_factory=list)
    # Teams whose waiting transfers should look for a person again: someone of them came online.
    # One job walks the queue, however long it is.
    waiting_teams: list[str] = field(default_factory=list)

    def deliver(self, *outbox_ids: uuid.UUID | None) -> None:
        """New events' first attempts, at once (None: nothing was written to send)."""
        self.deliveries += [(o, "0", None) for o in outbox_ids if o is not None]

    def publish(self, kind: str, **data: Any) -> None:
        self.live.append(
            {
                "kind": kind,
                **{k: str(v) if isinstance(v, uuid.UUID) else v for k, v in data.items()},
            }
        )

    def extend(self, other: Effects) -> None:
        self.deliveries += other.deliveries
        self.live += other.live
        self.assignments += other.assignments
        self.offer_deadlines += other.offer_deadlines
        self.waiting_teams += other.waiting_teams
