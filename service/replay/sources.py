"""Reads a replay file (CONTRACT section 3) into events in the order the service would see them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from service.replay.runner import Event, OutcomeEvent, TurnEvent
from service.replay.schemas import DECODER, ReplayConversation
from service.turns.signals import signals_for


class InputError(Exception):
    """The file cannot be replayed; the message names the file, line and field."""


def epoch(at: datetime) -> float:
    # A time without an offset is taken as UTC rather than the machine's local zone.
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).timestamp()


def read_file(path: str | Path, tick: Callable[[int], None] | None = None) -> list[Event]:
    """Every turn and outcome of the file, in time order; tick(bytes) reports progress."""
    events: list[Event] = []
    done = 0
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            done += len(line)
            if tick is not None and number % 4096 == 0:
                tick(done)
                done = 0
            if not line.strip():
                continue
            try:
                conversation = DECODER.decode(line)
            except msgspec.ValidationError as err:
                raise InputError(f"{path}:{number}: {err}") from None
            except msgspec.DecodeError as err:
                raise InputError(
                    f"{path}:{number}: not a JSON object on one line ({err})"
                ) from None
            events.extend(conversation_events(conversation, number))
    if tick is not None:
        tick(done)
    return sort_events(events)


def conversation_events(conversation: ReplayConversation, line: int) -> list[Event]:
    """Its turns, then its outcome just after the last turn (when the channel would record it)."""
    key = (conversation.channel, conversation.conversation_id)
    customer = conversation.customer_id
    events: list[Event] = []
    at = float("-inf")
    for index, turn in enumerate(conversation.turns):
        # A clock that steps back inside a conversation must not reorder its turns.
        at = max(at, epoch(turn.at))
        draft = turn.draft
        signals = signals_for(
            message=turn.message,
            draft_text=draft.text,
            confidence=draft.confidence,
            intent=draft.intent,
            topics=turn.topics,
            sentiment=turn.sentiment,
            locale=turn.locale,
            metadata=turn.metadata,
        )
        events.append(TurnEvent(key, customer, at, line, index, signals, signals.topics))
    if conversation.outcome is not None and events:
        events.append(
            OutcomeEvent(key, at, conversation.outcome.resolved, conversation.outcome.csat)
        )
    return events


def sort_events(events: list[Event]) -> list[Event]:
    """Time order; at the same instant, file order (an outcome follows its conversation's turn,
    which was appended before it, because the sort is stable)."""
    events.sort(key=lambda e: e.at)
    return events
