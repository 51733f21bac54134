"""A decided turn, planned: the shape of the decision's one statement and its parameters, from
the verdict and the turn (pure: nothing here reads or writes), and the effects it asks for once
written."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from service.channels.outbox import envelope
from service.db import Statement
from service.detection.reading import Reading
from service.effects import Effects
from service.policy import engine
from service.policy.model import Policy
from service.transfers.opening import Opening, open_transfer, priority
from service.turns import facts as facts_
from service.turns import statements
from service.turns.schemas import TurnCreate


def fingerprint(body: TurnCreate) -> str:
    """SHA-256 of the body as decoded (so whitespace and key order do not matter)."""
    return hashlib.sha256(msgspec.json.encode(body)).hexdigest()


@dataclass
class Plan:
    statement: Statement
    params: dict[str, Any]
    action: str
    team: str | None
    review_id: uuid.UUID | None
    transfer_id: uuid.UUID | None
    outbox_id: uuid.UUID | None
    owned: facts_.OpenTransfer | None = None


def decided(
    policy: Policy,
    body: TurnCreate,
    verdict: engine.Decision,
    idempotency_key: str | None,
    warm_package: dict[str, Any] | None,
    reading: Reading,
) -> Plan:
    triggers = [t.as_json() for t in verdict.triggers]
    review_id = uuid.uuid4() if verdict.action == "review" else None
    transfers = verdict.action == "transfer"
    team = (verdict.team if transfers else verdict.review_team) or policy.default_team
    opening = _open(body, verdict, team, triggers, warm_package) if transfers else None
    transfer_id = opening.transfer_id if opening else None
    outbox_id = uuid.uuid4() if opening else None
    review = {"id": str(review_id), "status": "pending", "deadline": None} if review_id else None
    transfer = (
        _answer(str(opening.transfer_id), verdict.transfer_mode, team, "created", warm_package)
        if opening
        else None
    )
    budget = policy.channels[body.channel].latency_budget
    params = _turn(body, verdict, idempotency_key, reading, verdict.action, team, review, transfer)
    if review_id:
        params |= {
            "review_id": review_id,
            "priority": round((1 - body.draft.confidence) * 100),
            "budget": budget.total_seconds() if budget else 0.0,
        }
    if opening:
        params |= _opening(opening, outbox_id)
    statement = statements.compose(review=review_id is not None, transfer=transfer_id is not None)
    return Plan(statement, params, verdict.action, team, review_id, transfer_id, outbox_id)


# A transfer's place in its team's queue; the statement fills it in while the transfer waits.
NO_PLACE: dict[str, Any] = {
    "queue_position": None,
    "estimated_wait_seconds": None,
    "wait_reason": None,
}


def owned(
    body: TurnCreate,
    verdict: engine.Decision,
    idempotency_key: str | None,
    reading: Reading,
    owner: facts_.OpenTransfer,
) -> Plan:
    """The turn of a conversation a person has: it joins their transfer, which is the answer.
    The policy's triggers are kept (a distress signal raises the transfer's priority and is
    shown to the person), its action is not acted on."""
    transfer = _answer(owner.id, owner.mode, owner.team, owner.status, owner.summary)
    params = _turn(
        body, verdict, idempotency_key, reading, "transfer", owner.team, None, transfer, owned=True
    ) | {
        "transfer_id": uuid.UUID(owner.id),
        "priority": max(owner.priority, priority(t.type for t in verdict.triggers)),
        "created_at": datetime.fromisoformat(owner.created_at),
        "waiting": owner.status != "accepted",
    }
    statement = statements.compose(review=False, transfer=False, owned=True)
    return Plan(statement, params, "transfer", owner.team, None, None, None, owned=owner)


def _open(
    body: TurnCreate,
    verdict: engine.Decision,
    team: str,
    triggers: list[dict[str, Any]],
    warm_package: dict[str, Any] | None,
) -> Opening:
    return open_transfer(
        conversation=body.conversation_id,
        mode=verdict.transfer_mode or "cold",
        team=team,
        reason="trigger" if any(t.hard for t in verdict.triggers) else "sync_low_confidence",
        triggers=triggers,
        summary=warm_package,
        actor=f"channel:{body.channel}",
    )


def _answer(
    transfer_id: str, mode: str | None, team: str, status: str, summary: dict[str, Any] | None
) -> dict[str, Any]:
    """The answer's transfer object (CONTRACT section 4); the statement fills in its place."""
    return {
        "id": transfer_id,
        "mode": mode,
        "team": team,
        "status": status,
        **NO_PLACE,
        "summary": summary,
    }


def _opening(opening: Opening, outbox_id: uuid.UUID | None) -> dict[str, Any]:
    """The transfer's part of the statement: what opening.open_transfer decided."""
    return {
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


def _answered(triggers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trigger objects of the answer (CONTRACT section 4), from the stored ones."""
    keys = ("type", "detail", "hard", "score", "evidence", "rule_id")
    return [{k: t[k] for k in keys} for t in triggers]


def _turn(
    body: TurnCreate,
    verdict: engine.Decision,
    idempotency_key: str | None,
    reading: Reading,
    action: str,
    team: str,
    review: dict[str, Any] | None,
    transfer: dict[str, Any] | None,
    *,
    owned: bool = False,
) -> dict[str, Any]:
    """What every shape of the decision's statement writes: the conversation, the turn, the
    decision with its answer (CONTRACT section 4) and its audit row. The owner follows the
    action (a person owns a transfer)."""
    triggers = [t.as_json() for t in verdict.triggers]
    decision_id = uuid.uuid4()
    response = {
        "decision_id": str(decision_id),
        "action": action,
        "triggers": _answered(triggers),
        "review": review,
        "transfer": transfer,
        "policy_version": verdict.policy_version,
    }
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


def shadow_verdict(
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


def effects(plan: Plan, row: Any, body: TurnCreate) -> Effects:
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
