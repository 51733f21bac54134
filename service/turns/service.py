"""Deciding on one AI turn: facts, the policy's verdict, and every row it implies in one statement."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

import asyncpg

from service import db
from service.db import Connection, Statement, json_value
from service.detection.live import LiveDetector
from service.detection.reading import Reading
from service.effects import Effects
from service.errors import Conflict, Forbidden, Invalid, KeyReused
from service.policy import engine
from service.policy.model import Policy
from service.transfers import context
from service.transfers import package as warm
from service.turns import facts as facts_
from service.turns import plan as plan_
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
    conn: Connection,
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
    conn: Connection,
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
        same_body(idempotency_key, loaded.replay_hash, plan_.fingerprint(body))
        return Outcome(loaded.replay, Effects(), replayed=True)
    readings = await encoding
    signals = signals_for(
        message=body.message,
        draft_text=body.draft.text,
        confidence=body.draft.confidence,
        intent=body.draft.intent,
        topics=body.topics,
        sentiment=body.sentiment,
        locale=body.locale,
        metadata=body.metadata,
        reading=readings[0],
    )
    plan = _plan(policy, body, idempotency_key, loaded, signals, readings, shadow)
    try:
        row = await db.one(conn, plan.statement, plan.params)  # it ends in a SELECT of one row
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "turn_channel_idempotency_key":
            raise DuplicateRequest from exc
        if exc.constraint_name == "transfer_one_open_per_conversation":
            raise _OwnerChanged from exc  # another turn handed it to a person first
        raise
    if row["response"] is None:
        raise _OwnerChanged
    return Outcome(json_value(row["response"]), plan_.effects(plan, row, body))


def _plan(
    policy: Policy,
    body: TurnCreate,
    idempotency_key: str | None,
    loaded: facts_.Loaded,
    signals: engine.Signals,
    readings: list[Reading],
    shadow: Policy | None,
) -> plan_.Plan:
    verdict = engine.evaluate(policy, body.channel, loaded.facts, signals)
    if loaded.owner is not None:
        # A person has the conversation: their transfer answers, whatever the verdict says.
        plan = plan_.owned(body, verdict, idempotency_key, readings[0], loaded.owner)
        plan.params["shadow"] = None
        return plan
    summary = None
    if verdict.action == "transfer" and verdict.transfer_mode == "warm":
        summary = _warm_package(body, verdict, loaded)
    plan = plan_.decided(policy, body, verdict, idempotency_key, summary, readings[0])
    plan.params["shadow"] = (
        plan_.shadow_verdict(
            shadow, body.channel, loaded.facts, dataclasses.replace(signals, reading=readings[1])
        )
        if shadow is not None
        else None
    )
    return plan


REPLAY = Statement(
    "SELECT d.response, t.request_hash FROM turn t JOIN decision d ON d.turn_id = t.id "
    "WHERE t.channel = :channel AND t.idempotency_key = :key"
)


async def replay(
    conn: Connection, channel: str, idempotency_key: str, body: TurnCreate
) -> dict[str, Any]:
    """The first answer to a retry that lost the race to commit."""
    # The unique index said it was there.
    row = await db.one(conn, REPLAY, {"channel": channel, "key": idempotency_key})
    same_body(idempotency_key, row["request_hash"], plan_.fingerprint(body))
    return json_value(row["response"])


def same_body(key: str | None, stored: str | None, sent: str) -> None:
    # A turn stored before hashes were kept (None) cannot be told apart: its answer stands.
    if stored is not None and stored != sent:
        raise KeyReused(
            f"Idempotency-Key {key!r} was already used with a different body; "
            "send a new key for a new turn",
            field="Idempotency-Key",
        )


def _warm_package(
    body: TurnCreate, verdict: engine.Decision, loaded: facts_.Loaded
) -> dict[str, Any]:
    """The transcript for the person taking over, from the facts already loaded: a warm
    transfer costs no query more than any other decision."""
    current = warm.Exchange(
        None, body.message, body.draft.text, body.draft.intent, verdict.sentiment
    )
    situation = context.assemble(
        (*loaded.transcript, current),
        customer_id=body.customer_id,
        triggers=[t.as_json() for t in verdict.triggers],
        topics=body.topics,
        contacts=loaded.facts.contacts,
        locale=body.locale,
        tier=warm.tier_of(body.metadata),
    )
    return warm.build(situation)
