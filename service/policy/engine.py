"""The decision on one AI turn: send, review or transfer, with every trigger that fired."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from service.policy import detectors, routing
from service.policy import sentiment as sentiment_score
from service.policy.model import TRIGGER_TYPES as TRIGGERS
from service.policy.model import Policy, TransferMode

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
    evidence: str | None  # the matched phrase / numbers
    transfer: TransferMode
    team: str

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


_DISTRESS_DETAIL = {
    "self_harm": "the customer may be at risk of harming themselves",
    "violence": "the message contains a threat of violence",
    "abuse": "the customer describes abuse or danger from another person",
    "emergency": "the customer describes an emergency happening now",
    "bereavement": "the customer mentions a bereavement",
}


def evaluate(policy: Policy, channel: str, facts: Facts, signals: Signals) -> Decision:
    """Apply the policy to one turn. Pure: the same inputs always give the same decision."""
    text = detectors.prepare(signals.message)
    score = signals.sentiment
    if score is None:
        score = sentiment_score.score(signals.message)
    labels = frozenset(map(detectors.fold_label, signals.topics)) if signals.topics else _NONE
    fired: list[FiredTrigger] = []
    _distress(policy, text, fired)
    _explicit(policy, text, fired)
    topics = _topics(policy, text, labels, fired) | labels
    _sentiment(policy, facts, score, fired)
    _loop(policy, facts, signals.intent, fired)
    if facts.contacts:
        _repeat(policy, facts, signals.intent, topics, fired)
    _confidence(policy, channel, signals, fired)
    return _decide(policy, channel, signals, fired, score, topics)


_NONE: frozenset[str] = frozenset()


def _team(policy: Policy, team: str | None) -> str:
    return team if team is not None else policy.default_team


def _distress(policy: Policy, text: detectors.Text, fired: list[FiredTrigger]) -> None:
    rule = policy.triggers.distress
    if not rule.enabled:
        return
    for hit in detectors.distress(text, rule.categories):
        fired.append(
            FiredTrigger(
                "distress",
                f"distress.{hit.key}",
                _DISTRESS_DETAIL[hit.key],
                True,
                hit.evidence,
                "warm",
                _team(policy, rule.team),
            )
        )


def _explicit(policy: Policy, text: detectors.Text, fired: list[FiredTrigger]) -> None:
    rule = policy.triggers.explicit_request
    if not rule.enabled:
        return
    hit = detectors.explicit_request(text)
    if hit is not None:
        fired.append(
            FiredTrigger(
                "explicit_request",
                "explicit_request",
                "the customer asked to reach a person",
                True,
                hit.evidence,
                rule.transfer,
                _team(policy, rule.team),
            )
        )


@dataclass(frozen=True)
class _Compiled:
    """What evaluate derives from a policy, worked out once per policy object."""

    policy: Policy
    matcher: detectors.TopicMatcher
    rank: dict[str, int]  # trigger type -> precedence position
    # Every trigger type or rule id some routing rule asks for, when every rule asks for one;
    # None when a rule has no trigger condition (any deciding trigger may then be routed).
    route_triggers: frozenset[str] | None


_COMPILED: dict[int, _Compiled] = {}


def _compiled(policy: Policy) -> _Compiled:
    # Keyed by identity (checked) so the hot path never hashes the policy.
    entry = _COMPILED.get(id(policy))
    if entry is None or entry.policy is not policy:
        if len(_COMPILED) > 32:
            _COMPILED.clear()
        order = policy.routing.precedence
        rank = {kind: order.index(kind) if kind in order else len(order) for kind in TRIGGERS}
        rules = policy.routing.rules
        route_triggers = (
            frozenset(t for rule in rules for t in rule.when.trigger)
            if all(rule.when.trigger for rule in rules)
            else None
        )
        entry = _Compiled(
            policy, detectors.compile_topics(policy.triggers.topics), rank, route_triggers
        )
        _COMPILED[id(policy)] = entry
    return entry


def _topics(
    policy: Policy, text: detectors.Text, labels: frozenset[str], fired: list[FiredTrigger]
) -> frozenset[str]:
    topics = policy.triggers.topics
    if not topics:
        return _NONE
    names = []
    for number, evidence in _compiled(policy).matcher.match_numbers(text, labels):
        topic = topics[number]
        names.append(detectors.fold_label(topic.name))
        fired.append(
            FiredTrigger(
                "topic",
                f"topics.{topic.name}",
                f"the message is about {topic.name}, a policy topic",
                True,
                evidence,
                topic.transfer,
                _team(policy, topic.team),
            )
        )
    return frozenset(names) if names else _NONE


def _sentiment(policy: Policy, facts: Facts, score: float, fired: list[FiredTrigger]) -> None:
    rule = policy.triggers.sentiment
    if not rule.enabled:
        return
    earlier = [t.sentiment for t in facts.turns[-(rule.window - 1) :]] if rule.window > 1 else []
    window = [*earlier, score]
    low = [s for s in window if s is not None and s < rule.threshold]
    if len(low) < rule.min_negative:
        return
    shown = ", ".join(f"{s:.2f}" for s in low)
    fired.append(
        FiredTrigger(
            "sentiment",
            "sentiment.sustained",
            f"{len(low)} of the customer's last {len(window)} messages scored below "
            f"{rule.threshold:g}",
            rule.hard,
            shown,
            rule.transfer,
            _team(policy, rule.team),
        )
    )


def _loop(policy: Policy, facts: Facts, intent: str | None, fired: list[FiredTrigger]) -> None:
    rule = policy.triggers.loop
    if not rule.enabled or intent is None or facts.resolved:
        return
    count = 1 + sum(1 for turn in facts.turns if turn.intent == intent)
    if count >= rule.max_same_intent:
        fired.append(
            FiredTrigger(
                "loop",
                "loop",
                f"intent '{intent}' came up {count} times in this conversation without resolution",
                rule.hard,
                f"{count} x {intent}",
                rule.transfer,
                _team(policy, rule.team),
            )
        )


def _repeat(
    policy: Policy,
    facts: Facts,
    intent: str | None,
    topics: frozenset[str],
    fired: list[FiredTrigger],
) -> None:
    rule = policy.triggers.repeat_contact
    if not rule.enabled:
        return
    for contact in facts.contacts:
        if contact.resolved is True:
            continue
        same = [i for i in contact.intents if i == intent] if intent is not None else []
        same += [t for t in contact.topics if detectors.fold_label(t) in topics]
        if same:
            fired.append(
                FiredTrigger(
                    "repeat_contact",
                    "repeat_contact",
                    f"the customer already contacted us about '{same[0]}' (conversation "
                    f"{contact.conversation_id}) and it was not resolved",
                    rule.hard,
                    f"{contact.conversation_id}: {same[0]}",
                    rule.transfer,
                    _team(policy, rule.team),
                )
            )
            return


def _confidence(policy: Policy, channel: str, signals: Signals, fired: list[FiredTrigger]) -> None:
    threshold = policy.threshold_for(channel, signals.intent)
    confidence = signals.confidence
    # A missing or NaN confidence must never pass as confident (NaN >= x is False).
    if isinstance(confidence, (int, float)) and confidence >= threshold:
        return
    rule_id = policy.threshold_rule(channel, signals.intent)
    scope = {"confidence.global": "global"}.get(
        rule_id, rule_id.split(".", 2)[-1] + " " + rule_id.split(".")[1]
    )
    rule = policy.confidence
    fired.append(
        FiredTrigger(
            "confidence",
            rule_id,
            f"the draft's confidence {confidence:.2f} is below the {scope} threshold {threshold:g}",
            False,
            f"{confidence:.2f} < {threshold:g}",
            rule.transfer,
            _team(policy, rule.team),
        )
    )


def _decide(
    policy: Policy,
    channel: str,
    signals: Signals,
    fired: list[FiredTrigger],
    score: float,
    topics: frozenset[str],
) -> Decision:
    if not fired:
        return Decision("send", (), None, None, score, policy.version)
    compiled = _compiled(policy)
    rank = compiled.rank
    ordered = tuple(sorted(fired, key=lambda t: rank[t.type])) if len(fired) > 1 else (fired[0],)
    hard = [t for t in ordered if t.hard]
    acting = hard or list(ordered)
    chan = policy.channels.get(channel)
    # An unknown channel is treated as sync: nobody would ever see a held draft.
    action: Action = "transfer" if hard or chan is None or chan.is_sync else "review"
    deciding = acting[0]
    wanted = compiled.route_triggers
    # A rule whose trigger condition names neither the deciding trigger's type nor its rule id
    # cannot match (routing.matches), so when every rule is like that the trigger's own team
    # stands, as choose_team would find, without building the routing context.
    team, rule_index = (
        _route(policy, channel, signals, deciding, topics)
        if policy.routing.rules
        and (wanted is None or deciding.type in wanted or deciding.rule_id in wanted)
        else (deciding.team, None)
    )
    if action == "review":
        return Decision(
            "review",
            ordered,
            None,
            None,
            score,
            policy.version,
            review_team=team,
            routing_rule=rule_index,
        )
    mode: TransferMode = "warm" if any(t.transfer == "warm" for t in acting) else "cold"
    return Decision("transfer", ordered, mode, team, score, policy.version, routing_rule=rule_index)


def _route(
    policy: Policy, channel: str, signals: Signals, deciding: FiredTrigger, topics: frozenset[str]
) -> tuple[str, int | None]:
    ctx = routing.RouteContext(
        topics=topics,
        intent=signals.intent.casefold() if signals.intent else None,
        triggers=frozenset((deciding.type, deciding.rule_id)),
        channel=channel,
        locale=routing.normalise_locale(signals.locale),
        customer_tier=signals.customer_tier.casefold() if signals.customer_tier else None,
    )
    return routing.choose_team(policy.routing, deciding.team, ctx)
