"""What a transfer looks like from outside: GET /v1/transfers/{id} and the desk's view of it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.db import Row


@dataclass(frozen=True, slots=True)
class TransferRead:
    """What leaves the transfer repository: a transfer with its conversation, its assignee and,
    while it waits, its place in the team's queue (repository.VIEW's columns, by name)."""

    id: uuid.UUID
    conversation_id: uuid.UUID
    channel: str
    mode: str
    team: str
    reason: str
    status: str
    assigned_to: uuid.UUID | None
    summary: dict[str, Any] | None
    triggers: list[dict[str, Any]]
    passed_by: list[uuid.UUID]
    offered_at: datetime | None
    offer_expires_at: datetime | None
    resolution: str | None
    created_at: datetime
    accepted_at: datetime | None
    closed_at: datetime | None
    priority: int
    conversation_external_id: str
    customer_id: str
    assigned_email: str | None
    assigned_name: str | None
    queue_position: int | None
    estimated_wait_seconds: int | None
    team_online: int | None

    @classmethod
    def of(cls, row: Row) -> TransferRead:
        return cls(**dict(row.items()))


@dataclass(frozen=True, slots=True)
class DeskTransfer:
    """A row of the desk's Handoffs table (repository.desk_list): who, why, team, how long it
    has waited, to whom it is offered, and how many customer messages came since it began."""

    id: uuid.UUID
    mode: str
    team: str
    status: str
    reason: str
    summary: dict[str, Any] | None
    triggers: list[dict[str, Any]]
    created_at: datetime
    accepted_at: datetime | None
    channel: str
    assigned_to: uuid.UUID | None
    assigned_name: str | None
    priority: int
    customer_messages: int
    customer_id: str
    conversation_external_id: str
    waiting_seconds: float

    @classmethod
    def of(cls, row: Row) -> DeskTransfer:
        return cls(**dict(row.items()))


@dataclass(frozen=True, slots=True)
class Said:
    """One message since the transfer began (repository.messages): the customer's, with the AI's
    draft kept for the person and never sent, or the person's reply, or a holding message."""

    id: int
    at: datetime
    sender: str
    author: str | None
    text: str
    draft_text: str | None
    triggers: list[dict[str, Any]] | None


def view(row: TransferRead, messages: Sequence[Said] | None = None) -> dict[str, Any]:
    """GET /v1/transfers/{id} as the contract promises, with a little more for people."""
    return {
        "id": str(row.id),
        "mode": row.mode,
        "team": row.team,
        "status": row.status,
        "assigned_to": row.assigned_email,
        "summary": row.summary,
        "created_at": _iso(row.created_at),
        "reason": row.reason,
        "conversation_id": row.conversation_external_id,
        "customer_id": row.customer_id,
        "offer_expires_at": _iso(row.offer_expires_at),
        "accepted_at": _iso(row.accepted_at),
        "closed_at": _iso(row.closed_at),
        "resolution": row.resolution,
        "priority": row.priority,
        "queue_position": row.queue_position,
        "estimated_wait_seconds": row.estimated_wait_seconds,
        "wait_reason": (
            f"nobody of team {row.team} is online"
            if row.queue_position is not None and not row.team_online
            else None
        ),
        **({} if messages is None else conversation(messages)),
    }


def conversation(messages: Sequence[Said]) -> dict[str, Any]:
    """What was said since the transfer began: the contract's customer_messages, and the whole
    exchange (with the AI's drafts, never sent, and the signals each message raised)."""
    return {
        "customer_messages": [
            {"at": _iso(m.at), "text": m.text} for m in messages if m.sender == "customer"
        ],
        "messages": [
            {
                "at": _iso(m.at),
                "sender": m.sender,
                "author": m.author,
                "text": m.text,
                "ai_draft": m.draft_text,
                "triggers": [t.get("type") for t in m.triggers or []],
            }
            for m in messages
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
