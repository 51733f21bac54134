"""The decision on one AI turn: send, review or transfer, with every trigger that fired."""

from __future__ import annotations

from dataclasses import dataclass

from service.detection.reading import Reading
from service.policy import detectors, routing, semantic
from service.policy import sentiment as sentiment_score
from service.policy.model import DISTRESS_CATEGORIES, Policy, TransferMode
from service.policy.model import TRIGGER_TYPES as TRIGGERS
from service.policy.verdicts import (
    Action,
    Decision,
    Facts,
    FiredTrigger,
    PriorContact,
    PriorTurn,
    Signals,
)

# The turn's values live in verdicts.py; callers import them from here, with evaluate.
__all__ = [
    "Action",
    "Decision",
    "Facts",
    "FiredTrigger",
    "PriorContact",
    "PriorTurn",
    "Signals",
    "evaluate",
]

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
    reading = signals.reading
    score = signals.sentiment
    if score is None:
        score = (
            semantic.tone(policy, reading)
            if reading is not None and "sentiment" in reading.scores
            else sentiment_score.score(signals.message)
        )
    labels = frozenset(map(detectors.fold_label, signals.topics)) if signals.topics else _NONE
    fired: list[FiredTrigger] = []
    _distress(policy, text, reading, fired)
    _explicit(policy, text, reading, fired)
    topics = _topics(policy, text, labels, reading, fired) | labels
    _sentiment(policy, facts, score, fired)
    _loop(policy, facts, signals.intent, fired)
    if facts.contacts:
        _repeat(policy, facts, signals.intent, topics, fired)
    _confidence(policy, channel, signals, fired)
    return _decide(policy, channel, signals, fired, score, topics)


_NONE: frozenset[str] = frozenset()


def _team(policy: Policy, team: str | None) -> str:
    return team if team is not None else policy.default_team


def _distress(
    policy: Policy, text: detectors.Text, reading: Reading | None, fired: list[FiredTrigger]
) -> None:
    rule = policy.triggers.distress
    if not rule.enabled:
        return
    scores = reading.scores if reading is not None else {}
    found = (
        {}
        if semantic.overruled(policy, reading, "distress")
        else {hit.key: hit.evidence for hit in detectors.distress(text, rule.categories)}
    )
    for category in rule.categories:
        if category not in found and (
            hit := semantic.fires(policy, reading, f"distress.{category}")
        ):
            found[category] = hit[1]
    # The any-category head adds recall; the category heads say which one it is.
    if not found and (hit := semantic.fires(policy, reading, "distress")):
        likeliest = max(DISTRESS_CATEGORIES, key=lambda c: scores.get(f"distress.{c}", 0.0))
        if likeliest in rule.categories:
            found[likeliest] = hit[1]
    for category in DISTRESS_CATEGORIES:
        if category in found:
            fired.append(
                FiredTrigger(
                    "distress",
                    f"distress.{category}",
                    _DISTRESS_DETAIL[category],
                    True,
                    found[category],
                    "warm",
                    _team(policy, rule.team),
                    scores.get(f"distress.{category}"),
                )
            )


def _explicit(
    policy: Policy, text: detectors.Text, reading: Reading | None, fired: list[FiredTrigger]
) -> None:
    rule = policy.triggers.explicit_request
    if not rule.enabled:
        return
    # The rules keep declines ("no need to transfer me"): neither a phrase nor the model fires.
    if reading is not None and detectors.declined(text):
        return
    hit = detectors.explicit_request(text)
    evidence = (
        hit.evidence
        if hit is not None and not semantic.overruled(policy, reading, "explicit_request")
        else None
    )
    if evidence is None and (meant := semantic.fires(policy, reading, "explicit_request")):
        evidence = meant[1]
    if evidence is not None:
        fired.append(
            FiredTrigger(
                "explicit_request",
                "explicit_request",
                "the customer asked to reach a person",
                True,
                evidence,
                rule.transfer,
                _team(policy, rule.team),
                reading.scores.get("explicit_request") if reading is not None else None,
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
    policy: Policy,
    text: detectors.Text,
    labels: frozenset[str],
    reading: Reading | None,
    fired: list[FiredTrigger],
) -> frozenset[str]:
    topics = policy.triggers.topics
    if not topics:
        return _NONE
    names = []
    found = {
        number: evidence
        for number, evidence, by_label in _compiled(policy).matcher.match_kinds(text, labels)
        if by_label or not semantic.overruled(policy, reading, f"topics.{topics[number].name}")
    }
    if reading is not None:
        for number, topic in enumerate(topics):
            if number not in found and (
                hit := semantic.fires(policy, reading, f"topics.{topic.name}")
            ):
                found[number] = hit[1]
    for number in sorted(found):
        evidence = found[number]
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
                reading.scores.get(f"topics.{topic.name}") if reading is not None else None,
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
            score,
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
