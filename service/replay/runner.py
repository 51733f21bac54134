"""Runs every turn through the live engine, in time order, against state rebuilt as it goes.

There is no second implementation of any rule here: each turn's Signals come from
service.turns.signals (as in the live intake), its Facts from state.History (as FACTS would
load them), and its decision from service.policy.engine.evaluate itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

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


@dataclass(slots=True)
class OutcomeEvent:
    key: Key
    at: float
    resolved: bool
    csat: int | None = None


Event = TurnEvent | OutcomeEvent


@dataclass
class Lane:
    """One policy's replay: the policy and the history it has built so far."""

    name: str
    policy: Policy
    history: History = field(init=False)

    def __post_init__(self) -> None:
        window = self.policy.triggers.repeat_contact.window.total_seconds()
        self.history = History(window, MAX_PRIOR_TURNS, MAX_CONTACTS)

    def decide(self, event: TurnEvent) -> engine.Decision | None:
        """None when the live service would refuse the turn (a channel the policy lacks)."""
        channel = event.key[0]
        if channel not in self.policy.channels:
            return None
        facts = self.history.facts(event.key, event.customer, event.at)
        decision = engine.evaluate(self.policy, channel, facts, event.signals)
        self.history.record(
            event.key,
            event.customer,
            event.at,
            event.signals.intent,
            decision.sentiment,
            event.topics,
        )
        return decision


def verdict(policy: Policy, decision: engine.Decision) -> Verdict:
    """The team whose people feel it: as service/turns/service.py names it for the queue."""
    team = decision.team if decision.action == "transfer" else decision.review_team
    if decision.action != "send" and team is None:
        team = policy.default_team
    return Verdict(
        decision.action,
        tuple(t.type for t in decision.triggers),
        decision.rule_ids,
        team,
    )


def replay(
    events: Iterable[Event],
    lanes: list[Lane],
    tick: Callable[[int], None] | None = None,
    every: int = 4096,
) -> Iterator[tuple[TurnEvent, list[Verdict | None]]]:
    """Yields each counted turn with one verdict per lane (None: refused by that policy)."""
    done = 0
    for event in events:
        done += 1
        if tick is not None and done % every == 0:
            tick(every)
        if isinstance(event, OutcomeEvent):
            for lane in lanes:
                lane.history.outcome(event.key, event.resolved)
            continue
        verdicts: list[Verdict | None] = []
        for lane in lanes:
            decision = lane.decide(event)
            verdicts.append(None if decision is None else verdict(lane.policy, decision))
        if event.counted:
            yield event, verdicts
    if tick is not None:
        tick(done % every)
