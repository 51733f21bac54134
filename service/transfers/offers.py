"""Offers: a waiting transfer goes to the best available agent of its team, an offer not
accepted in time moves on, and a team with nobody online follows its fallback.

Each step says what it did (its outcome) beside what it asks of the world (its effects)."""

from __future__ import annotations

import uuid

from service.db import Connection
from service.effects import Effects
from service.policy.model import Policy
from service.transfers import assignment, repository
from service.transfers.service import announce

# Outcomes after which the transfer is as it was.
UNCHANGED = frozenset({"not waiting", "already queued", "not offered", "no fallback"})


async def assign(conn: Connection, transfer_id: uuid.UUID, policy: Policy) -> tuple[str, Effects]:
    """Offer a waiting transfer to the best available agent of its team, or leave it queued.
    The choice is pure (assignment.choose); Postgres settles races for an agent's last slot."""
    effects = Effects()
    waiting = await repository.waiting_with_agents(conn, transfer_id)
    if waiting is None:
        return "not waiting", effects
    team_name, passed_by, agents = waiting
    team = policy.teams.get(team_name)
    passed = set(passed_by)
    while (agent := assignment.choose(agents, passed)) is not None:
        offered, expires = await repository.reserve_and_offer(
            conn, transfer_id, agent.id, team.offer_timeout if team else None
        )
        if offered:
            break
        passed.add(agent.id)  # someone else took their last slot meanwhile: next best
    if agent is None:
        if not await repository.queue(conn, transfer_id):
            return "already queued", effects
        await repository.record(conn, transfer_id, "system", "queued", reason="nobody free")
        effects.publish("transfer.queued", transfer_id=transfer_id, team=team_name)
        return "queued", effects
    if expires is not None:
        effects.offer_deadlines.append((transfer_id, expires))
    effects.publish("transfer.offered", transfer_id=transfer_id, team=team_name, agent=agent.id)
    return "offered", effects


async def fallback(conn: Connection, transfer_id: uuid.UUID, policy: Policy) -> tuple[str, Effects]:
    """Nobody of the team has been online for the policy's `no_one_online.after`: the transfer
    moves to the fallback team (and is offered there), or the customer gets the holding
    message by webhook and it keeps waiting. Once per transfer, so never a ping-pong."""
    if not await repository.hold_for_fallback(conn, transfer_id):
        return "no fallback", Effects()
    row = await repository.get(conn, transfer_id)
    team = policy.teams.get(row.team) if row is not None else None
    rule = team.no_one_online if team is not None else None
    if row is None or rule is None or row.status not in ("created", "queued"):
        return "no fallback", Effects()
    why = f"nobody of team {row.team} online for {int(rule.after.total_seconds())} s"
    if rule.team is not None:
        if not await repository.reroute(conn, transfer_id, row.team, rule.team):
            return "no fallback", Effects()
        await repository.record(
            conn, transfer_id, "system", "rerouted", reason=why, to=rule.team, **{"from": row.team}
        )
        effects = Effects()
        effects.assignments.append(transfer_id)
        effects.publish("transfer.rerouted", transfer_id=transfer_id, team=rule.team)
        effects.publish("transfer.rerouted", transfer_id=transfer_id, team=row.team)
        return "rerouted", effects
    assert rule.holding_message is not None
    message = await repository.add_holding(conn, transfer_id, rule.holding_message)
    await repository.record(conn, transfer_id, "system", "holding", reason=why)
    return "held", await announce(
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


async def lapse(conn: Connection, transfer_id: uuid.UUID, policy: Policy) -> tuple[str, Effects]:
    """An offer not accepted in time moves on to the next agent, or back to the team queue."""
    holder = await repository.lapse_offer(conn, transfer_id)
    if holder is None:
        return "not offered", Effects()
    await repository.change_load(conn, holder, -1)
    await repository.record(conn, transfer_id, "system", "offer_lapsed", agent=str(holder))
    outcome, effects = await assign(conn, transfer_id, policy)
    if outcome in UNCHANGED:  # already back in the queue: say so once
        await repository.record(conn, transfer_id, "system", "queued", reason="no agent accepted")
        row = await repository.get(conn, transfer_id)
        effects.publish("transfer.queued", transfer_id=transfer_id, team=row.team if row else None)
        outcome = "queued"
    return outcome, effects
