"""The escalation policy as immutable values: what the loader builds and the engine reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

TransferMode = Literal["warm", "cold"]
ChannelMode = Literal["sync", "async"]
OnTimeout = Literal["send_draft", "transfer", "holding_message"]

TRIGGER_TYPES: tuple[str, ...] = (
    "confidence",
    "sentiment",
    "distress",
    "explicit_request",
    "topic",
    "repeat_contact",
    "loop",
)
DISTRESS_CATEGORIES: tuple[str, ...] = (
    "self_harm",
    "violence",
    "abuse",
    "emergency",
    "bereavement",
)
# Topics the shipped detector has a head for (service/detection): they fire on meaning alone.
MODEL_TOPICS: tuple[str, ...] = ("legal", "fraud", "medical", "regulated_finance")
DEFAULT_PRECEDENCE: tuple[str, ...] = (
    "distress",
    "explicit_request",
    "topic",
    "sentiment",
    "loop",
    "repeat_contact",
)


@dataclass(frozen=True)
class ChannelPolicy:
    name: str
    mode: ChannelMode
    latency_budget: timedelta | None  # async only
    on_timeout: OnTimeout | None
    webhook_url: str | None
    holding_message: str | None

    @property
    def is_sync(self) -> bool:
        return self.mode == "sync"


@dataclass(frozen=True)
class NoOneOnline:
    """What a transfer does after waiting `after` while nobody of its team is online: move to
    another team, or tell the customer (a holding message) and keep waiting."""

    after: timedelta
    team: str | None = None
    holding_message: str | None = None


@dataclass(frozen=True)
class TeamPolicy:
    name: str
    offer_timeout: timedelta | None = None
    description: str | None = None
    no_one_online: NoOneOnline | None = None


@dataclass(frozen=True)
class ConfidencePolicy:
    threshold: float = 0.7
    per_channel: Mapping[str, float] = field(default_factory=dict)
    per_intent: Mapping[str, float] = field(default_factory=dict)
    transfer: TransferMode = "cold"  # used when a sync channel's low confidence transfers
    team: str | None = None  # None: routing.default_team


@dataclass(frozen=True)
class ExplicitRequestPolicy:
    enabled: bool = True
    transfer: TransferMode = "warm"
    team: str | None = None
    threshold: float | None = None  # the head's score at which it fires; None: calibrated default
    examples: tuple[str, ...] = ()  # phrases, in any language, that should fire it


@dataclass(frozen=True)
class SentimentPolicy:
    enabled: bool = True
    threshold: float = -0.5
    window: int = 3
    min_negative: int = 2
    transfer: TransferMode = "warm"
    team: str | None = None
    hard: bool = True
    examples: tuple[str, ...] = ()  # phrases whose tone counts as negative


@dataclass(frozen=True)
class DistressPolicy:
    enabled: bool = True
    categories: tuple[str, ...] = DISTRESS_CATEGORIES
    transfer: TransferMode = "warm"  # the loader accepts only warm: a person must pick it up
    team: str | None = None
    threshold: float | None = None  # the any-category head
    # Per category, as (category, value) pairs so the policy stays hashable.
    thresholds: tuple[tuple[str, float], ...] = ()
    examples: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class TopicPolicy:
    name: str
    labels: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    transfer: TransferMode = "warm"
    team: str | None = None
    threshold: float | None = None
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class RepeatContactPolicy:
    enabled: bool = True
    window: timedelta = timedelta(hours=72)
    transfer: TransferMode = "warm"
    team: str | None = None
    hard: bool = True


@dataclass(frozen=True)
class LoopPolicy:
    enabled: bool = True
    max_same_intent: int = 3
    transfer: TransferMode = "warm"
    team: str | None = None
    hard: bool = True


@dataclass(frozen=True)
class TriggersPolicy:
    explicit_request: ExplicitRequestPolicy = ExplicitRequestPolicy()
    sentiment: SentimentPolicy = SentimentPolicy()
    distress: DistressPolicy = DistressPolicy()
    topics: tuple[TopicPolicy, ...] = ()
    repeat_contact: RepeatContactPolicy = RepeatContactPolicy()
    loop: LoopPolicy = LoopPolicy()


@dataclass(frozen=True)
class RoutingCondition:
    """Every non-empty field must match (AND); within a field any value matches (OR)."""

    topic: frozenset[str] = frozenset()
    intent: frozenset[str] = frozenset()
    trigger: frozenset[str] = frozenset()
    channel: frozenset[str] = frozenset()
    locale: frozenset[str] = frozenset()
    customer_tier: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RoutingRule:
    when: RoutingCondition
    team: str
    line: int = 0  # where the rule was written, for explanations


@dataclass(frozen=True)
class RoutingPolicy:
    default_team: str = "general"
    rules: tuple[RoutingRule, ...] = ()
    precedence: tuple[str, ...] = DEFAULT_PRECEDENCE


@dataclass(frozen=True)
class DetectionPolicy:
    """The policy's detected triggers resolved against the shipped heads (service/detection):
    every key is a rule id ("explicit_request", "distress.abuse", "topics.legal", "sentiment")
    or "distress" (any category)."""

    heads: str = ""  # digest of the heads file; "" for a policy not bound to a model
    thresholds: Mapping[str, float] = field(default_factory=dict)  # head score to fire
    examples: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    similarity: Mapping[str, float] = field(default_factory=dict)  # cosine for an example to fire
    # Below these head scores a rule's phrase or keyword match is a near miss and does not fire.
    veto: Mapping[str, float] = field(default_factory=dict)
    negative: float = 0.5  # the tone head's probability that maps to the sentiment threshold


@dataclass(frozen=True)
class RetentionPolicy:
    """How long finished data is kept; None keeps it for ever. `hitl prune` and the worker's
    job (every ten minutes) delete what is older, in small batches."""

    conversations: timedelta | None = None  # after the last turn, once nothing is open
    deliveries: timedelta | None = None  # webhook deliveries that arrived or gave up
    audit: timedelta | None = None


@dataclass(frozen=True)
class Policy:
    version: str  # SHA-256 hex of the policy file's exact bytes
    source: str  # path it was read from
    channels: Mapping[str, ChannelPolicy]
    default_team: str  # routing.default_team
    teams: Mapping[str, TeamPolicy]
    allow_private_webhooks: bool  # webhooks.allow_private_addresses
    confidence: ConfidencePolicy = ConfidencePolicy()
    triggers: TriggersPolicy = TriggersPolicy()
    routing: RoutingPolicy = RoutingPolicy()
    detection: DetectionPolicy = DetectionPolicy()
    retention: RetentionPolicy = RetentionPolicy()

    def threshold_for(self, channel: str, intent: str | None) -> float:
        """The most specific threshold wins: intent, then channel, then global."""
        conf = self.confidence
        if intent is not None and intent in conf.per_intent:
            return conf.per_intent[intent]
        if channel in conf.per_channel:
            return conf.per_channel[channel]
        return conf.threshold

    def threshold_rule(self, channel: str, intent: str | None) -> str:
        """The rule id of the threshold threshold_for picked."""
        conf = self.confidence
        if intent is not None and intent in conf.per_intent:
            return f"confidence.intent.{intent}"
        if channel in conf.per_channel:
            return f"confidence.channel.{channel}"
        return "confidence.global"
