"""What leaves turns/repository.py: a conversation's earlier turns and the customer's other
conversations, as a reviewer sees them beside a held draft."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class PastTurn:
    seq: int
    message: str
    draft_text: str
    created_at: datetime
    action: str
    review_status: str | None
    final_text: str | None


@dataclass(frozen=True, slots=True)
class PriorContact:
    channel: str
    created_at: datetime
    turn_count: int
    resolved: bool | None
