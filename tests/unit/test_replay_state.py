"""Rebuilt state gives the facts the live FACTS query would load, turn by turn."""

from __future__ import annotations

import pytest
from replay_helpers import POLICY, conversation, decided, run, turn, variant

from service.policy.engine import PriorTurn
from service.replay.state import History

HOUR = 3600.0


def history(window_hours: float = 72) -> History:
    return History(window_hours * HOUR, max_turns=50, max_contacts=20)


def test_a_new_conversation_has_no_facts() -> None:
    facts = history().facts(("email", "c1"), "ann", 0.0)
    assert facts.turns == () and facts.resolved is False and facts.contacts == ()


def test_prior_turns_are_the_last_fifty_oldest_first() -> None:
    h = history()
    for i in range(60):
        h.record(("chat", "c1"), "ann", float(i), f"i{i}", -0.1, ())
    turns = h.facts(("chat", "c1"), "ann", 61.0).turns
    assert len(turns) == 50
    assert turns[0] == PriorTurn("i10", -0.1) and turns[-1].intent == "i59"


@pytest.mark.parametrize(
    ("gap_hours", "resolved", "customer", "found"),
    [
        (1, None, "ann", True),  # no outcome counts as not resolved
        (71.9, False, "ann", True),
        (72, None, "ann", True),  # last_turn_at >= now() - window: the edge is inside
        (72.1, None, "ann", False),
        (1, True, "ann", True),  # still loaded; the engine skips resolved contacts
        (1, None, "bob", False),  # another customer's conversation
    ],
)
def test_other_conversations_within_the_window_are_contacts(
    gap_hours: float, resolved: bool | None, customer: str, found: bool
) -> None:
    h = history()
    h.record(("email", "old"), "ann", 0.0, "refund", 0.0, ("billing",))
    if resolved is not None:
        h.outcome(("email", "old"), resolved)
    contacts = h.facts(("chat", "new"), customer, gap_hours * HOUR).contacts
    assert bool(contacts) is found
    if found:
        (contact,) = contacts
        assert contact.conversation_id == "old" and contact.resolved is resolved
        assert contact.intents == ("refund",) and contact.topics == ("billing",)


def test_contacts_are_the_twenty_most_recent_and_never_the_conversation_itself() -> None:
    h = history()
    for i in range(30):
        h.record(("email", f"c{i}"), "ann", float(i), "refund", 0.0, ())
    contacts = h.facts(("email", "c29"), "ann", 100.0).contacts
    assert [c.conversation_id for c in contacts] == [f"c{i}" for i in range(28, 8, -1)]


def test_a_conversation_belongs_to_the_customer_of_its_first_turn() -> None:
    h = history()
    h.record(("email", "c1"), "ann", 0.0, "refund", 0.0, ())
    h.record(("email", "c1"), "bob", 1.0, "refund", 0.0, ())
    assert h.facts(("chat", "c2"), "bob", 2.0).contacts == ()
    assert [c.conversation_id for c in h.facts(("chat", "c2"), "ann", 2.0).contacts] == ["c1"]


def test_the_same_id_on_two_channels_is_two_conversations() -> None:
    h = history()
    h.record(("email", "c1"), "ann", 0.0, "refund", 0.0, ())
    facts = h.facts(("chat", "c1"), "ann", 1.0)
    assert facts.turns == () and [c.conversation_id for c in facts.contacts] == ["c1"]


def test_an_outcome_for_an_unknown_conversation_changes_nothing() -> None:
    h = history()
    h.outcome(("email", "nope"), True)
    assert h.conversations == {}


def test_resolved_switches_the_conversations_own_loop_off() -> None:
    h = history()
    for i in range(2):
        h.record(("email", "c1"), "ann", float(i), "refund", 0.0, ())
    h.outcome(("email", "c1"), True)
    assert h.facts(("email", "c1"), "ann", 3.0).resolved is True


# Whole conversations through the engine: the rules that read state fire as they would live.
CASES = [
    (
        "third same intent is a loop",
        [conversation("c1", turn(), turn(minutes=1), turn(minutes=2))],
        [("c1", 0, "send", []), ("c1", 1, "send", []), ("c1", 2, "transfer", ["loop"])],
    ),
    (
        "two negative messages in three are a sentiment run",
        [
            conversation(
                "c1",
                turn(sentiment=-0.8),
                turn(sentiment=0.1, minutes=1, intent="a"),
                turn(sentiment=-0.7, minutes=2, intent="b"),
            )
        ],
        [("c1", 0, "send", []), ("c1", 1, "send", []), ("c1", 2, "transfer", ["sentiment"])],
    ),
    (
        "coming back about the same intent is a repeat contact",
        [conversation("c1", turn()), conversation("c2", turn(minutes=60), channel="chat")],
        [("c1", 0, "send", []), ("c2", 0, "transfer", ["repeat_contact"])],
    ),
    (
        "not after the window",
        [conversation("c1", turn()), conversation("c2", turn(minutes=73 * 60))],
        [("c1", 0, "send", []), ("c2", 0, "send", [])],
    ),
    (
        "not when the first conversation ended resolved",
        [
            conversation("c1", turn(), outcome={"resolved": True, "csat": 5}),
            conversation("c2", turn(minutes=60)),
        ],
        [("c1", 0, "send", []), ("c2", 0, "send", [])],
    ),
    (
        "an unresolved outcome keeps it on",
        [
            conversation("c1", turn(), outcome={"resolved": False, "csat": 2}),
            conversation("c2", turn(minutes=60)),
        ],
        [("c1", 0, "send", []), ("c2", 0, "transfer", ["repeat_contact"])],
    ),
    (
        "time order across lines, not file order",
        [conversation("c2", turn(minutes=60)), conversation("c1", turn())],
        [("c2", 0, "transfer", ["repeat_contact"]), ("c1", 0, "send", [])],
    ),
    (
        "a clock stepping back keeps the conversation's own order",
        [
            conversation(
                "c1",
                turn(intent="a", minutes=10),
                turn(intent="a", minutes=5),
                turn(intent="a", minutes=1),
            )
        ],
        [("c1", 0, "send", []), ("c1", 1, "send", []), ("c1", 2, "transfer", ["loop"])],
    ),
    (
        "a topic the channel sent makes a repeat contact",
        [
            conversation("c1", turn(intent=None, topics=["Billing"])),
            conversation("c2", turn(intent=None, topics=["billing"], minutes=5)),
        ],
        [("c1", 0, "send", []), ("c2", 0, "transfer", ["repeat_contact"])],
    ),
    (
        "low confidence: review on async, transfer on sync",
        [
            conversation("c1", turn(confidence=0.5)),
            conversation("c2", turn(confidence=0.5, intent="x"), channel="chat", customer="bob"),
        ],
        [("c1", 0, "review", ["confidence"]), ("c2", 0, "transfer", ["confidence"])],
    ),
]


@pytest.mark.parametrize(("name", "conversations", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rules_that_read_state(name: str, conversations: list, expected: list) -> None:
    assert decided(run(conversations)) == expected


def test_a_turn_on_a_channel_the_policy_lacks_is_refused_and_leaves_no_state() -> None:
    narrow = variant("  chat: { mode: sync }\n", "")
    convs = [conversation("c1", turn(), channel="chat"), conversation("c2", turn(minutes=5))]
    result = run(convs, narrow, POLICY)
    assert result["policies"]["policy"]["refused"] == 1
    assert decided(result) == [("c2", 0, "send", [])]
    assert decided(result, "baseline") == [
        ("c1", 0, "send", []),
        ("c2", 0, "transfer", ["repeat_contact"]),
    ]
