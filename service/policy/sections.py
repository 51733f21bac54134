"""Builds each section of a policy (channels, confidence, teams, webhooks, retention) from nodes;
the triggers section is in trigger_sections.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from yaml.nodes import Node

from service.policy import model as m
from service.policy.nodes import Entries, Reader, flag

CHANNEL_KEYS = ("mode", "latency_budget", "on_timeout", "webhook_url", "holding_message")
ASYNC_ONLY = ("latency_budget", "on_timeout", "holding_message")
CONFIDENCE_KEYS = ("threshold", "per_channel", "per_intent", "transfer", "team")
TEAM_KEYS = ("offer_timeout", "description", "no_one_online")
NO_ONE_ONLINE_KEYS = ("after", "team", "holding_message")


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
    return flag(r, e, "allow_private_addresses", "webhooks", False)


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
