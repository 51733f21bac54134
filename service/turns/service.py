"""Deciding on one AI turn: facts, the policy's verdict, and every row it implies in one statement."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from service.channels.outbox import envelope
from service.db import PgConnection, Statement
from service.detection.live import LiveDetector
from service.detection.reading import Reading
from service.effects import Effects
from service.errors import Conflict, Forbidden, Invalid, KeyReused
from service.policy import engine
from service.policy.model import Policy
from service.transfers import context
from service.transfers import package as warm
from service.transfers.opening import open_transfer, priority
from service.turns import facts as facts_
from service.turns import statements
from service.turns.schemas import TurnCreate
from service.turns.signals import signals_for


class DuplicateRequest(Exception):
    """Another request with the same Idempotency-Key committed first; read its answer."""


class _OwnerChanged(Exception):
    """The conversation's owner changed between reading the facts and writing the turn."""


# Deciding again after the owner changed under a turn: one retry settles it unless people keep
# taking and handing back the same conversation within milliseconds.
ATTEMPTS = 3


@dataclass
class Outcome:
    response: dict[str, Any]
    effects: Effects
    replayed: bool = False


async def decide(
    conn: PgConnection,
    policy: Policy,
    key_channel: str,
    body: TurnCreate,
    idempotency_key: str | None,
    *,
    detector: LiveDetector,
    shadow: Policy | None = None,
) -> Outcome:
    """Runs outside an explicit transaction: the write is a single statement, hence atomic.
    A shadow policy is evaluated on the same facts and its verdict stored, with no effect.
    The message is encoded in the detector's thread while the facts query runs."""
    channel = policy.channels.get(body.channel)
    if channel is None:
        known = ", ".join(sorted(policy.channels))
        raise Invalid(
            f"channel: unknown channel {body.channel!r} (the policy has {known})", field="channel"
        )
    if body.channel != key_channel:
        raise Forbidden(f"this API key belongs to channel {key_channel!r}, not {body.channel!r}")
    policies = (policy,) if shadow is None else (policy, shadow)
    encoding = asyncio.ensure_future(detector.read(body.message, *policies))
    for _ in range(ATTEMPTS):
        try:
            return await _decide_once(conn, policy, body, idempotency_key, encoding, shadow)
        except _OwnerChanged:
            continue
    raise Conflict("this conversation changed hands several times while the turn was decided")


async def _decide_once(
    conn: PgConnection,
    policy: Policy,
    body: TurnCreate,
    idempotency_key: str | None,
    encoding: asyncio.Future[list[Reading]],
    shadow: Policy | None,
) -> Outcome:
    try:
        loaded = await facts_.load(
            conn,
            channel=body.channel,
            conversation=body.conversation_id,
            customer=body.customer_id,
            idempotency_key=idempotency_key,
            repeat_window=policy.triggers.repeat_contact.window,
        )
    except BaseException:
        encoding.cancel()
        raise
    if loaded.replay is not None:
        encoding.cancel()
        same_body(idempotency_key, loaded.replay_hash, fingerprint(body))
        return Outcome(loaded.replay, Effects(), replayed=True)
    readings = await encoding
    reading = readings[0]
    signals = signals_for(
        message=body.message,
        draft_text=body.draft.text,
        confidence=body.draft.confidence,
        intent=body.draft.intent,
        topics=body.topics,
        sentiment=body.sentiment,
        locale=body.locale,
        metadata=body.metadata,
        reading=reading,
    )
    verdict = engine.evaluate(policy, body.channel, loaded.facts, signals)
    if loaded.owner is not None:
        # A person has the conversation: their transfer answers, whatever the verdict says.
        plan = _owned_plan(body, verdict, idempotency_key, reading, loaded.owner)
        plan.params["shadow"] = None
    else:
        summary = None
        if verdict.action == "transfer" and verdict.transfer_mode == "warm":
            summary = await _warm_package(conn, body, verdict, loaded.facts)
        plan = _plan(policy, body, verdict, idempotency_key, summary, reading)
        if shadow is not None:
            shadow_signals = dataclasses.replace(signals, reading=readings[1])
            plan.params["shadow"] = _shadow(shadow, body.channel, loaded.facts, shadow_signals)
        else:
            plan.params["shadow"] = None
    try:
        row = await conn.fetchrow(plan.statement.sql, *plan.statement.args(plan.params))
        assert row is not None  # the statement ends in a SELECT of one row
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "turn_channel_idempotency_key":
            raise DuplicateRequest from exc
        if exc.constraint_name == "transfer_one_open_per_conversation":
            raise _OwnerChanged from exc  # another turn handed it to a person first
        raise
    if row["response"] is None:
        raise _OwnerChanged
    return Outcome(_json(row["response"]), _effects(plan, row, body))


REPLAY = Statement(
    "SELECT d.response, t.request_hash FROM turn t JOIN decision d ON d.turn_id = t.id "
    "WHERE t.channel = :channel AND t.idempotency_key = :key"
)


