"""What leaves reviewers/repository.py: a person of the desk as the Supervisor page lists them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Person:
    id: uuid.UUID
    display_name: str
    email: str
    presence: str
    last_seen_at: datetime | None
    teams: list[str]
    holding: int
    conversations: int
