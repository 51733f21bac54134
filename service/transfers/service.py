"""Transfer use-cases: create, offer to the right agent, lapse, accept, close (hand back), cancel."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from service.channels import outbox
from service.db import driver_connection
from service.effects import Effects
from service.errors import Conflict, Forbidden, Invalid, KeyReused, NotFound
from service.policy.model import Policy
from service.reviewers.caller import Caller
from service.transfers import assignment, handback, repository
from service.transfers.opening import Opening

PRESENCE = ("online", "away", "offline")
# Who may end a transfer someone accepted besides its assignee (recorded as such).
OVERSEERS = ("supervisor", "admin")


async def create(
    conn: AsyncConnection,
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
        async with conn.begin_nested():
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
    except IntegrityError as exc:
        if "transfer_one_open_per_conversation" not in str(exc.orig):
            raise
        raise Conflict("a person already has this conversation (it has an open transfer)") from exc
    if assigned_to:
        try:
            async with conn.begin_nested():
                await repository.change_load(conn, assigned_to, +1)
        except IntegrityError as exc:
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


async def _insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(
        text(
            "INSERT INTO transfer (id, conversation_id, turn_id, review_id, channel, mode, team, "
            "reason, status, assigned_to, summary, triggers, accepted_at, priority) VALUES "
            "(:id, :conv, :turn, :review, :channel, :mode, :team, :reason, :status, "
            "CAST(:who AS uuid), CAST(:summary AS jsonb), CAST(:triggers AS jsonb), "
            "CASE WHEN CAST(:who AS uuid) IS NULL THEN NULL ELSE now() END, :priority)"
        ),
        values,
    )


async def assign(conn: AsyncConnection, transfer_id: uuid.UUID, policy: Policy) -> Effects:
    """Offer a waiting transfer to the best available agent of its team, or leave it queued.
    The choice is pure (assignment.choose); Postgres settles races for an agent's last slot."""
    effects = Effects()
    pg = await driver_connection(conn)
    waiting = await repository.waiting_with_agents(pg, transfer_id)
    if waiting is None:
        return effects
    team_name, passed_by, agents = waiting
    team = policy.teams.get(team_name)
    passed = set(passed_by)
    while (agent := assignment.choose(agents, passed)) is not None:
        offered, expires = await repository.reserve_and_offer(
            pg, transfer_id, agent.id, team.offer_timeout if team else None
        )
        if offered:
            break
        passed.add(agent.id)  # someone else took their last slot meanwhile: next best
    if agent is None:
        if await repository.queue(conn, transfer_id):
            await repository.record(conn, transfer_id, "system", "queued", reason="nobody free")
            effects.publish("transfer.queued", transfer_id=transfer_id, team=team_name)
        return effects
    if expires is not None:
        effects.offer_deadlines.append((transfer_id, expires))
    effects.publish("transfer.offered", transfer_id=transfer_id, team=team_name, agent=agent.id)
    return effects


async def fallback(conn: AsyncConnection, transfer_id: uuid.UUID, policy: Policy) -> Effects:
    """Nobody of the team has been online for the policy's `no_one_online.after`: the transfer
    moves to the fallback team (and is offered there), or the customer gets the holding
    message by webhook and it keeps waiting. Once per transfer, so never a ping-pong."""
    row = await repository.get(conn, transfer_id)
    team = policy.teams.get(row.team) if row is not None else None
    rule = team.no_one_online if team is not None else None
    if row is None or rule is None or row.status not in ("created", "queued"):
        return Effects()
    why = f"nobody of team {row.team} online for {int(rule.after.total_seconds())} s"
    if rule.team is not None:
        if not await repository.reroute(conn, transfer_id, row.team, rule.team):
            return Effects()
        await repository.record(
            conn, transfer_id, "system", "rerouted", reason=why, to=rule.team, **{"from": row.team}
        )
        effects = Effects()
        effects.assignments.append(transfer_id)
        effects.publish("transfer.rerouted", transfer_id=transfer_id, team=rule.team)
        effects.publish("transfer.rerouted", transfer_id=transfer_id, team=row.team)
        return effects
    assert rule.holding_message is not None
    message = await repository.add_holding(conn, transfer_id, rule.holding_message)
    await repository.record(conn, transfer_id, "system", "holding", reason=why)
    return await _announce(
        conn,
        row.channel,
        "transfer.message",
        transfer_id,
        {
            "message_id": message.id,
            "text": rule.holding_message,
            "agent": None,
            "holding": True,
            "team": row.team,
            "at": message.at.isoformat(),
        },
        dedupe=f"transfer.message:{transfer_id}:{message.id}",
    )


async def lapse(conn: AsyncConnection, transfer_id: uuid.UUID, policy: Policy) -> Effects:
    """An offer not accepted in time moves on to the next agent, or back to the team queue."""
    holder = await repository.lapse_offer(conn, transfer_id)
    if holder is None:
        return Effects()
    await repository.change_load(conn, holder, -1)
    await repository.record(conn, transfer_id, "system", "offer_lapsed", agent=str(holder))
    effects = await assign(conn, transfer_id, policy)
    if not effects.offer_deadlines and not effects.live:
        await repository.record(conn, transfer_id, "system", "queued", reason="no agent accepted")
        row = await repository.get(conn, transfer_id)
        effects.publish("transfer.queued", transfer_id=transfer_id, team=row.team if row else None)
    return effects


