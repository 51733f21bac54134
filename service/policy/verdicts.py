"""The values the engine reads and returns: a turn's signals and facts, and the decision."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from service.detection.reading import Reading
from service.policy.model import TransferMode

Action = Literal["send", "review", "transfer"]


@dataclass(frozen=True)
class Signals:
    """What the channel sent with this turn."""

    message: str  # the customer's latest message
    draft_text: str
    confidence: float
    intent: str | None = None
    topics: tuple[str, ...] = ()
    sentiment: float | None = None  # channel-provided score; computed by the detector when None
    locale: str | None = None
    customer_tier: str | None = None
    # What the semantic detector read in the message (service/detection); None: rules only,
    # and the tone from the VADER fallback.
    reading: Reading | None = None


@dataclass(frozen=True)
class PriorTurn:
    """An earlier customer turn of this conversation, oldest first."""

    intent: str | None
    sentiment: float | None


@dataclass(frozen=True)
class PriorContact:
    """One of this customer's OTHER conversations within the repeat-contact window."""

    conversation_id: str
    intents: tuple[str, ...]
    topics: tuple[str, ...]
    resolved: bool | None  # None = no outcome recorded (counts as not resolved)
    last_at: datetime


@dataclass(frozen=True)
class Facts:
    turns: tuple[PriorTurn, ...] = ()
    resolved: bool = False  # this conversation already marked resolved
    contacts: tuple[PriorContact, ...] = ()


@dataclass(frozen=True)
class FiredTrigger:
    type: str
    rule_id: str  # stable id, e.g. "topics.legal", "explicit_request", "distress.self_harm"
    detail: str  # human sentence: why it fired
    hard: bool  # hard triggers bypass the review queue
    evidence: str | None  # the matched phrase, the nearest example, or the numbers
    transfer: TransferMode
    team: str
    score: float | None = None  # the detector's score, where a detector applies

    def as_json(self) -> dict[str, Any]:
        """The form stored with every decision and shown to people and auditors."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Decision:
    action: Action
    triggers: tuple[FiredTrigger, ...]
    transfer_mode: TransferMode | None
    team: str | None  # set when action == "transfer"
    sentiment: float  # the score used for this message (channel's or computed)
    policy_version: str
    review_team: str | None = None  # whose queue holds the draft when action == "review"
    routing_rule: int | None = None  # index in routing.rules that named the team, if any

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(t.rule_id for t in self.triggers)
