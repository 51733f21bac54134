"""Review use-cases shared by the reviewer API, the UI and the worker: one code path for each."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from service import audit, db
from service.channels import outbox
from service.db import Connection
from service.effects import Effects
from service.errors import Conflict, Forbidden, Invalid, found
from service.policy.model import Policy
from service.reviewers.caller import Caller
from service.reviews import repository
from service.reviews.schemas import ReviewRead
from service.transfers import context
from service.transfers import package as warm
from service.transfers import service as transfers
from service.transfers.opening import open_transfer
from service.turns import facts

MAX_REPLY_CHARS = 20_000


def public_view(row: ReviewRead) -> dict[str, Any]:
    """GET /v1/reviews/{id} as promised in the contract."""
    return {
        "id": str(row.id),
        "status": row.status,
        "final_text": row.final_text,
        "outcome_by": row.outcome_by,
        "fallback": row.fallback,
        "deadline": _iso(row.deadline),
        "decided_at": _iso(row.decided_at),
    }


def reviewer_view(row: ReviewRead) -> dict[str, Any]:
    """The public view plus what a reviewer needs to judge the draft."""
    return public_view(row) | {
        "team": row.team,
        "channel": row.channel,
        "conversation_id": row.conversation_external_id,
        "customer_id": row.customer_id,
        "message": row.message,
        "draft_text": row.draft_text,
        "confidence": row.confidence,
        "intent": row.intent,
        "topics": list(row.topics or []),
        "triggers": row.triggers,
        "claimed_by": row.claimed_by_email,
        "lease_until": _iso(row.lease_until),
        "created_at": _iso(row.created_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def get_for_channel(conn: Connection, review_id: uuid.UUID, channel: str) -> ReviewRead:
    row = await _get(conn, review_id)
    if row.channel != channel:
        raise Forbidden("this review belongs to another channel")
    return row


async def get_for_reviewer(conn: Connection, review_id: uuid.UUID, caller: Caller) -> ReviewRead:
    return caller.sees(await _get(conn, review_id), "review")


async def _get(conn: Connection, review_id: uuid.UUID) -> ReviewRead:
    return found(await repository.get(conn, review_id), f"no review {review_id}")


async def _conflict(conn: Connection, review_id: uuid.UUID, action: str) -> Conflict:
    row = await _get(conn, review_id)
    if row.status == "claimed":
        why = f"it is held by {row.claimed_by_email}"
    elif row.status == "pending":
        why = "its deadline has passed"
    else:
        why = f"it has already ended ({row.status}, by {row.outcome_by or 'the system'})"
    return Conflict(f"cannot {action} this review: {why}", review=reviewer_view(row))


async def claim(
    conn: Connection, caller: Caller, review_id: uuid.UUID, lease_seconds: int
) -> tuple[ReviewRead, Effects]:
    await get_for_reviewer(conn, review_id, caller)
    if not await repository.claim(conn, review_id, caller.id, lease_seconds):
        raise await _conflict(conn, review_id, "claim")
    row = await _get(conn, review_id)
    effects = Effects()
    effects.publish("review.claimed", review_id=review_id, team=row.team, by=caller.email)
    return row, effects


async def claim_next(
    conn: Connection, caller: Caller, lease_seconds: int
) -> tuple[ReviewRead | None, Effects]:
    """One statement, for Runtime.commit_statement: a desk's busiest write, whose BEGIN and
    COMMIT round trips through SQLAlchemy tripled its tail (bench/review_queue.py)."""
    row = await repository.claim_next(conn, caller.id, caller.team_scope(), lease_seconds)
    effects = Effects()
    if row is not None:
        effects.publish("review.claimed", review_id=row.id, team=row.team, by=caller.email)
    return row, effects


async def release(
    conn: Connection, caller: Caller, review_id: uuid.UUID
) -> tuple[ReviewRead, Effects]:
    await get_for_reviewer(conn, review_id, caller)
    if not await repository.release(conn, review_id, caller.id):
        raise await _conflict(conn, review_id, "release")
    row = await _get(conn, review_id)
    effects = Effects()
    effects.publish("review.released", review_id=review_id, team=row.team)
    return row, effects


async def approve(
    conn: Connection, caller: Caller, review_id: uuid.UUID
) -> tuple[ReviewRead, Effects]:
    row = await get_for_reviewer(conn, review_id, caller)
    return await _finish(conn, caller, row, "approved", row.draft_text)


async def edit(
    conn: Connection, caller: Caller, review_id: uuid.UUID, reply: str
) -> tuple[ReviewRead, Effects]:
    if not reply.strip():
        raise Invalid("text must not be empty", field="text")
    if len(reply) > MAX_REPLY_CHARS:
        raise Invalid(f"text must be at most {MAX_REPLY_CHARS} characters", field="text")
    row = await get_for_reviewer(conn, review_id, caller)
    return await _finish(conn, caller, row, "edited", reply)


async def take_over(
    conn: Connection, caller: Caller, review_id: uuid.UUID, policy: Policy | None = None
) -> tuple[ReviewRead, Effects]:
    """The reviewer answers the customer personally: a warm transfer assigned to them.
    With the policy, the package also lists the customer's prior contacts in its window."""
    row = await get_for_reviewer(conn, review_id, caller)
    return await _finish(conn, caller, row, "taken_over", None, policy)


