"""History against a plain model of the FACTS query over rows, on random traffic (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.policy.engine import Facts, PriorContact, PriorTurn
from service.replay.state import History

WINDOW = 100.0


@dataclass
class Rows:
    """The conversation and turn tables, queried the way service/turns/facts.py does."""

    conversations: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    turns: list[tuple[tuple[str, str], str | None, float, tuple[str, ...]]] = field(
        default_factory=list
    )

    def insert(
        self,
        key: tuple[str, str],
        customer: str,
        at: float,
        intent: str | None,
        topics: tuple[str, ...],
    ) -> None:
        row = self.conversations.setdefault(key, {"customer": customer, "resolved": None})
        row["last"] = at
        row["written"] = len(self.turns)  # ties in time: SQL leaves the order open; newest first
        self.turns.append((key, intent, at, topics))

    def facts(
        self, key: tuple[str, str], customer: str, now: float, max_turns: int, max_contacts: int
    ) -> Facts:
        mine = [PriorTurn(i, -0.1) for k, i, _, _ in self.turns if k == key][-max_turns:]
        row = self.conversations.get(key)
        others = sorted(
            (
                (k, r)
                for k, r in self.conversations.items()
                if r["customer"] == customer and r["last"] >= now - WINDOW and k != key
            ),
            key=lambda kr: (-kr[1]["last"], -kr[1]["written"]),
        )[:max_contacts]
        contacts = tuple(
            (
                k[1],
                tuple(sorted({i for kk, i, _, _ in self.turns if kk == k and i is not None})),
                tuple(sorted({t for kk, _, _, ts in self.turns if kk == k for t in ts})),
                r["resolved"],
            )
            for k, r in others
        )
        return Facts(tuple(mine), bool(row and row["resolved"]), contacts)  # type: ignore[arg-type]


def _plain(facts: Facts) -> Facts:
    contacts = tuple((c.conversation_id, c.intents, c.topics, c.resolved) for c in facts.contacts)
    return Facts(facts.turns, facts.resolved, contacts)  # type: ignore[arg-type]


step = st.tuples(
    st.sampled_from(["chat", "email"]),
    st.sampled_from(["c1", "c2", "c3", "c4"]),
    st.sampled_from(["ann", "bob"]),
    st.floats(min_value=0, max_value=60),  # time since the previous step
    st.sampled_from([None, "refund", "billing"]),
    st.sampled_from([(), ("x",), ("x", "y")]),
    st.sampled_from([None, None, None, True, False]),  # an outcome for this conversation first
)


@settings(max_examples=200, deadline=None)
@given(st.lists(step, max_size=40))
def test_history_gives_what_the_query_would(steps: list[Any]) -> None:
    history = History(WINDOW, max_turns=3, max_contacts=2)
    rows = Rows()
    now = 0.0
    for channel, cid, customer, gap, intent, topics, outcome in steps:
        now += gap
        key = (channel, cid)
        if outcome is not None:
            history.outcome(key, outcome)
            if key in rows.conversations:
                rows.conversations[key]["resolved"] = outcome
        expected = rows.facts(key, customer, now, 3, 2)
        got = history.facts(key, customer, now)
        assert _plain(got) == expected
        assert all(isinstance(c, PriorContact) for c in got.contacts)
        history.record(key, customer, now, intent, -0.1, topics)
        rows.insert(key, customer, now, intent, topics)
