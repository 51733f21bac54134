"""Safe YAML composition and typed reading of nodes, collecting line-numbered issues."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from service.policy.durations import MAX_SECONDS, DurationError, parse_duration
from service.policy.model import TransferMode

MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
_STR = "tag:yaml.org,2002:str"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
Entries = dict[str, tuple[Node, Node]]
_KINDS = {MappingNode: "a mapping", SequenceNode: "a list", ScalarNode: "a value"}


@dataclass(frozen=True)
class PolicyIssue:
    file: str
    line: int
    column: int
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message} (fix: {self.hint})"


class UnsafeYAML(yaml.MarkedYAMLError):
    """A construct the policy format refuses: tags, anchors, aliases, deep nesting."""


class SafeComposer(yaml.SafeLoader):
    """Composes nodes only; no tags, anchors or aliases, so no objects and no alias bombs."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        # Refused while scanning, not only once composed: PyYAML's scanner slows down with
        # every open bracket (5,000 of them took a third of a second before a node was made).
        if self.flow_level >= MAX_DEPTH:
            raise UnsafeYAML(None, None, f"nesting deeper than {MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(token_class)  # type: ignore[misc]

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        mark = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            raise UnsafeYAML(None, None, "aliases (*name) are not allowed", mark)
        if getattr(event, "anchor", None) is not None:
            raise UnsafeYAML(None, None, "anchors (&name) are not allowed", mark)
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!":
            raise UnsafeYAML(None, None, f"tags ({tag}) are not allowed", mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise UnsafeYAML(None, None, f"nesting deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def scalar_value(node: ScalarNode) -> Any:
    """The plain Python value of a scalar whose tag the resolver chose (never a custom tag)."""
    try:
        return _CONSTRUCTOR.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError):
        return node.value


def did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


class Reader:
    """Reads typed values out of YAML nodes; every problem becomes a PolicyIssue."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.issues: list[PolicyIssue] = []
        # Team and channel names used before all are known; the loader checks them at the end.
        self.team_refs: list[tuple[Node, str, str]] = []
        self.channel_refs: list[tuple[Node, str, str]] = []

    def issue(self, node: Node | None, message: str, hint: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        column = node.start_mark.column + 1 if node is not None else 1
        self.issues.append(PolicyIssue(self.source, line, column, message, hint))

    def name_ok(self, node: Node, name: str, what: str) -> bool:
        if _NAME.match(name):
            return True
        self.issue(
            node,
            f"{what} name '{name}' has spaces or symbols",
            "use letters, digits, '_', '-' or '.' only",
        )
        return False

    def mode(self, e: Entries, where: str, default: TransferMode) -> TransferMode:
        """The optional `transfer: warm | cold` of a section."""
        if "transfer" not in e:
            return default
        value = self.choice(e["transfer"][1], f"{where}.transfer", ("warm", "cold"))
        return cast(TransferMode, value) if value is not None else default

    def team(self, e: Entries, where: str) -> str | None:
        """The optional `team:` of a section, remembered for the cross-check."""
        if "team" not in e:
            return None
        node = e["team"][1]
        name = self.text(node, f"{where}.team")
        if name is not None:
            self.team_refs.append((node, name, f"{where}.team"))
        return name

    def mapping(
        self, node: Node, where: str, allowed: Sequence[str], required: Sequence[str] = ()
    ) -> Entries | None:
        """The entries of a mapping by key, with unknown, duplicate and missing keys reported."""
        if isinstance(node, ScalarNode) and node.value == "" and node.tag != _STR:
            node_map: list[tuple[Node, Node]] = []  # `key:` with nothing after it: empty
        elif not isinstance(node, MappingNode):
            self.issue(
                node,
                f"{where} must be a mapping, not {_KINDS[type(node)]}",
                f"write {where} as `key: value` lines indented under it",
            )
            return None
        else:
            node_map = list(node.value)
        out: Entries = {}
        for key_node, value_node in node_map:
            key = self._key(key_node, where)
            if key is None:
                continue
            if key in out:
                self.issue(key_node, f"{where}.{key} is given twice", "keep only one of them")
                continue
            if allowed and key not in allowed:
                hint = did_you_mean(key, allowed) or f"allowed keys: {', '.join(allowed)}"
                self.issue(key_node, f"unknown key '{key}' in {where}", hint)
                continue
            out[key] = (key_node, value_node)
        for key in required:
            if key not in out:
                self.issue(node, f"{where} is missing '{key}'", f"add `{key}:` under {where}")
        return out

    def _key(self, node: Node, where: str) -> str | None:
        if not isinstance(node, ScalarNode):
            self.issue(node, f"a key in {where} is not a plain name", "use a plain word as key")
            return None
        return str(node.value)

    def text(self, node: Node, where: str, *, allow_empty: bool = False) -> str | None:
        if not isinstance(node, ScalarNode):
            self.issue(
                node, f"{where} must be text, not {_KINDS[type(node)]}", f"write {where}: some text"
            )
            return None
        value = scalar_value(node)
        if value is None or isinstance(value, (bool, dict, list)):
            self.issue(
                node,
                f"{where} must be text, not {node.value!r}",
                "put the text in quotes if YAML reads it as yes/no or null",
            )
            return None
        result = str(node.value) if not isinstance(value, str) else value
        if not result.strip() and not allow_empty:
            self.issue(node, f"{where} is empty", f"give {where} a value or remove it")
            return None
        return result

    def number(self, node: Node, where: str, low: float, high: float) -> float | None:
        value = scalar_value(node) if isinstance(node, ScalarNode) else None
        ok = (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and low <= value <= high
        )
        if not ok:
            shown = node.value if isinstance(node, ScalarNode) else _KINDS[type(node)]
            self.issue(
                node,
                f"{where} must be a number from {low:g} to {high:g}, not {shown!r}",
                f"write a number between {low:g} and {high:g}, e.g. {(low + high) / 2:g}",
            )
            return None
        return float(cast(float, value))

    def integer(self, node: Node, where: str, low: int, high: int) -> int | None:
        value = scalar_value(node) if isinstance(node, ScalarNode) else None
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            shown = node.value if isinstance(node, ScalarNode) else _KINDS[type(node)]
            self.issue(
                node,
                f"{where} must be a whole number from {low} to {high}, not {shown!r}",
                f"write a whole number between {low} and {high}",
            )
            return None
        return value

    def boolean(self, node: Node, where: str) -> bool | None:
        value = scalar_value(node) if isinstance(node, ScalarNode) else None
        if not isinstance(value, bool):
            self.issue(node, f"{where} must be true or false", f"write {where}: true")
            return None
        return value

    def choice(self, node: Node, where: str, options: Sequence[str]) -> str | None:
        value = self.text(node, where)
        if value is None:
            return None
        if value not in options:
            hint = did_you_mean(value, options) or f"use one of: {', '.join(options)}"
            self.issue(
                node, f"{where} is '{value}', which is not one of {', '.join(options)}", hint
            )
            return None
        return value

    def duration(self, node: Node, where: str, longest: int = MAX_SECONDS) -> timedelta | None:
        value = scalar_value(node) if isinstance(node, ScalarNode) else None
        if isinstance(node, ScalarNode) and isinstance(value, str):
            try:
                return parse_duration(value, longest)
            except DurationError as err:
                reason = str(err)
        else:
            reason = f"{where} must be a duration"
        self.issue(node, f"{where}: {reason}", "write a number and a unit: 90s, 10m, 4h or 3d")
        return None

    def text_list(self, node: Node, where: str) -> list[tuple[Node, str]] | None:
        """A list of texts; a single text is accepted as a one-item list."""
        if isinstance(node, ScalarNode):
            value = self.text(node, where)
            return None if value is None else [(node, value)]
        if not isinstance(node, SequenceNode):
            self.issue(node, f"{where} must be a list", f"write {where}: [first, second]")
            return None
        items = [(item, self.text(item, f"{where} item")) for item in node.value]
        return [(item, value) for item, value in items if value is not None]

    def sequence(self, node: Node, where: str) -> list[Node] | None:
        if isinstance(node, ScalarNode) and node.value == "" and node.tag != _STR:
            return []
        if not isinstance(node, SequenceNode):
            self.issue(node, f"{where} must be a list", f"write each item of {where} as `- ...`")
            return None
        return list(node.value)


def flag(r: Reader, e: Entries, key: str, where: str, default: bool) -> bool:
    if key not in e:
        return default
    value = r.boolean(e[key][1], f"{where}.{key}")
    return default if value is None else value


def int_or(
    r: Reader, e: Entries, key: str, where: str, bounds: tuple[int, int], default: int
) -> int:
    if key not in e:
        return default
    value = r.integer(e[key][1], f"{where}.{key}", *bounds)
    return default if value is None else value