async def replay(
    conn: PgConnection, channel: str, idempotency_key: str, body: TurnCreate
) -> dict[str, Any]:
    """The first answer to a retry that lost the race to commit."""
    row = await conn.fetchrow(
        REPLAY.sql, *REPLAY.args({"channel": channel, "key": idempotency_key})
    )
    assert row is not None  # the unique index said it was there
    same_body(idempotency_key, row["request_hash"], fingerprint(body))
    return _json(row["response"])


def fingerprint(body: TurnCreate) -> str:
    """SHA-256 of the body as decoded (so whitespace and key order do not matter)."""
    return hashlib.sha256(msgspec.json.encode(body)).hexdigest()


def same_body(key: str | None, stored: str | None, sent: str) -> None:
    # A turn stored before hashes were kept (None) cannot be told apart: its answer stands.
    if stored is not None and stored != sent:
        raise KeyReused(
            f"Idempotency-Key {key!r} was already used with a different body; "
            "send a new key for a new turn",
            field="Idempotency-Key",
        )


@dataclass
class _Plan:
    statement: Statement
    params: dict[str, Any]
    action: str
    team: str | None
    review_id: uuid.UUID | None
    transfer_id: uuid.UUID | None
    outbox_id: uuid.UUID | None
    owned: facts_.OpenTransfer | None = None


async def _warm_package(
    conn: PgConnection, body: TurnCreate, verdict: engine.Decision, facts: engine.Facts
) -> dict[str, Any]:
    """Only hard triggers pay for this extra query: the transcript for the person taking over."""
    current = warm.Exchange(
        None, body.message, body.draft.text, body.draft.intent, verdict.sentiment
    )
    situation = await context.situation(
        conn,
        channel=body.channel,
        conversation=body.conversation_id,
        customer_id=body.customer_id,
        triggers=[t.as_json() for t in verdict.triggers],
        topics=body.topics,
        contacts=facts.contacts,
        locale=body.locale,
        tier=warm.tier_of(body.metadata),
        current=current,
    )
    return warm.build(situation)


def _plan(
    policy: Policy,
    body: TurnCreate,
    verdict: engine.Decision,
    idempotency_key: str | None,
    warm_package: dict[str, Any] | None,
    reading: Reading,
) -> _Plan:
    triggers = [t.as_json() for t in verdict.triggers]
    review_id = uuid.uuid4() if verdict.action == "review" else None
    transfers = verdict.action == "transfer"
    team = (verdict.team if transfers else verdict.review_team) or policy.default_team
    opening = (
        open_transfer(
            conversation=body.conversation_id,
            mode=verdict.transfer_mode or "cold",
            team=team,
            reason="trigger" if any(t.hard for t in verdict.triggers) else "sync_low_confidence",
            triggers=triggers,
            summary=warm_package,
            actor=f"channel:{body.channel}",
        )
        if transfers
        else None
    )
    transfer_id = opening.transfer_id if opening else None
    outbox_id = uuid.uuid4() if opening else None
    decision_id = uuid.uuid4()
    response = {
        "decision_id": str(decision_id),
        "action": verdict.action,
        "triggers": _answered(triggers),
        "review": {"id": str(review_id), "status": "pending", "deadline": None}
        if review_id
        else None,
        "transfer": (
            {
                "id": str(transfer_id),
                "mode": verdict.transfer_mode,
                "team": team,
                "status": "created",
                **NO_PLACE,
                "summary": warm_package,
            }
            if transfer_id
            else None
        ),
        "policy_version": verdict.policy_version,
    }
    budget = policy.channels[body.channel].latency_budget
    params = _turn_params(
        body,
        verdict,
        idempotency_key,
        reading,
        triggers=triggers,
        decision_id=decision_id,
        action=verdict.action,
        response=response,
        team=team,
        owned=False,
    )
    if review_id:
        params |= {
            "review_id": review_id,
            "priority": round((1 - body.draft.confidence) * 100),
            "budget": budget.total_seconds() if budget else 0.0,
        }
    if opening:
        params |= {
            "transfer_id": opening.transfer_id,
            "priority": opening.priority,
            "created_at": None,
            "waiting": True,
            "mode": opening.mode,
            "reason": opening.reason,
            "summary": json.dumps(opening.summary) if opening.summary is not None else None,
            "transfer_actor": opening.actor,
            "outbox_id": outbox_id,
            "outbox_key": opening.outbox_key,
            "outbox_payload": json.dumps(envelope("transfer.created", opening.announcement)),
        }
    statement = statements.compose(review=review_id is not None, transfer=transfer_id is not None)
    return _Plan(statement, params, verdict.action, team, review_id, transfer_id, outbox_id)


# A transfer's place in its team's queue; the statement fills it in while the transfer waits.
NO_PLACE: dict[str, Any] = {
    "queue_position": None,
    "estimated_wait_seconds": None,
    "wait_reason": None,
}


