"""Builds each section of a policy (channels, confidence, triggers, routing, teams) from nodes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from yaml.nodes import MappingNode, Node

from service.policy import model as m
from service.policy.nodes import Entries, Reader, did_you_mean

CHANNEL_KEYS = ("mode", "latency_budget", "on_timeout", "webhook_url", "holding_message")
ASYNC_ONLY = ("latency_budget", "on_timeout", "holding_message")
CONFIDENCE_KEYS = ("threshold", "per_channel", "per_intent", "transfer", "team")
TRIGGER_KEYS = ("explicit_request", "sentiment", "distress", "topics", "repeat_contact", "loop")
TEAM_KEYS = ("offer_timeout", "description", "no_one_online")
NO_ONE_ONLINE_KEYS = ("after", "team", "holding_message")

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


def channels(r: Reader, node: Node) -> dict[str, m.ChannelPolicy] | None:
    entries = r.mapping(node, "channels", ())
    if entries is None:
        return None
    if not entries:
        r.issue(node, "no channels are defined", "add e.g. `chat: { mode: sync }`")
    out = {}
    for name, (key_node, value_node) in entries.items():
        if r.name_ok(key_node, name, "channel"):
            channel = _channel(r, name, value_node)
            if channel is not None:
                out[name] = channel
    return out


def _channel(r: Reader, name: str, node: Node) -> m.ChannelPolicy | None:
    where = f"channels.{name}"
    e = r.mapping(node, where, CHANNEL_KEYS, required=("mode",))
    if e is None or "mode" not in e:
        return None
    mode = r.choice(e["mode"][1], f"{where}.mode", ("sync", "async"))
    values: dict[str, Any] = dict.fromkeys(CHANNEL_KEYS)
    if "webhook_url" in e:
        values["webhook_url"] = _webhook_url(r, e["webhook_url"][1], f"{where}.webhook_url")
    if mode == "sync":
        for key in ASYNC_ONLY:
            if key in e:
                r.issue(
                    e[key][0],
                    f"{where}.{key} applies only to async channels",
                    "remove it, or set mode: async (sync channels are never held)",
                )
    elif mode == "async":
        _async_fields(r, e, where, values)
    if mode is None:
        return None
    return m.ChannelPolicy(
        name=name,
        mode=cast(m.ChannelMode, mode),
        latency_budget=values["latency_budget"],
        on_timeout=values["on_timeout"],
        webhook_url=values["webhook_url"],
        holding_message=values["holding_message"],
    )


def _async_fields(r: Reader, e: Entries, where: str, values: dict[str, Any]) -> None:
    for key, example in (("latency_budget", "4h"), ("on_timeout", "send_draft")):
        if key not in e:
            r.issue(
                e["mode"][1], f"async {where} has no {key}", f"add `{key}: {example}` to {where}"
            )
    if "latency_budget" in e:
        values["latency_budget"] = r.duration(e["latency_budget"][1], f"{where}.latency_budget")
    if "on_timeout" in e:
        values["on_timeout"] = r.choice(
            e["on_timeout"][1], f"{where}.on_timeout", ("send_draft", "transfer", "holding_message")
        )
    if "holding_message" in e:
        values["holding_message"] = r.text(e["holding_message"][1], f"{where}.holding_message")
    elif values["on_timeout"] == "holding_message":
        r.issue(
            e["on_timeout"][1],
            f"{where} sends a holding message but has none",
            f'add `holding_message: "..."` to {where}',
        )


def _webhook_url(r: Reader, node: Node, where: str) -> str | None:
    url = r.text(node, where)
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in url
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        ok = False
    if not ok:
        r.issue(
            node,
            f"{where} '{url}' is not an http(s) URL",
            "write a full URL such as https://example.com/hitl/webhook",
        )
        return None
    return url


def confidence(r: Reader, node: Node) -> m.ConfidencePolicy | None:
    e = r.mapping(node, "confidence", CONFIDENCE_KEYS)
    if e is None:
        return None
    default = m.ConfidencePolicy()
    threshold = default.threshold
    if "threshold" in e:
        value = r.number(e["threshold"][1], "confidence.threshold", 0, 1)
        threshold = threshold if value is None else value
    return m.ConfidencePolicy(
        threshold=threshold,
        per_channel=_thresholds(r, e, "per_channel", channels=True),
        per_intent=_thresholds(r, e, "per_intent", channels=False),
        transfer=r.mode(e, "confidence", default.transfer),
        team=r.team(e, "confidence"),
    )


def _thresholds(r: Reader, e: Entries, key: str, *, channels: bool) -> dict[str, float]:
    if key not in e:
        return {}
    entries = r.mapping(e[key][1], f"confidence.{key}", ())
    out: dict[str, float] = {}
    for name, (key_node, value_node) in (entries or {}).items():
        value = r.number(value_node, f"confidence.{key}.{name}", 0, 1)
        if channels:
            r.channel_refs.append((key_node, name, f"confidence.{key}"))
        if value is not None:
            out[name] = value
    return out


def _flag(r: Reader, e: Entries, key: str, where: str, default: bool) -> bool:
    if key not in e:
        return default
    value = r.boolean(e[key][1], f"{where}.{key}")
    return default if value is None else value


def _int(r: Reader, e: Entries, key: str, where: str, bounds: tuple[int, int], default: int) -> int:
    if key not in e:
        return default
    value = r.integer(e[key][1], f"{where}.{key}", *bounds)
    return default if value is None else value


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
        enabled=_flag(r, e, "enabled", where, d.enabled),
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
    window = _int(r, e, "window", where, (1, 50), d.window)
    least = _int(r, e, "min_negative", where, (1, 50), d.min_negative)
    if least > window:
        r.issue(
            e["min_negative"][1],
            f"{where}.min_negative ({least}) is more than the "
            f"window ({window}), so it can never fire",
            f"set min_negative to {window} or less",
        )
    return m.SentimentPolicy(
        enabled=_flag(r, e, "enabled", where, d.enabled),
        threshold=threshold,
        window=window,
        min_negative=least,
        transfer=r.mode(e, where, d.transfer),
        team=r.team(e, where),
        hard=_flag(r, e, "hard", where, d.hard),
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
        enabled=_flag(r, e, "enabled", where, d.enabled),
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
        enabled=_flag(r, e, "enabled", where, d.enabled),
        window=window,
        transfer=r.mode(e, where, d.transfer),
        team=r.team(e, where),
        hard=_flag(r, e, "hard", where, d.hard),
    )


def _loop(r: Reader, node: Node) -> m.LoopPolicy:
    where, d = "triggers.loop", m.LoopPolicy()
    e = r.mapping(node, where, LOOP_KEYS) or {}
    return m.LoopPolicy(
        enabled=_flag(r, e, "enabled", where, d.enabled),
        max_same_intent=_int(r, e, "max_same_intent", where, (2, 100), d.max_same_intent),
        transfer=r.mode(e, where, d.transfer),
        team=r.team(e, where),
        hard=_flag(r, e, "hard", where, d.hard),
    )


def teams(r: Reader, node: Node) -> dict[str, m.TeamPolicy] | None:
    entries = r.mapping(node, "teams", ())
    if entries is None:
        return None
    out = {}
    for name, (key_node, value_node) in entries.items():
        if not r.name_ok(key_node, name, "team"):
            continue
        e = r.mapping(value_node, f"teams.{name}", TEAM_KEYS) or {}
        timeout = (
            r.duration(e["offer_timeout"][1], f"teams.{name}.offer_timeout")
            if "offer_timeout" in e
            else None
        )
        description = (
            r.text(e["description"][1], f"teams.{name}.description") if "description" in e else None
        )
        fallback = _no_one_online(r, e["no_one_online"][1], name) if "no_one_online" in e else None
        out[name] = m.TeamPolicy(
            name=name, offer_timeout=timeout, description=description, no_one_online=fallback
        )
    return out


def _no_one_online(r: Reader, node: Node, team: str) -> m.NoOneOnline | None:
    """`no_one_online: { after: 10m, team: care }` or `{ after: 5m, holding_message: ... }`."""
    where = f"teams.{team}.no_one_online"
    e = r.mapping(node, where, NO_ONE_ONLINE_KEYS, required=("after",))
    if e is None or "after" not in e:
        return None
    after = r.duration(e["after"][1], f"{where}.after")
    to = r.team(e, where)
    message = (
        r.text(e["holding_message"][1], f"{where}.holding_message")
        if "holding_message" in e
        else None
    )
    if ("team" in e) == ("holding_message" in e):
        r.issue(
            node,
            f"{where} needs exactly one fallback: another team, or a holding message",
            'add `team: <another team>` or `holding_message: "..."`, not both',
        )
        return None
    if to == team:
        r.issue(e["team"][1], f"{where}.team is {team} itself", "name another team to move to")
        return None
    if after is None:
        return None
    return m.NoOneOnline(after=after, team=to, holding_message=message)


def webhooks(r: Reader, node: Node) -> bool | None:
    e = r.mapping(node, "webhooks", ("allow_private_addresses",))
    if e is None:
        return None
    return _flag(r, e, "allow_private_addresses", "webhooks", False)


RETAINED = ("conversations", "deliveries", "audit")
MIN_RETENTION = timedelta(days=1)
RETENTION_LONGEST = 100 * 366 * 86400  # records are kept for years: only a century is a typo


def retention(r: Reader, node: Node) -> m.RetentionPolicy | None:
    e = r.mapping(node, "retention", RETAINED)
    if e is None:
        return None
    kept: dict[str, timedelta | None] = {}
    for key in RETAINED:
        if key not in e:
            continue
        value = r.duration(e[key][1], f"retention.{key}", longest=RETENTION_LONGEST)
        if value is not None and value < MIN_RETENTION:
            r.issue(
                e[key][1],
                f"retention.{key} keeps data less than a day",
                "write at least 1d (leave the key out to keep it for ever)",
            )
            value = None
        kept[key] = value
    return m.RetentionPolicy(**kept)
