"""Builds the triggers section of a policy from nodes: each trigger's switches, thresholds,
teams and the example phrases a support lead adds instead of a regex."""

from __future__ import annotations

from yaml.nodes import MappingNode, Node

from service.policy import model as m
from service.policy.nodes import Entries, Reader, did_you_mean, flag, int_or

TRIGGER_KEYS = ("explicit_request", "sentiment", "distress", "topics", "repeat_contact", "loop")
TOPIC_KEYS = ("name", "labels", "keywords", "transfer", "team", "threshold", "examples")
EXPLICIT_KEYS = ("enabled", "transfer", "team", "threshold", "examples")
SENTIMENT_KEYS = (
    "enabled",
    "threshold",
    "window",
    "min_negative",
    "transfer",
    "team",
    "hard",
    "examples",
)
DISTRESS_KEYS = ("enabled", "categories", "transfer", "team", "threshold")
CATEGORY_KEYS = ("threshold", "examples")
MAX_EXAMPLES = 200  # per trigger: each is encoded when the policy loads
MAX_EXAMPLE_CHARS = 500
REPEAT_KEYS = ("enabled", "window", "transfer", "team", "hard")
LOOP_KEYS = ("enabled", "max_same_intent", "transfer", "team", "hard")


def triggers(r: Reader, node: Node) -> m.TriggersPolicy | None:
    e = r.mapping(node, "triggers", TRIGGER_KEYS)
    if e is None:
        return None
    d = m.TriggersPolicy()
    return m.TriggersPolicy(
        explicit_request=_explicit(r, e["explicit_request"][1])
        if "explicit_request" in e
        else d.explicit_request,
        sentiment=_sentiment(r, e["sentiment"][1]) if "sentiment" in e else d.sentiment,
        distress=_distress(r, e["distress"][1]) if "distress" in e else d.distress,
        topics=_topics(r, e["topics"][1]) if "topics" in e else d.topics,
        repeat_contact=_repeat(r, e["repeat_contact"][1])
        if "repeat_contact" in e
        else d.repeat_contact,
        loop=_loop(r, e["loop"][1]) if "loop" in e else d.loop,
    )


def _threshold(r: Reader, e: Entries, where: str) -> float | None:
    """A detected trigger's `threshold:`, the detector score (0 to 1) at which it fires."""
    if "threshold" not in e:
        return None
    return r.number(e["threshold"][1], f"{where}.threshold", 0, 1)


def _examples(r: Reader, e: Entries, where: str) -> tuple[str, ...]:
    """A detected trigger's `examples:`, phrases in any language that should fire it."""
    if "examples" not in e:
        return ()
    listed = r.text_list(e["examples"][1], f"{where}.examples") or []
    if len(listed) > MAX_EXAMPLES:
        r.issue(
            e["examples"][1],
            f"{where}.examples has {len(listed)} phrases, more than {MAX_EXAMPLES}",
            "keep the clearest ones: each example covers its paraphrases in every language",
        )
    out = []
    for item, value in listed[:MAX_EXAMPLES]:
        if len(value) > MAX_EXAMPLE_CHARS:
            r.issue(
                item,
                f"an example in {where}.examples is {len(value)} characters long",
                f"write a short phrase (at most {MAX_EXAMPLE_CHARS} characters), as a customer would",
            )
            continue
        out.append(" ".join(value.split()))
    return tuple(dict.fromkeys(out))  # a phrase given twice counts once


def _explicit(r: Reader, node: Node) -> m.ExplicitRequestPolicy:
    where, d = "triggers.explicit_request", m.ExplicitRequestPolicy()
    e = r.mapping(node, where, EXPLICIT_KEYS) or {}
    return m.ExplicitRequestPolicy(
        enabled=flag(r, e, "enabled", where, d.enabled),
        transfer=r.mode(e, where, d.transfer),
        team=r.team(e, where),
        threshold=_threshold(r, e, where),
        examples=_examples(r, e, where),
    )


def _sentiment(r: Reader, node: Node) -> m.SentimentPolicy:
    where, d = "triggers.sentiment", m.SentimentPolicy()
    e = r.mapping(node, where, SENTIMENT_KEYS) or {}
    threshold = d.threshold
    if "threshold" in e:
        value = r.number(e["threshold"][1], f"{where}.threshold", -1, 1)
        threshold = threshold if value is None else value
    window = int_or(r, e, "window", where, (1, 50), d.window)
    least = int_or(r, e, "min_negative", where, (1, 50), d.min_negative)
    if least > window:
        r.issue(
            e["min_negative"][1],
            f"{where}.min_negative ({least}) is more than the "
            f"window ({window}), so it can never fire",
            f"set min_negative to {window} or less",
        )
    return m.SentimentPolicy(
        enabled=flag(r, e, "enabled", where, d.enabled),
        threshold=threshold,
        window=window,
        min_negative=least,
        transfer=r.mode(e, where, d.transfer),
        team=r.team(e, where),
        hard=flag(r, e, "hard", where, d.hard),
        examples=_examples(r, e, where),
    )