async def _finish(
    conn: Connection,
    caller: Caller,
    row: ReviewRead,
    status: str,
    final_text: str | None,
    policy: Policy | None = None,
) -> tuple[ReviewRead, Effects]:
    action = {"approved": "approve", "edited": "edit", "taken_over": "take over"}[status]
    if not await repository.finish_by_reviewer(conn, row.id, caller.id, status, final_text):
        raise await _conflict(conn, row.id, action)
    effects = Effects()
    if status == "taken_over":
        _, transfer_effects = await _transfer(
            conn, row, "take_over", "warm", caller.actor, caller.id, policy
        )
        effects.extend(transfer_effects)
    else:
        await _set_handler(conn, [row.conversation_id], "ai")
    await audit.record(conn, caller.actor, f"review.{status}", "review", row.id)
    done = await _get(conn, row.id)
    effects.extend(await _completed(conn, [done], who=caller.email))
    return done, effects


async def expire(conn: Connection, review_id: uuid.UUID, policy: Policy) -> tuple[bool, Effects]:
    """Applies the channel's on_timeout once the budget is spent; (False, nothing) if it was not
    due or already finished."""
    row = await repository.get(conn, review_id)
    if row is None:
        return False, Effects()
    channel = policy.channels.get(row.channel)
    fallback = (channel.on_timeout if channel else None) or "transfer"
    final_text = {
        "send_draft": row.draft_text,
        "holding_message": channel.holding_message if channel else None,
        "transfer": None,
    }[fallback]
    if not await repository.expire(conn, review_id, fallback, final_text):
        return False, Effects()
    effects = Effects()
    if fallback == "transfer":
        mode = "warm" if row.triggers else "cold"
        _, transfer_effects = await _transfer(conn, row, "timeout", mode, "worker", None, policy)
        effects.extend(transfer_effects)
    else:
        await _set_handler(conn, [row.conversation_id], "ai")
    await audit.record(conn, "worker", "review.expired", "review", review_id, fallback=fallback)
    done = await _get(conn, review_id)
    effects.extend(await _completed(conn, [done], who=None))
    return True, effects


def batch_plans(policy: Policy) -> dict[str, tuple[str, str | None]]:
    """The channels whose budget's expiry only sends a text, with that fallback and text: their
    reviews are ended in batches (expire_due); a transfer is built one by one (expire)."""
    return {
        name: (channel.on_timeout, channel.holding_message)
        for name, channel in policy.channels.items()
        if channel.on_timeout in ("send_draft", "holding_message")
    }


async def expire_due(
    conn: Connection, policy: Policy, limit: int
) -> tuple[list[uuid.UUID], Effects]:
    """Overdue reviews whose fallback only sends a text (the draft or a holding message), up to
    `limit`, ended together (their ids are returned): a statement each for the reviews, their conversations, the audit
    rows and the deliveries, however many there are. Transfers are built one by one (`expire`):
    each warm package reads its own conversation."""
    ended = await repository.expire_due(conn, batch_plans(policy), limit)
    if not ended:
        return [], Effects()
    await _set_handler(conn, [conversation for _, conversation in ended], "ai")
    rows = await repository.get_many(conn, [review for review, _ in ended])
    await audit.record_many(
        conn, "worker", "review.expired", "review", [(r.id, {"fallback": r.fallback}) for r in rows]
    )
    return [r.id for r in rows], await _completed(conn, rows, who=None)


async def _completed(conn: Connection, rows: Sequence[ReviewRead], who: str | None) -> Effects:
    effects = Effects()
    events = [
        outbox.Event(
            channel=row.channel,
            event_type="review.completed",
            dedupe_key=f"review.completed:{row.id}",
            data=public_view(row)
            | {
                "review_id": str(row.id),
                "conversation_id": row.conversation_external_id,
                "outcome": row.status,
                "by": who,
            },
        )
        for row in rows
    ]
    effects.deliver(*await outbox.add_many(conn, events))
    for row in rows:
        effects.publish("review.completed", review_id=row.id, team=row.team, status=row.status)
    return effects


async def _transfer(
    conn: Connection,
    row: ReviewRead,
    reason: str,
    mode: str,
    actor: str,
    assigned_to: uuid.UUID | None,
    policy: Policy | None = None,
) -> tuple[uuid.UUID, Effects]:
    """The review's conversation goes to a person of the review's team: the reviewer taking it
    over (assigned_to), or whoever is offered it once the budget ran out."""
    opening = open_transfer(
        conversation=row.conversation_external_id,
        mode=mode,
        team=row.team,
        reason=reason,
        triggers=row.triggers,
        summary=await _warm_package(conn, row, policy) if mode == "warm" else None,
        actor=actor,
        accepted=assigned_to is not None,
    )
    return await transfers.create(
        conn,
        opening,
        conversation_id=row.conversation_id,
        channel=row.channel,
        turn_id=row.turn_id,
        review_id=row.id,
        assigned_to=assigned_to,
    )


async def _warm_package(conn: Connection, row: ReviewRead, policy: Policy | None) -> dict[str, Any]:
    """The same package as a hard-trigger transfer: transcript, prior contacts, why, what the AI
    drafted; from one facts query, as for a turn (its transcript holds the review's turn)."""
    loaded = await facts.load(
        conn,
        channel=row.channel,
        conversation=row.conversation_external_id,
        customer=row.customer_id,
        repeat_window=policy.triggers.repeat_contact.window if policy else timedelta(0),
    )
    situation = context.assemble(
        loaded.transcript,
        customer_id=row.customer_id,
        triggers=row.triggers,
        topics=row.topics or [],
        contacts=loaded.facts.contacts,
        locale=row.locale,
        tier=warm.tier_of(row.metadata),
    )
    return warm.build(situation)


async def _set_handler(conn: Connection, conversation_ids: list[uuid.UUID], handler: str) -> None:
    """The review is over: its conversations pass on (unless something else took them since)."""
    await db.execute(
        conn,
        "UPDATE conversation SET handled_by = :h "
        "WHERE id = ANY(CAST(:ids AS uuid[])) AND handled_by = 'review'",
        {"h": handler, "ids": conversation_ids},
    )
