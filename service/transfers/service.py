"""Transfer use-cases: open one, and what people do with it: accept, reply, close (hand back),
cancel. Offers to agents are in offers.py, the views in schemas.py."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from service import db
from service.channels import outbox
from service.db import Connection, Row
from service.effects import Effects
from service.errors import Conflict, Forbidden, Invalid, KeyReused, found
from service.reviewers.caller import Caller
from service.transfers import handback, repository
from service.transfers.opening import Opening
from service.transfers.schemas import TransferRead, view

# Who may end a transfer someone accepted besides its assignee (recorded as such).
OVERSEERS = ("supervisor", "admin")


async def create(
    conn: Connection,
    opening: Opening,
    *,
    conversation_id: uuid.UUID,
    channel: str,
    turn_id: uuid.UUID | None = None,
    review_id: uuid.UUID | None = None,
    assigned_to: uuid.UUID | None = None,
) -> tuple[uuid.UUID, Effects]:
    """Writes what `opening` decided (the decision's statement writes the same for a turn). A
    reviewer taking over gets the transfer accepted at once; otherwise it waits for an offer.
    A conversation has one person at a time: if it already has an open transfer, 409."""
    try:
        async with conn.transaction():
            await _insert(
                conn,
                {
                    "id": opening.transfer_id,
                    "conv": conversation_id,
                    "turn": turn_id,
                    "review": review_id,
                    "channel": channel,
                    "mode": opening.mode,
                    "team": opening.team,
                    "reason": opening.reason,
                    "status": opening.status,
                    "who": assigned_to,
                    "summary": json.dumps(opening.summary) if opening.summary is not None else None,
                    "triggers": json.dumps(opening.triggers),
                    "priority": opening.priority,
                },
            )
    except asyncpg.IntegrityConstraintViolationError as exc:
        if getattr(exc, "constraint_name", None) != "transfer_one_open_per_conversation":
            raise
        raise Conflict("a person already has this conversation (it has an open transfer)") from exc
    if assigned_to:
        try:
            async with conn.transaction():
                await repository.change_load(conn, assigned_to, +1)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise Conflict("you are at your capacity of open transfers; close one first") from exc
    transfer_id = opening.transfer_id
    await repository.record(conn, transfer_id, opening.actor, opening.status, reason=opening.reason)
    await _set_handler(conn, conversation_id, "human")
    effects = Effects()
    effects.deliver(
        await outbox.add(
            conn,
            channel=channel,
            event_type="transfer.created",
            dedupe_key=opening.outbox_key,
            data=opening.announcement,
        )
    )
    if not assigned_to:
        effects.assignments.append(transfer_id)
    effects.publish("transfer.created", transfer_id=transfer_id, team=opening.team)
    return transfer_id, effects


async def _insert(conn: Connection, values: dict[str, Any]) -> None:
    await db.execute(
        conn,
        "INSERT INTO transfer (id, conversation_id, turn_id, review_id, channel, mode, team, "
        "reason, status, assigned_to, summary, triggers, accepted_at, priority) VALUES "
        "(:id, :conv, :turn, :review, :channel, :mode, :team, :reason, :status, "
        "CAST(:who AS uuid), CAST(:summary AS jsonb), CAST(:triggers AS jsonb), "
        "CASE WHEN CAST(:who AS uuid) IS NULL THEN NULL ELSE now() END, :priority)",
        values,
    )


async def accept(
    conn: Connection, caller: Caller, transfer_id: uuid.UUID
) -> tuple[TransferRead, Effects]:
    row = await get_for_reviewer(conn, transfer_id, caller)
    try:
        async with conn.transaction():
            changed = await repository.accept(conn, transfer_id, caller.id)
            if changed is not None and changed.was in ("created", "queued"):
                await repository.change_load(conn, caller.id, +1)
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise Conflict("you are at your capacity of open transfers; close one first") from exc
    if changed is None:
        raise await _conflict(conn, transfer_id, "accept")
    await repository.record(conn, transfer_id, caller.actor, "accepted")
    effects = await announce(
        conn,
        row.channel,
        "transfer.accepted",
        transfer_id,
        {"agent": caller.email, "team": row.team},
    )
    done = await repository.get(conn, transfer_id)
    assert done is not None
    return done, effects


async def close(
    conn: Connection,
    transfer_id: uuid.UUID,
    resolution: str,
    *,
    caller: Caller | None = None,
    channel: str | None = None,
    note: str | None = None,
) -> tuple[TransferRead, Effects]:
    """Hand back: the conversation returns to the AI and the channel hears how it ended and
    what the person did (the note, or one made from the transcript), so the AI resumes with
    context. Only the person who has it, or a supervisor or admin (recorded), may close it."""
    if caller is None:
        raise Forbidden(
            "a channel cannot close a transfer: the person who accepted it closes it; "
            "cancel it (POST /v1/transfers/{id}/cancel) when the customer leaves"
        )
    row = await get_for_reviewer(conn, transfer_id, caller)
    _may_end(row, caller, "close")
    resolution = resolution.strip()
    if not resolution:
        raise Invalid("resolution must not be empty", field="resolution")
    ended = await repository.end(conn, transfer_id, "closed", ["accepted"], resolution)
    if ended is None:
        raise await _conflict(conn, transfer_id, "close")
    said = await repository.messages(conn, transfer_id)
    what = handback.note(
        person=row.assigned_name or row.assigned_email,
        customer_messages=sum(1 for m in said if m.sender == "customer"),
        replies=[m.text for m in said if m.sender == "person"],
        resolution=resolution,
        given=note,
    )
    return await _ended(conn, row, ended, "closed", caller, channel, resolution, what)


async def cancel(
    conn: Connection,
    transfer_id: uuid.UUID,
    *,
    caller: Caller | None = None,
    channel: str | None = None,
    reason: str = "cancelled",
) -> tuple[TransferRead, Effects]:
    """The customer left (the channel says so), or the team withdraws a transfer nobody has
    accepted: the conversation ends for the person and returns to the AI."""
    row = await _authorised(conn, transfer_id, caller, channel)
    if caller is not None:
        _may_end(row, caller, "cancel")
    ended = await repository.end(conn, transfer_id, "cancelled", list(repository.OPEN), reason)
    if ended is None:
        raise await _conflict(conn, transfer_id, "cancel")
    return await _ended(conn, row, ended, "cancelled", caller, channel, reason, None)


def _may_end(row: TransferRead, caller: Caller, action: str) -> None:
    """An accepted transfer is its person's: only they, or a supervisor or admin, end it."""
    if row.status != "accepted" or row.assigned_to == caller.id or caller.role in OVERSEERS:
        return
    raise Forbidden(
        f"only {row.assigned_email} (who accepted it), a supervisor or an admin can {action} "
        "this transfer"
    )


async def reply(
    conn: Connection,
    caller: Caller,
    transfer_id: uuid.UUID,
    text_: str,
    idempotency_key: str | None = None,
) -> tuple[Row, Effects]:
    """The person's message to the customer: stored with the transfer and sent to the channel
    as a signed `transfer.message` webhook (through the outbox, like every event). Retried with
    the same Idempotency-Key it is sent once; the key with another text is refused (422)."""
    row = await get_for_reviewer(conn, transfer_id, caller)
    text_ = text_.strip()
    if not text_:
        raise Invalid("text must not be empty", field="text")
    if row.status != "accepted":
        raise Conflict(
            f"accept this transfer before replying: it is {row.status}", transfer=view(row)
        )
    if row.assigned_to != caller.id:
        raise Forbidden(f"only {row.assigned_email}, who accepted this transfer, can reply")
    message, new = await repository.add_reply(
        conn, transfer_id, caller.email, text_, idempotency_key
    )
    if not new:
        if message.text != text_:
            raise KeyReused(
                f"Idempotency-Key {idempotency_key!r} already sent another reply; "
                "use a new key for a new message",
                field="Idempotency-Key",
            )
        return message, Effects()
    effects = await announce(
        conn,
        row.channel,
        "transfer.message",
        transfer_id,
        {
            "message_id": message.id,
            "text": text_,
            "agent": caller.email,
            "team": row.team,
            "at": message.at.isoformat(),
        },
        dedupe=f"transfer.message:{transfer_id}:{message.id}",
    )
    return message, effects


async def _ended(
    conn: Connection,
    row: TransferRead,
    ended: Row,
    status: str,
    caller: Caller | None,
    channel: str | None,
    resolution: str,
    note: str | None,
) -> tuple[TransferRead, Effects]:
    if ended.holder is not None:
        await repository.change_load(conn, ended.holder, -1)
    actor = caller.actor if caller else f"channel:{channel}"
    overseen = caller is not None and row.assigned_to not in (None, caller.id)
    await repository.record(
        conn, row.id, actor, status, resolution=resolution, note=note, overseer=overseen
    )
    await _set_handler(conn, row.conversation_id, "ai")
    effects = Effects()
    if status == "closed":
        effects = await announce(
            conn,
            row.channel,
            "transfer.closed",
            row.id,
            {
                "resolution": resolution,
                "note": note,
                "team": row.team,
                "agent": row.assigned_email,
                "closed_by": caller.email if caller else None,
            },
        )
    effects.publish(f"transfer.{status}", transfer_id=row.id, team=row.team)
    done = await repository.get(conn, row.id)
    assert done is not None
    return done, effects


async def get_for_reviewer(
    conn: Connection, transfer_id: uuid.UUID, caller: Caller
) -> TransferRead:
    return caller.sees(await _get(conn, transfer_id), "transfer")


async def get_for_channel(conn: Connection, transfer_id: uuid.UUID, channel: str) -> TransferRead:
    row = await _get(conn, transfer_id)
    if row.channel != channel:
        raise Forbidden("this transfer belongs to another channel")
    return row


async def _authorised(
    conn: Connection, transfer_id: uuid.UUID, caller: Caller | None, channel: str | None
) -> TransferRead:
    if caller is not None:
        return await get_for_reviewer(conn, transfer_id, caller)
    return await get_for_channel(conn, transfer_id, channel or "")


async def _get(conn: Connection, transfer_id: uuid.UUID) -> TransferRead:
    return found(await repository.get(conn, transfer_id), f"no transfer {transfer_id}")


async def _conflict(conn: Connection, transfer_id: uuid.UUID, action: str) -> Conflict:
    row = await _get(conn, transfer_id)
    holder = f" by {row.assigned_email}" if row.assigned_email else ""
    return Conflict(
        f"cannot {action} this transfer: it is {row.status}{holder}", transfer=view(row)
    )


async def announce(
    conn: Connection,
    channel: str,
    event: str,
    transfer_id: uuid.UUID,
    data: dict[str, Any],
    dedupe: str | None = None,
) -> Effects:
    effects = Effects()
    conversation = await db.value(
        conn,
        "SELECT c.external_id FROM transfer x JOIN conversation c ON c.id = x.conversation_id "
        "WHERE x.id = :id",
        {"id": transfer_id},
    )
    effects.deliver(
        await outbox.add(
            conn,
            channel=channel,
            event_type=event,
            dedupe_key=dedupe or f"{event}:{transfer_id}",
            data={"transfer_id": str(transfer_id), "conversation_id": conversation, **data},
        )
    )
    effects.publish(event, transfer_id=transfer_id, team=data.get("team"))
    return effects


async def _set_handler(conn: Connection, conversation_id: uuid.UUID, handler: str) -> None:
    await db.execute(
        conn,
        "UPDATE conversation SET handled_by = :h WHERE id = :id",
        {"h": handler, "id": conversation_id},
    )
