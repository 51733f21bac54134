"""Reads a policy file safely into a Policy, or fails with every line-numbered issue."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import yaml
from yaml.nodes import Node

from service.detection import binding, heads
from service.policy import model as m
from service.policy import sections, trigger_sections
from service.policy.nodes import (
    MAX_BYTES,
    Entries,
    PolicyIssue,
    Reader,
    SafeComposer,
    did_you_mean,
)

__all__ = ["PolicyError", "PolicyIssue", "load_policy", "parse_policy"]

TOP_KEYS = (
    "version",
    "channels",
    "confidence",
    "triggers",
    "routing",
    "teams",
    "webhooks",
    "retention",
)
ROUTING_KEYS = ("default_team", "rules", "precedence")
RULE_KEYS = ("when", "team")
WHEN_KEYS = ("topic", "intent", "trigger", "channel", "locale", "customer_tier")
_RULE_ID_PREFIXES = ("topics.", "distress.", "confidence.", "sentiment.")


class PolicyError(Exception):
    """The policy cannot be used; .issues lists every problem found, in file order."""

    def __init__(self, issues: list[PolicyIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.line, i.column))
        super().__init__("\n".join(str(issue) for issue in self.issues))


def load_policy(path: str | Path, *, bind: bool = True) -> m.Policy:
    """Read and validate the policy file at path; bind=False leaves it unbound to the shipped
    detector heads (for training them)."""
    source = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)  # never read a huge file whole
    except OSError as err:
        raise PolicyError(
            [
                _file_issue(
                    source,
                    f"cannot read the file: {err.strerror}",
                    "check the path and its permissions",
                )
            ]
        ) from None
    return _parse_bytes(data, source, bind)


def parse_policy(text: str, source: str = "<string>") -> m.Policy:
    """Validate policy text; its version is binding.version of its UTF-8 bytes' SHA-256."""
    return _parse_bytes(text.encode("utf-8"), source)


def _file_issue(source: str, message: str, hint: str) -> PolicyIssue:
    return PolicyIssue(source, 1, 1, message, hint)


