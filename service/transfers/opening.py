"""Opening a transfer: what every path writes, decided in one place.

A transfer opens from a turn's decision (inside the decision's one statement), from a reviewer
taking a draft over, or when a review's budget runs out. Each writes the same three things: the
transfer row, its first event, and the `transfer.created` delivery. This pure function decides
them; `turns.statements` binds them as parameters of the decision's statement and
`transfers.service.create` inserts them, so that the paths cannot drift apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

URGENT = 100  # priority of a transfer with a distress signal: first in its team's queue


@dataclass(frozen=True)
class Opening:
    transfer_id: uuid.UUID
    status: str  # "created" (it waits for an offer) or "accepted" (a reviewer took it over)
    mode: str
    team: str
    reason: str
    priority: int
    actor: str  # who opened it: the first transfer_event's actor
    triggers: list[dict[str, Any]]
    summary: dict[str, Any] | None
    outbox_key: str
    announcement: dict[str, Any]  # the data of the transfer.created webhook


def priority(trigger_types: Iterable[str | None]) -> int:
    return URGENT if "distress" in trigger_types else 0


def open_transfer(
    *,
    conversation: str,
    mode: str,
    team: str,
    reason: str,
    triggers: list[dict[str, Any]],
    summary: dict[str, Any] | None,
    actor: str,
    accepted: bool = False,
) -> Opening:
    """conversation: the channel's id of it (what the webhook names); accepted: a person has it
    from the start (a reviewer taking the draft over)."""
    transfer_id = uuid.uuid4()
    types = [t.get("type") for t in triggers]
    return Opening(
        transfer_id=transfer_id,
        status="accepted" if accepted else "created",
        mode=mode,
        team=team,
        reason=reason,
        priority=priority(types),
        actor=actor,
        triggers=triggers,
        summary=summary,
        outbox_key=f"transfer.created:{transfer_id}",
        announcement={
            "transfer_id": str(transfer_id),
            "conversation_id": conversation,
            "mode": mode,
            "team": team,
            "reason": reason,
            "summary": summary,
            "triggers": types,
        },
    )
