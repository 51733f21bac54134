"""Conversation and customer state rebuilt turn by turn: the facts the live service would load.

Mirrors service/turns/facts.py (FACTS): a conversation's last prior turns oldest first, its
resolved flag, and the customer's OTHER conversations whose last turn lies within the
repeat-contact window, newest first, with their distinct intents and topics. Pure: times are
epoch seconds handed in by the caller, and nothing here reads a clock, a file or a database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from service.policy.engine import Facts, PriorContact, PriorTurn

Key = tuple[str, str]  # (channel, conversation id): how the live service names a conversation

_EMPTY = Facts()


class Conversation:
    """What the conversation row and its turn rows hold, as far as the policy can see."""

    __slots__ = ("_contact", "customer", "intents", "key", "last_at", "resolved", "topics", "turns")

    def __init__(self, key: Key, customer: str) -> None:
        self.key = key
        # The row keeps the customer of its first turn (the live INSERT ... ON CONFLICT never
        # updates it), so a conversation belongs to that customer for repeat contacts.
        self.customer = customer
        self.turns: tuple[PriorTurn, ...] = ()
        self.resolved: bool | None = None
        self.last_at = 0.0
        self.intents: set[str] = set()
        self.topics: set[str] = set()
        self._contact: PriorContact | None = None

    def contact(self) -> PriorContact:
        """This conversation as another one of the customer's sees it; rebuilt only on change."""
        if self._contact is None:
            self._contact = PriorContact(
                conversation_id=self.key[1],
                # Postgres' array_agg(DISTINCT ...) hands them back sorted.
                intents=tuple(sorted(self.intents)),
                topics=tuple(sorted(self.topics)),
                resolved=self.resolved,
                last_at=datetime.fromtimestamp(self.last_at, UTC),
            )
        return self._contact


class History:
    """Every conversation seen so far, by key and by owning customer (most recent last)."""

    def __init__(self, window_seconds: float, max_turns: int, max_contacts: int) -> None:
        self.window = window_seconds
        self.max_turns = max_turns
        self.max_contacts = max_contacts
        self.conversations: dict[Key, Conversation] = {}
        # Per customer, conversations in order of their last turn: the newest is last, because
        # turns are replayed in time order and each one moves its conversation to the end.
        self.customers: dict[str, dict[Key, Conversation]] = {}

    def facts(self, key: Key, customer: str, now: float) -> Facts:
        """What FACTS would return just before the turn at `now` is recorded."""
        conv = self.conversations.get(key)
        contacts = self._contacts(key, customer, now)
        if conv is None:
            return Facts(contacts=contacts) if contacts else _EMPTY
        return Facts(turns=conv.turns, resolved=bool(conv.resolved), contacts=contacts)

    def _contacts(self, key: Key, customer: str, now: float) -> tuple[PriorContact, ...]:
        mine = self.customers.get(customer)
        if not mine or (len(mine) == 1 and key in mine):
            return ()
        cutoff = now - self.window
        found: list[PriorContact] = []
        for other in reversed(mine.values()):
            if other.last_at < cutoff:
                break  # older ones are older still
            if other.key != key:
                found.append(other.contact())
                if len(found) == self.max_contacts:
                    break
        return tuple(found)

    def record(
        self,
        key: Key,
        customer: str,
        now: float,
        intent: str | None,
        sentiment: float | None,
        topics: Sequence[str],
    ) -> None:
        """The turn as stored: its intent, the sentiment score the decision used, its topics."""
        conv = self.conversations.get(key)
        if conv is None:
            conv = self.conversations[key] = Conversation(key, customer)
        owned = self.customers.get(conv.customer)
        if owned is None:
            owned = self.customers[conv.customer] = {}
        else:
            owned.pop(key, None)
        owned[key] = conv
        turns = (*conv.turns, PriorTurn(intent, sentiment))
        conv.turns = turns if len(turns) <= self.max_turns else turns[-self.max_turns :]
        conv.last_at = now
        if intent is not None:
            conv.intents.add(intent)
        if topics:
            conv.topics.update(topics)
        conv._contact = None

    def outcome(self, key: Key, resolved: bool) -> None:
        """POST /v1/conversations/{id}/outcome: only a conversation that exists is updated."""
        conv = self.conversations.get(key)
        if conv is not None:
            conv.resolved = resolved
            conv._contact = None