def _parse_bytes(data: bytes, source: str, bind: bool = True) -> m.Policy:
    if len(data) > MAX_BYTES:
        raise PolicyError(
            [
                _file_issue(
                    source,
                    f"the file is larger than {MAX_BYTES} bytes",
                    "a policy is a short document; trim it",
                )
            ]
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        issue = PolicyIssue(source, line, 1, "the file is not valid UTF-8", "save it as UTF-8")
        raise PolicyError([issue]) from None
    root = _compose(text, source)
    reader = Reader(source)
    try:
        policy = _build(reader, root, hashlib.sha256(data).hexdigest())
    except RecursionError:
        reader.issue(root, "the policy is nested too deeply", "flatten the structure")
        policy = None
    if reader.issues or policy is None:
        raise PolicyError(reader.issues or [_file_issue(source, "invalid policy", "see above")])
    return binding.bind(policy, heads.load()) if bind else policy


def _compose(text: str, source: str) -> Node:
    try:
        loader = SafeComposer(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        line, column = _where_it_began(text, err)
        message = " ".join(p for p in (err.context, err.problem) if p) or "invalid YAML"
        gave_up = err.problem_mark
        if gave_up is not None and gave_up.line + 1 != line:
            message += (
                f" (the parser gave up at line {gave_up.line + 1}, column {gave_up.column + 1})"
            )
        hint = "fix the YAML syntax here (indentation, quotes, a missing ':')"
        if "not allowed" in message or "nesting" in message:
            hint = "write the values out in full; the policy format has no tags or references"
        raise PolicyError([PolicyIssue(source, line, column, message, hint)]) from None
    except (yaml.YAMLError, RecursionError) as err:
        raise PolicyError(
            [_file_issue(source, f"invalid YAML: {type(err).__name__}", "fix the YAML")]
        ) from None
    if root is None:
        raise PolicyError(
            [_file_issue(source, "the policy is empty", "start from policies/default.yaml")]
        )
    return root


def _where_it_began(text: str, err: yaml.MarkedYAMLError) -> tuple[int, int]:
    """(line, column) of the construct that broke: for an unclosed "[" or "{" the bracket
    itself (the parser only notices lines later), for an unclosed quote the quote, otherwise
    where the parser stopped."""
    said = f"{err.context or ''} {err.problem or ''}"
    mark = err.problem_mark or err.context_mark
    if "flow" in said and mark is not None:
        opened = _unclosed_bracket(text, mark.index)
        if opened is not None:
            return opened
    if "quoted" in said and err.context_mark is not None:
        mark = err.context_mark
    return (mark.line + 1, mark.column + 1) if mark else (1, 1)


def _unclosed_bracket(text: str, end: int) -> tuple[int, int] | None:
    """The innermost "[" or "{" still open at offset end, skipping quotes and comments."""
    stack: list[int] = []
    quote = ""
    i = 0
    while i < min(end, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t\n"):
            newline = text.find("\n", i)
            i = len(text) if newline < 0 else newline
            continue
        elif ch in "[{":
            stack.append(i)
        elif ch in "]}" and stack:
            stack.pop()
        i += 1
    if not stack:
        return None
    at = stack[-1]
    return text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1


def _build(r: Reader, root: Node, version: str) -> m.Policy | None:
    top = r.mapping(
        root, "the policy", TOP_KEYS, required=("version", "channels", "routing", "teams")
    )
    if top is None:
        return None
    if "version" in top and r.integer(top["version"][1], "version", 1, 1) is None:
        r.issues[-1] = PolicyIssue(
            r.source,
            r.issues[-1].line,
            r.issues[-1].column,
            "this policy format has only version 1",
            "write version: 1",
        )
    channels = _section(r, top, "channels", sections.channels, {})
    confidence = _section(r, top, "confidence", sections.confidence, m.ConfidencePolicy())
    triggers = _section(r, top, "triggers", trigger_sections.triggers, m.TriggersPolicy())
    routing = _section(r, top, "routing", _routing, m.RoutingPolicy())
    teams = _section(r, top, "teams", sections.teams, {})
    allow_private = _section(r, top, "webhooks", sections.webhooks, False)
    retention = _section(r, top, "retention", sections.retention, m.RetentionPolicy())
    _check_refs(r, channels, teams, top)
    return m.Policy(
        version=version,
        source=r.source,
        channels=channels,
        default_team=routing.default_team,
        teams=teams,
        allow_private_webhooks=allow_private,
        confidence=confidence,
        triggers=triggers,
        routing=routing,
        retention=retention,
    )


def _section(
    r: Reader, top: Entries, key: str, build: Callable[[Reader, Node], Any], default: Any
) -> Any:
    if key not in top:
        return default
    value = build(r, top[key][1])
    return default if value is None else value


def _check_refs(
    r: Reader, channels: dict[str, m.ChannelPolicy], teams: dict[str, m.TeamPolicy], top: Entries
) -> None:
    # Only when the section parsed: a broken `teams:` already has its own issue.
    if "teams" in top and teams is not None:
        for node, name, where in r.team_refs:
            if name not in teams:
                hint = did_you_mean(name, teams) or f"add `{name}: {{}}` under teams"
                r.issue(node, f"{where} names team '{name}', which is not under teams", hint)
    if "channels" in top:
        for node, name, where in r.channel_refs:
            if name not in channels:
                hint = did_you_mean(name, channels) or f"add channel '{name}' under channels"
                r.issue(node, f"{where} names channel '{name}', which is not under channels", hint)


def _routing(r: Reader, node: Node) -> m.RoutingPolicy | None:
    e = r.mapping(node, "routing", ROUTING_KEYS, required=("default_team",))
    if e is None:
        return None
    default_team = "general"
    if "default_team" in e:
        team_node = e["default_team"][1]
        name = r.text(team_node, "routing.default_team")
        if name is not None:
            default_team = name
            r.team_refs.append((team_node, name, "routing.default_team"))
    rules = []
    for index, item in enumerate(
        r.sequence(e["rules"][1], "routing.rules") or [] if "rules" in e else []
    ):
        rule = _rule(r, item, f"routing.rules[{index}]")
        if rule is not None:
            rules.append(rule)
    precedence = _precedence(r, e["precedence"][1]) if "precedence" in e else m.DEFAULT_PRECEDENCE
    return m.RoutingPolicy(default_team=default_team, rules=tuple(rules), precedence=precedence)


def _rule(r: Reader, node: Node, where: str) -> m.RoutingRule | None:
    e = r.mapping(node, where, RULE_KEYS, required=("when", "team"))
    if e is None or "when" not in e or "team" not in e:
        return None
    when = r.mapping(e["when"][1], f"{where}.when", WHEN_KEYS)
    if when is None:
        return None
    if not when and not getattr(e["when"][1], "value", None):
        r.issue(
            e["when"][1],
            f"{where}.when has no condition, so it matches every transfer",
            "add a condition such as `topic: billing`, or change routing.default_team",
        )
    values: dict[str, frozenset[str]] = {}
    for key, (_, value_node) in when.items():
        listed = r.text_list(value_node, f"{where}.when.{key}") or []
        for item, value in listed:
            _check_condition(r, item, key, value, where)
        values[key] = frozenset(_fold_condition(key, v) for _, v in listed)
    team = r.team(e, where)
    if team is None:
        return None
    return m.RoutingRule(
        when=m.RoutingCondition(**values), team=team, line=node.start_mark.line + 1
    )


def _fold_condition(key: str, value: str) -> str:
    if key in ("channel", "trigger"):
        return value
    folded = value.strip().casefold()
    return folded.replace("_", "-") if key == "locale" else folded


def _check_condition(r: Reader, node: Node, key: str, value: str, where: str) -> None:
    if key == "channel":
        r.channel_refs.append((node, value, f"{where}.when.channel"))
    elif (
        key == "trigger"
        and value not in m.TRIGGER_TYPES
        and not (value.startswith(_RULE_ID_PREFIXES))
    ):
        hint = did_you_mean(value, m.TRIGGER_TYPES) or (
            f"use a trigger type ({', '.join(m.TRIGGER_TYPES)}) or a rule id like topics.legal"
        )
        r.issue(node, f"{where}.when.trigger '{value}' is not a trigger", hint)


def _precedence(r: Reader, node: Node) -> tuple[str, ...]:
    listed = r.text_list(node, "routing.precedence") or []
    order: list[str] = []
    for item, value in listed:
        if value not in m.DEFAULT_PRECEDENCE:
            hint = did_you_mean(value, m.DEFAULT_PRECEDENCE) or (
                f"use trigger types: {', '.join(m.DEFAULT_PRECEDENCE)}"
            )
            r.issue(item, f"routing.precedence names '{value}', which is not a trigger", hint)
        elif value in order:
            r.issue(item, f"routing.precedence lists '{value}' twice", "keep the first one")
        else:
            order.append(value)
    # Types left out keep their default order after the listed ones.
    order.extend(t for t in m.DEFAULT_PRECEDENCE if t not in order)
    return tuple(cast(list[str], order))