async def accept(
    conn: AsyncConnection, caller: Caller, transfer_id: uuid.UUID
) -> tuple[Row[Any], Effects]:
    row = await get_for_reviewer(conn, transfer_id, caller)
    try:
        async with conn.begin_nested():
            changed = await repository.accept(conn, transfer_id, caller.id)
            if changed is not None and changed.was in ("created", "queued"):
                await repository.change_load(conn, caller.id, +1)
    except IntegrityError as exc:
        raise Conflict("you are at your capacity of open transfers; close one first") from exc
    if changed is None:
        raise await _conflict(conn, transfer_id, "accept")
    await repository.record(conn, transfer_id, caller.actor, "accepted")
    effects = await _announce(
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
    conn: AsyncConnection,
    transfer_id: uuid.UUID,
    resolution: str,
    *,
    caller: Caller | None = None,
    channel: str | None = None,
    note: str | None = None,
) -> tuple[Row[Any], Effects]:
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
    conn: AsyncConnection,
    transfer_id: uuid.UUID,
    *,
    caller: Caller | None = None,
    channel: str | None = None,
    reason: str = "cancelled",
) -> tuple[Row[Any], Effects]:
    """The customer left (the channel says so), or the team withdraws a transfer nobody has
    accepted: the conversation ends for the person and returns to the AI."""
    row = await _authorised(conn, transfer_id, caller, channel)
    if caller is not None:
        _may_end(row, caller, "cancel")
    ended = await repository.end(conn, transfer_id, "cancelled", list(repository.OPEN), reason)
    if ended is None:
        raise await _conflict(conn, transfer_id, "cancel")
    return await _ended(conn, row, ended, "cancelled", caller, channel, reason, None)


def _may_end(row: Row[Any], caller: Caller, action: str) -> None:
    """An accepted transfer is its person's: only they, or a supervisor or admin, end it."""
    if row.status != "accepted" or row.assigned_to == caller.id or caller.role in OVERSEERS:
        return
    raise Forbidden(
        f"only {row.assigned_email} (who accepted it), a supervisor or an admin can {action} "
        "this transfer"
    )


async def reply(
    conn: AsyncConnection,
    caller: Caller,
    transfer_id: uuid.UUID,
    text_: str,
    idempotency_key: str | None = None,
) -> tuple[Row[Any], Effects]:
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
    effects = await _announce(
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
    conn: AsyncConnection,
    row: Row[Any],
    ended: Row[Any],
    status: str,
    caller: Caller | None,
    channel: str | None,
    resolution: str,
    note: str | None,
) -> tuple[Row[Any], Effects]:
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
        effects = await _announce(
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


async def set_presence(conn: AsyncConnection, caller: Caller, presence: str) -> Effects:
    """Coming online lets the teams' waiting transfers find this person; going away or offline
    passes their pending offers on at once."""
    if presence not in PRESENCE:
        raise Invalid(f"presence must be one of {', '.join(PRESENCE)}", field="presence")
    await conn.execute(
        text("UPDATE reviewer SET presence = :p, last_seen_at = now() WHERE id = :id"),
        {"p": presence, "id": caller.id},
    )
    effects = Effects()
    if presence == "online":
        effects.waiting_teams.extend(caller.teams)
    else:
        # Nobody waits on an offer to someone who is not there, even on a team without
        # offer_timeout: each lapses now and goes to the next person (or the queue).
        effects.offer_deadlines.extend(await repository.end_offers_of(conn, caller.id))
    effects.publish("agent.presence", agent=caller.id, presence=presence, teams=list(caller.teams))
    return effects


def view(row: Row[Any], messages: Sequence[Row[Any]] | None = None) -> dict[str, Any]:
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


def conversation(messages: Sequence[Row[Any]]) -> dict[str, Any]:
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


async def get_for_reviewer(
    conn: AsyncConnection, transfer_id: uuid.UUID, caller: Caller
) -> Row[Any]:
    row = await _get(conn, transfer_id)
    if not caller.can_see(row.team):
        raise Forbidden(f"this transfer belongs to team {row.team!r}, which is not yours")
    return row


async def get_for_channel(conn: AsyncConnection, transfer_id: uuid.UUID, channel: str) -> Row[Any]:
    row = await _get(conn, transfer_id)
    if row.channel != channel:
        raise Forbidden("this transfer belongs to another channel")
    return row


async def _authorised(
    conn: AsyncConnection, transfer_id: uuid.UUID, caller: Caller | None, channel: str | None
) -> Row[Any]:
    if caller is not None:
        return await get_for_reviewer(conn, transfer_id, caller)
    return await get_for_channel(conn, transfer_id, channel or "")


async def _get(conn: AsyncConnection, transfer_id: uuid.UUID) -> Row[Any]:
    row = await repository.get(conn, transfer_id)
    if row is None:
        raise NotFound(f"no transfer {transfer_id}")
    return row


async def _conflict(conn: AsyncConnection, transfer_id: uuid.UUID, action: str) -> Conflict:
    row = await _get(conn, transfer_id)
    holder = f" by {row.assigned_email}" if row.assigned_email else ""
    return Conflict(
        f"cannot {action} this transfer: it is {row.status}{holder}", transfer=view(row)
    )


async def _announce(
    conn: AsyncConnection,
    channel: str,
    event: str,
    transfer_id: uuid.UUID,
    data: dict[str, Any],
    dedupe: str | None = None,
) -> Effects:
    effects = Effects()
    conversation = await conn.scalar(
        text(
            "SELECT c.external_id FROM transfer x JOIN conversation c ON c.id = x.conversation_id "
            "WHERE x.id = :id"
        ),
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


async def _set_handler(conn: AsyncConnection, conversation_id: uuid.UUID, handler: str) -> None:
    await conn.execute(
        text("UPDATE conversation SET handled_by = :h WHERE id = :id"),
        {"h": handler, "id": conversation_id},
    )