def _owned_plan(
    body: TurnCreate,
    verdict: engine.Decision,
    idempotency_key: str | None,
    reading: Reading,
    owner: facts_.OpenTransfer,
) -> _Plan:
    """The turn of a conversation a person has: it joins their transfer, which is the answer.
    The policy's triggers are kept (a distress signal raises the transfer's priority and is
    shown to the person), its action is not acted on."""
    triggers = [t.as_json() for t in verdict.triggers]
    decision_id = uuid.uuid4()
    response = {
        "decision_id": str(decision_id),
        "action": "transfer",
        "triggers": _answered(triggers),
        "review": None,
        "transfer": {
            "id": owner.id,
            "mode": owner.mode,
            "team": owner.team,
            "status": owner.status,
            **NO_PLACE,
            "summary": owner.summary,
        },
        "policy_version": verdict.policy_version,
    }
    params = _turn_params(
        body,
        verdict,
        idempotency_key,
        reading,
        triggers=triggers,
        decision_id=decision_id,
        action="transfer",
        response=response,
        team=owner.team,
        owned=True,
    ) | {
        "transfer_id": uuid.UUID(owner.id),
        "priority": max(owner.priority, priority(t.type for t in verdict.triggers)),
        "created_at": datetime.fromisoformat(owner.created_at),
        "waiting": owner.status != "accepted",
    }
    statement = statements.compose(review=False, transfer=False, owned=True)
    return _Plan(statement, params, "transfer", owner.team, None, None, None, owned=owner)


def _answered(triggers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trigger objects of the answer (CONTRACT section 4), from the stored ones."""
    keys = ("type", "detail", "hard", "score", "evidence", "rule_id")
    return [{k: t[k] for k in keys} for t in triggers]


def _turn_params(
    body: TurnCreate,
    verdict: engine.Decision,
    idempotency_key: str | None,
    reading: Reading,
    *,
    triggers: list[dict[str, Any]],
    decision_id: uuid.UUID,
    action: str,
    response: dict[str, Any],
    team: str,
    owned: bool,
) -> dict[str, Any]:
    """What every shape of the decision's statement writes: the conversation, the turn, the
    decision and its audit row. The owner follows the action (a person owns a transfer)."""
    return {
        "channel": body.channel,
        "conversation": body.conversation_id,
        "customer": body.customer_id,
        "handler": {"send": "ai", "review": "review", "transfer": "human"}[action],
        "owned": owned,
        "turn_id": uuid.uuid4(),
        "key": idempotency_key,
        "request_hash": fingerprint(body) if idempotency_key else None,
        "message": body.message,
        "draft": body.draft.text,
        "confidence": body.draft.confidence,
        "intent": body.draft.intent,
        "topics": list(body.topics),
        "sentiment": verdict.sentiment,
        "scores": json.dumps(reading.stored()),
        "locale": body.locale,
        "metadata": json.dumps(body.metadata or {}),
        "decision_id": decision_id,
        "action": action,
        "triggers": json.dumps(triggers),
        "rule_ids": list(verdict.rule_ids),
        "version": verdict.policy_version,
        "response": json.dumps(response),
        "team": team,
    }


def _shadow(
    shadow: Policy | None, channel: str, facts: engine.Facts, signals: engine.Signals
) -> str | None:
    """What the candidate policy would have decided. It sees the facts loaded for the live
    policy (its repeat-contact window), which is what a side-by-side comparison needs."""
    if shadow is None or channel not in shadow.channels:
        return None
    verdict = engine.evaluate(shadow, channel, facts, signals)
    return json.dumps(
        {
            "policy_version": verdict.policy_version,
            "action": verdict.action,
            "triggers": [t.type for t in verdict.triggers],
            "rule_ids": list(verdict.rule_ids),
            # Whose work it would have been (a review's team too): scopes who may read it.
            "team": (verdict.team if verdict.action == "transfer" else verdict.review_team)
            or shadow.default_team,
        }
    )


def _effects(plan: _Plan, row: Any, body: TurnCreate) -> Effects:
    effects = Effects()
    for review_id, team in zip(
        row["superseded_ids"] or [], row["superseded_teams"] or [], strict=True
    ):
        effects.publish("review.superseded", review_id=review_id, team=team)
    if plan.review_id is not None:
        effects.publish(
            "review.created", review_id=plan.review_id, team=plan.team, channel=body.channel
        )
    if plan.transfer_id is not None:
        effects.deliver(plan.outbox_id)
        effects.assignments.append(plan.transfer_id)
        effects.publish("transfer.created", transfer_id=plan.transfer_id, team=plan.team)
    if plan.owned is not None:
        # To the person's desk (and whoever is offered it): the transfer's live transcript.
        effects.publish(
            "transfer.message",
            transfer_id=plan.owned.id,
            team=plan.team,
            urgent=plan.params["priority"] > plan.owned.priority,
        )
    return effects


def _json(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else json.loads(value)  # type: ignore[no-any-return]