def _categories(
    r: Reader, node: Node, where: str
) -> tuple[list[str], list[tuple[str, float]], list[tuple[str, tuple[str, ...]]]]:
    """`categories:` as a list of names, or as a mapping of name -> {threshold, examples}."""
    thresholds: list[tuple[str, float]] = []
    examples: list[tuple[str, tuple[str, ...]]] = []
    if isinstance(node, MappingNode):
        named = []
        for name, (key_node, value_node) in (r.mapping(node, where, ()) or {}).items():
            named.append((key_node, name))
            e = r.mapping(value_node, f"{where}.{name}", CATEGORY_KEYS) or {}
            threshold = _threshold(r, e, f"{where}.{name}")
            if threshold is not None:
                thresholds.append((name, threshold))
            phrases = _examples(r, e, f"{where}.{name}")
            if phrases:
                examples.append((name, phrases))
    else:
        named = r.text_list(node, where) or []
    for item, value in named:
        if value not in m.DISTRESS_CATEGORIES:
            hint = did_you_mean(value, m.DISTRESS_CATEGORIES) or (
                f"use some of: {', '.join(m.DISTRESS_CATEGORIES)}"
            )
            r.issue(item, f"unknown distress category '{value}'", hint)
    known = [v for _, v in named if v in m.DISTRESS_CATEGORIES]
    return (
        known,
        [t for t in thresholds if t[0] in known],
        [x for x in examples if x[0] in known],
    )


def _distress(r: Reader, node: Node) -> m.DistressPolicy:
    where, d = "triggers.distress", m.DistressPolicy()
    e = r.mapping(node, where, DISTRESS_KEYS) or {}
    categories = d.categories
    thresholds: list[tuple[str, float]] = []
    examples: list[tuple[str, tuple[str, ...]]] = []
    if "categories" in e:
        listed, thresholds, examples = _categories(r, e["categories"][1], f"{where}.categories")
        categories = tuple(listed)
    if r.mode(e, where, d.transfer) != "warm":
        r.issue(
            e["transfer"][1],
            "distress transfers are always warm",
            "write transfer: warm (a person must pick up a customer in distress)",
        )
    return m.DistressPolicy(
        enabled=flag(r, e, "enabled", where, d.enabled),
        categories=categories,
        team=r.team(e, where),
        threshold=_threshold(r, e, where),
        thresholds=tuple(thresholds),
        examples=tuple(examples),
    )


def _topics(r: Reader, node: Node) -> tuple[m.TopicPolicy, ...]:
    out: list[m.TopicPolicy] = []
    seen: set[str] = set()
    for index, item in enumerate(r.sequence(node, "triggers.topics") or []):
        topic = _topic(r, item, f"triggers.topics[{index}]")
        if topic is None:
            continue
        if topic.name in seen:
            r.issue(item, f"topic '{topic.name}' is defined twice", "merge the two entries")
            continue
        seen.add(topic.name)
        out.append(topic)
    return tuple(out)


def _topic(r: Reader, node: Node, where: str) -> m.TopicPolicy | None:
    e = r.mapping(node, where, TOPIC_KEYS, required=("name",))
    if e is None or "name" not in e:
        return None
    name = r.text(e["name"][1], f"{where}.name")
    if name is None or not r.name_ok(e["name"][1], name, "topic"):
        return None
    where = f"triggers.topics.{name}"
    labels = (
        [v for _, v in r.text_list(e["labels"][1], f"{where}.labels") or []]
        if "labels" in e
        else []
    )
    keywords = (
        [v for _, v in r.text_list(e["keywords"][1], f"{where}.keywords") or []]
        if "keywords" in e
        else []
    )
    examples = _examples(r, e, where)
    if not labels and not keywords and not examples and name not in m.MODEL_TOPICS:
        r.issue(
            node,
            f"topic '{name}' has no labels, keywords or examples, so it never fires",
            "add `examples: [...]` (phrases that should fire it, any language), "
            "`labels: [...]` (the channel's topic labels) or `keywords: [...]`",
        )
    return m.TopicPolicy(
        name=name,
        labels=tuple(labels),
        keywords=tuple(keywords),
        transfer=r.mode(e, where, "warm"),
        team=r.team(e, where),
        threshold=_threshold(r, e, where),
        examples=examples,
    )


def _repeat(r: Reader, node: Node) -> m.RepeatContactPolicy:
    where, d = "triggers.repeat_contact", m.RepeatContactPolicy()
    e = r.mapping(node, where, REPEAT_KEYS) or {}
    window = d.window
    if "window" in e:
        window = r.duration(e["window"][1], f"{where}.window") or window
    return m.RepeatContactPolicy(
        enabled=flag(r, e, "enabled", where, d.enabled),
        window=window,
        transfer=r.mode(e, where, d.transfer),
        team=r.team(e, where),
        hard=flag(r, e, "hard", where, d.hard),
    )


def _loop(r: Reader, node: Node) -> m.LoopPolicy:
    where, d = "triggers.loop", m.LoopPolicy()
    e = r.mapping(node, where, LOOP_KEYS) or {}
    return m.LoopPolicy(
        enabled=flag(r, e, "enabled", where, d.enabled),
        max_same_intent=int_or(r, e, "max_same_intent", where, (2, 100), d.max_same_intent),
        transfer=r.mode(e, where, d.transfer),
        team=r.team(e, where),
        hard=flag(r, e, "hard", where, d.hard),
    )
