"""Offers: a waiting transfer goes to the best available agent of its team, an offer not
accepted in time moves on, and a team with nobody online follows its fallback."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from service.db import driver_connection
from service.effects import Effects
from service.policy.model import Policy
from service.transfers import assignment, repository
from service.transfers.service import announce


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
    return await announce(
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
