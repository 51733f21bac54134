"""The comparison figures per policy, and the turns on which two policies decide differently."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from service.replay.runner import TurnEvent, Verdict

ACTIONS = ("send", "review", "transfer")


@dataclass
class Tally:
    """One policy's counts over the replayed turns."""

    name: str
    version: str | None = None
    refused: int = 0  # turns on a channel this policy does not define: the service answers 400
    # Turns by (channel, action, trigger types, team): one increment per turn on the hot loop;
    # every figure is derived from it at the end.
    counts: Counter[tuple[str, str, tuple[str, ...], str | None]] = field(default_factory=Counter)
    hours: defaultdict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    # Every decision when asked for (--decisions), keyed for input order: (line, turn, row).
    decisions: list[tuple[int, int, dict[str, Any]]] | None = None

    def add(self, event: TurnEvent, verdict: Verdict | None) -> None:
        if verdict is None:
            self.refused += 1
            return
        self.counts[(event.key[0], verdict.action, verdict.types, verdict.team)] += 1
        if verdict.action == "transfer":
            self.hours[int(event.at // 3600)][verdict.team or "?"] += 1
        if self.decisions is not None:
            self.decisions.append((event.line, event.turn, decision_row(event, verdict)))

    @property
    def turns(self) -> int:
        return self.counts.total()

    @property
    def actions(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for (_, action, _, _), n in self.counts.items():
            found[action] += n
        return found

    @property
    def triggers(self) -> Counter[str]:
        """Turns on which each trigger type fired (once per turn, however many rules of it)."""
        found: Counter[str] = Counter()
        for (_, _, types, _), n in self.counts.items():
            for kind in dict.fromkeys(types):
                found[kind] += n
        return found

    @property
    def channels(self) -> dict[str, Counter[str]]:
        found: defaultdict[str, Counter[str]] = defaultdict(Counter)
        for (channel, action, _, _), n in self.counts.items():
            found[channel]["turns"] += n
            if action != "send":
                found[channel][action] += n
        return found

    @property
    def teams(self) -> dict[str, Counter[str]]:
        found: defaultdict[str, Counter[str]] = defaultdict(Counter)
        for (_, action, _, team), n in self.counts.items():
            if action != "send":
                found[team or "?"][action] += n
        return found

    def listed(self) -> list[dict[str, Any]]:
        """The decisions in input order: by conversation line, then turn."""
        return [row for _, _, row in sorted(self.decisions or (), key=lambda d: d[:2])]


def decision_row(event: TurnEvent, verdict: Verdict) -> dict[str, Any]:
    return {
        "conversation_id": event.key[1],
        "turn": event.turn,
        "action": verdict.action,
        "triggers": list(verdict.types),
    }


@dataclass
class Comparison:
    tallies: list[Tally]
    differences: list[dict[str, Any]] = field(default_factory=list)
    reproduced: dict[str, Any] | None = None  # replaying history: recorded vs replayed


def differs(a: Verdict, b: Verdict) -> bool:
    return a.action != b.action or a.rule_ids != b.rule_ids


def difference(
    event: TurnEvent, policy: Verdict | None, baseline: Verdict | None
) -> dict[str, Any]:
    """One differing turn, with the rules that fired under one policy only."""
    mine = set(policy.rule_ids) if policy else set()
    theirs = set(baseline.rule_ids) if baseline else set()
    return {
        "conversation_id": event.key[1],
        "channel": event.key[0],
        "turn": event.turn,
        "at": iso(event.at),
        "policy": verdict_json(policy),
        "baseline": verdict_json(baseline),
        "rules_added": sorted(mine - theirs),
        "rules_removed": sorted(theirs - mine),
    }


def verdict_json(verdict: Verdict | None) -> dict[str, Any] | None:
    if verdict is None:
        return None  # refused: the channel is not in this policy
    return {
        "action": verdict.action,
        "triggers": list(verdict.types),
        "rule_ids": list(verdict.rule_ids),
        "team": verdict.team,
    }


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def compare(
    results: Iterable[tuple[TurnEvent, list[Verdict | None]]],
    tallies: list[Tally],
    check_version: str | None = None,
) -> Comparison:
    """Feeds every replayed turn to the tallies; the first two lanes are policy and baseline.

    With check_version, also counts how many turns recorded under that version the first lane
    reproduces exactly (action, trigger types in order, rule ids in order)."""
    out = Comparison(tallies)
    checked = matched = 0
    mismatches: list[dict[str, Any]] = []
    for event, verdicts in results:
        for tally, verdict in zip(tallies, verdicts, strict=True):
            tally.add(event, verdict)
        if len(verdicts) > 1:
            first, second = verdicts[0], verdicts[1]
            if (first is None) != (second is None) or (first and second and differs(first, second)):
                out.differences.append(difference(event, first, second))
        if check_version is not None and event.recorded_version == check_version:
            checked += 1
            if _same(verdicts[0], event.recorded):
                matched += 1
            elif len(mismatches) < 50:
                mismatches.append(difference(event, verdicts[0], event.recorded))
    if check_version is not None:
        out.reproduced = {
            "policy_version": check_version,
            "turns": checked,
            "matching": matched,
            "mismatches": mismatches,
        }
    return out


def _same(replayed: Verdict | None, recorded: Verdict | None) -> bool:
    if replayed is None or recorded is None:
        return False
    return (replayed.action, replayed.types, replayed.rule_ids) == (
        recorded.action,
        recorded.types,
        recorded.rule_ids,
    )
