"""Runs every turn through the live engine, in time order, against state rebuilt as it goes.

There is no second implementation of any rule here: each turn's Signals come from
service.turns.signals (as in the live intake), its Facts from state.History (as FACTS would
load them), and its decision from service.policy.engine.evaluate itself.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from service.detection.reading import Reading
from service.policy import engine
from service.policy.model import Policy
from service.replay.state import History, Key
from service.turns.facts import MAX_CONTACTS, MAX_PRIOR_TURNS


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision reduced to what the comparison reads; also how a recorded one is read back."""

    action: str
    types: tuple[str, ...]
    rule_ids: tuple[str, ...]
    team: str | None


@dataclass(slots=True)
class TurnEvent:
    key: Key  # (channel, conversation id)
    customer: str
    at: float  # epoch seconds
    line: int  # input line (file) or ordinal (database): decisions are listed in this order
    turn: int  # index of the turn within its conversation
    signals: engine.Signals
    topics: tuple[str, ...]  # as the channel sent them: what the turn row stores
    recorded: Verdict | None = None  # the decision the service made, when replaying history
    recorded_version: str | None = None
    counted: bool = True  # False: it only builds state (before --since, or another channel)
    stored: Reading | None = None  # what the live detector read, for a recorded turn
    # One per lane (service/replay/readings.py); None: the rules alone read the message.
    readings: tuple[Reading | None, ...] | None = None


@dataclass(slots=True)
class OutcomeEvent:
    key: Key
    at: float
    resolved: bool
    csat: int | None = None


Event = TurnEvent | OutcomeEvent


@dataclass(frozen=True)
class Lane:
    """One policy to replay, under the name the report gives it."""

    name: str
    policy: Policy


@dataclass
class _Group:
    """Lanes whose facts are always the same (same repeat-contact window, same channels) share
    one history: the state is built once per turn, however many policies are compared."""

    history: History
    channels: frozenset[str]
    members: list[tuple[int, Policy]]


def _groups(lanes: list[Lane]) -> list[_Group]:
    groups: dict[tuple[float, frozenset[str]], _Group] = {}
    for index, lane in enumerate(lanes):
        window = lane.policy.triggers.repeat_contact.window.total_seconds()
        channels = frozenset(lane.policy.channels)
        group = groups.get((window, channels))
        if group is None:
            history = History(window, MAX_PRIOR_TURNS, MAX_CONTACTS)
            group = groups[(window, channels)] = _Group(history, channels, [])
        group.members.append((index, lane.policy))
    return list(groups.values())


_SEND = Verdict("send", (), (), None)


def verdict(policy: Policy, decision: engine.Decision) -> Verdict:
    """The decision as the comparison reads it; the team is the one service/turns/service.py
    gives the review queue or the transfer (the people who will feel it)."""
    if decision.action == "send":
        return _SEND
    team = decision.team if decision.action == "transfer" else decision.review_team
    return Verdict(
        decision.action,
        tuple(t.type for t in decision.triggers),
        decision.rule_ids,
        team or policy.default_team,
    )


def _decide(groups: list[_Group], event: TurnEvent, verdicts: list[Verdict | None]) -> None:
    """Each policy's verdict on the turn, then the turn recorded as the service would store it.

    A turn on a channel a policy lacks is refused (400) by the service: no verdict, no state."""
    channel = event.key[0]
    signals = event.signals
    for group in groups:
        if channel not in group.channels:
            continue
        history = group.history
        facts = history.facts(event.key, event.customer, event.at)
        for index, policy in group.members:
            read = signals
            if event.readings is not None:
                read = dataclasses.replace(signals, reading=event.readings[index])
            decision = engine.evaluate(policy, channel, facts, read)
            verdicts[index] = verdict(policy, decision)
        # The stored score is policy-independent: the channel's, or the detector's.
        history.record(
            event.key, event.customer, event.at, signals.intent, decision.sentiment, event.topics
        )


def replay(
    events: Iterable[Event],
    lanes: list[Lane],
    tick: Callable[[int], None] | None = None,
    every: int = 4096,
) -> Iterator[tuple[TurnEvent, list[Verdict | None]]]:
    """Yields each counted turn with one verdict per lane (None: refused by that policy);
    tick(n) reports every n turns done."""
    groups = _groups(lanes)
    done = 0
    for event in events:
        if isinstance(event, OutcomeEvent):
            for group in groups:
                group.history.outcome(event.key, event.resolved)
            continue
        done += 1
        if tick is not None and done % every == 0:
            tick(every)
        verdicts: list[Verdict | None] = [None] * len(lanes)
        _decide(groups, event, verdicts)
        if event.counted:
            yield event, verdicts
    if tick is not None:
        tick(done % every)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Replaying holds millions of long-lived objects (events, state) and makes almost no
    reference cycles (5 in 200,000 turns): the cyclic collector would only keep re-walking them,
    about a tenth of the run. Plain reference counting still frees everything else."""
    gc.freeze()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.unfreeze()
