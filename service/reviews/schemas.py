"""What leaves the review repository: one typed row of the queue, with what a reviewer needs to
judge the draft (the turn, the conversation, the decision, who holds it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from service.db import json_value


@dataclass(frozen=True, slots=True)
class ReviewRead:
    id: uuid.UUID
    status: str
    team: str
    channel: str
    priority: int
    deadline: datetime
    claimed_by: uuid.UUID | None
    lease_until: datetime | None
    draft_text: str
    final_text: str | None
    outcome_by: str | None
    fallback: str | None
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    created_at: datetime
    turn_id: uuid.UUID
    conversation_id: uuid.UUID
    message: str
    confidence: float
    intent: str | None
    topics: list[str] | None
    sentiment: float | None
    locale: str | None
    metadata: dict[str, Any] | None
    conversation_external_id: str
    customer_id: str
    triggers: list[dict[str, Any]]
    policy_version: str
    claimed_by_email: str | None
    claimed_by_name: str | None

    @classmethod
    def of(cls, row: asyncpg.Record) -> ReviewRead:
        """From a row of repository.SELECT_VIEW (its columns are these fields, by name); from a
        bare connection without the pool's JSON codec (the bench's) too."""
        values = dict(row.items())
        values["triggers"] = json_value(values["triggers"])
        values["metadata"] = json_value(values["metadata"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class TeamHealth:
    """A team's queue on the Supervisor page."""

    team: str
    depth: int
    oldest_seconds: Decimal | None
    at_risk: int
    breaches_today: int
    held: int


@dataclass(frozen=True, slots=True)
class Hold:
    """A claimed review and who holds it."""

    id: uuid.UUID
    team: str
    channel: str
    deadline: datetime
    lease_until: datetime | None
    created_at: datetime
    customer_id: str
    claimed_by: uuid.UUID
    holder_name: str
    holder_email: str
