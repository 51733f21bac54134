"""What a review page shows: the item, its conversation, and who may act on it now."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.db import Connection
from service.reviewers import repository as people
from service.reviewers.caller import Caller
from service.reviews import repository
from service.reviews.schemas import ReviewRead
from service.turns import repository as conversations
from ui.pages import QUEUE_ROWS

OUTCOME_WORDS = {
    "approved": "Approved",
    "edited": "Sent edited",
    "taken_over": "Taken over",
    "expired": "Timed out",
    "superseded": "Superseded by a newer message",
}
FALLBACK_WORDS = {
    "send_draft": "the draft was sent as it was",
    "transfer": "the conversation went to a person",
    "holding_message": "a holding message was sent",
}


@dataclass(frozen=True)
class Situation:
    """Whether this person may act now, and a sentence saying why (not)."""

    can_act: bool
    mine: bool
    tone: str  # ok | warn | done: the banner's colour
    text: str


def situation(
    row: ReviewRead, me: Caller, decider: str | None, now: datetime | None = None
) -> Situation:
    now = now or datetime.now(UTC)
    if row.status not in ("pending", "claimed"):
        who = decider or ("the deadline" if row.outcome_by == "timeout" else "the system")
        text = (
            f"{OUTCOME_WORDS.get(row.status, row.status)} by {who} at {row.decided_at:%H:%M:%S} UTC"
        )
        if row.fallback:
            text += f": {FALLBACK_WORDS.get(row.fallback, row.fallback)}"
        return Situation(False, False, "done", text + ".")
    if row.deadline <= now:
        return Situation(
            False,
            False,
            "done",
            "The deadline has passed; the channel's fallback is being applied.",
        )
    lapsed = row.lease_until is not None and row.lease_until < now
    if row.status == "claimed" and row.claimed_by == me.id and not lapsed:
        return Situation(
            True,
            True,
            "ok",
            f"You hold this item until {row.lease_until:%H:%M:%S} "
            "UTC; the hold is renewed while this page is open.",
        )
    if row.status == "claimed" and not lapsed:
        holder = row.claimed_by_name or row.claimed_by_email
        return Situation(
            False,
            False,
            "warn",
            f"Held by {holder} ({row.claimed_by_email}) since "
            "they opened it. You can read it, but not act on it.",
        )
    return Situation(
        True,
        False,
        "warn",
        "Nobody holds this item right now: your hold lapsed or "
        "was released. Acting on it still works if nobody else takes it first.",
    )


async def load(conn: Connection, review_id: uuid.UUID, me: Caller) -> dict[str, Any] | None:
    row = await repository.get(conn, review_id)
    if row is None:
        return None
    decider = await people.name_of(conn, row.decided_by)
    return {
        "review": row,
        "state": situation(row, me, decider),
        "history": await conversations.history(conn, row.turn_id),
        "contacts": await conversations.prior_contacts(conn, row.customer_id, row.conversation_id),
        "triggers": list(row.triggers or []),
    }


def _place(row: ReviewRead) -> tuple[Any, ...]:
    """Where an item stands in the queue: earliest deadline first, then priority, then age."""
    return (row.deadline, -row.priority, row.created_at)


async def neighbour(conn: Connection, row: ReviewRead, me: Caller, step: int) -> uuid.UUID | None:
    """The open item after (step 1) or before (step -1) this one in the queue as it is now.

    The item itself may have ended or moved meanwhile: its neighbours are then the open items
    on either side of where it would stand.
    """
    order = await repository.list_open(conn, me.team_scope(), limit=QUEUE_ROWS)
    ids = [r.id for r in order]
    if row.id in ids:
        at = ids.index(row.id) + step
    else:
        before = sum(1 for r in order if _place(r) < _place(row))
        at = before if step > 0 else before - 1
    return ids[at] if 0 <= at < len(ids) else None
