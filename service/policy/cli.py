"""`hitl policy check` and `hitl policy explain`: validate a policy, show why a turn is decided."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from service.detection.reading import Reading
from service.detection.service import Detector
from service.policy.durations import format_duration
from service.policy.engine import (
    Decision,
    Facts,
    PriorContact,
    PriorTurn,
    Signals,
    evaluate,
)
from service.policy.loader import PolicyError, load_policy
from service.policy.model import Policy


class TurnFileError(ValueError):
    """TURN.json does not have the shape of POST /v1/turns (plus optional facts)."""


@click.group(name="policy")
def policy() -> None:
    """Validate escalation policies and explain their decisions."""


@policy.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def check(path: Path) -> None:
    """Exit 0 if PATH is a valid policy; else print every issue and exit 1."""
    try:
        loaded = load_policy(path)
    except PolicyError as err:
        for issue in err.issues:
            click.echo(str(issue))
        click.echo(f"{len(err.issues)} problem(s) in {path}", err=True)
        raise SystemExit(1) from None
    click.echo(f"{path}: ok (version {loaded.version[:12]}; {_summary(loaded)})")


def _summary(loaded: Policy) -> str:
    sync = sum(1 for c in loaded.channels.values() if c.is_sync)
    return (
        f"{len(loaded.channels)} channels ({sync} sync), {len(loaded.teams)} teams, "
        f"{len(loaded.triggers.topics)} topics, {len(loaded.routing.rules)} routing rules"
    )


@policy.command("explain")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("turn_file", metavar="TURN.json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
def explain(path: Path, turn_file: Path, as_json: bool) -> None:
    """Show which rules of PATH fire for the turn in TURN.json, and why."""
    try:
        loaded = load_policy(path)
    except PolicyError as err:
        for issue in err.issues:
            click.echo(str(issue))
        raise SystemExit(1) from None
    try:
        channel, facts, signals = read_turn(turn_file)
    except TurnFileError as err:
        click.echo(f"{turn_file}: {err}", err=True)
        raise SystemExit(2) from None
    # The live service reads every message with the detector: so does the explanation.
    reading = Detector().read_all(loaded, [signals.message])[0]
    signals = dataclasses.replace(signals, reading=reading)
    decision = evaluate(loaded, channel, facts, signals)
    if as_json:
        click.echo(
            json.dumps({**decision_json(decision), "scores": dict(reading.scores)}, indent=2)
        )
        return
    for line in explain_lines(loaded, channel, signals, decision):
        click.echo(line)


def read_turn(path: Path) -> tuple[str, Facts, Signals]:
    """The channel, facts and signals of a TURN.json file."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise TurnFileError(f"cannot read: {err}") from None
    except json.JSONDecodeError as err:
        raise TurnFileError(f"not JSON: {err.msg} at line {err.lineno}") from None
    if not isinstance(body, dict):
        raise TurnFileError("must be a JSON object with the fields of POST /v1/turns")
    return _text(body, "channel"), _facts(body.get("facts")), _signals(body)


def _text(body: dict[str, Any], key: str, *, optional: bool = False) -> str:
    value = body.get(key)
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise TurnFileError(f"'{key}' must be a string")
    return value


def _number(value: Any, key: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TurnFileError(f"'{key}' must be a number")
    if not low <= value <= high:
        raise TurnFileError(f"'{key}' must be between {low:g} and {high:g}")
    return float(value)


def _signals(body: dict[str, Any]) -> Signals:
    draft = body.get("draft")
    if not isinstance(draft, dict):
        raise TurnFileError("'draft' must be an object with text, confidence and intent")
    topics = body.get("topics") or []
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise TurnFileError("'topics' must be a list of strings")
    raw_metadata = body.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    sentiment = body.get("sentiment")
    tier = body.get("customer_tier", metadata.get("customer_tier"))
    return Signals(
        message=_text(body, "message"),
        draft_text=_text(draft, "text", optional=True),
        confidence=_number(draft.get("confidence"), "draft.confidence", 0, 1),
        intent=_text(draft, "intent") if draft.get("intent") is not None else None,
        topics=tuple(topics),
        sentiment=None if sentiment is None else _number(sentiment, "sentiment", -1, 1),
        locale=body.get("locale") if isinstance(body.get("locale"), str) else None,
        customer_tier=tier if isinstance(tier, str) else None,
    )


def _facts(raw: Any) -> Facts:
    if raw is None:
        return Facts()
    if not isinstance(raw, dict):
        raise TurnFileError("'facts' must be an object with turns, resolved and contacts")
    turns = tuple(
        PriorTurn(intent=t.get("intent"), sentiment=t.get("sentiment"))
        for t in _objects(raw, "turns")
    )
    contacts = tuple(_contact(c) for c in _objects(raw, "contacts"))
    return Facts(turns=turns, resolved=bool(raw.get("resolved", False)), contacts=contacts)


def _objects(raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = raw.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise TurnFileError(f"'facts.{key}' must be a list of objects")
    return items


def _contact(raw: dict[str, Any]) -> PriorContact:
    last_at = raw.get("last_at")
    try:
        when = datetime.fromisoformat(last_at) if isinstance(last_at, str) else datetime.now(UTC)
    except ValueError:
        raise TurnFileError(f"'last_at' {last_at!r} is not an RFC 3339 time") from None
    return PriorContact(
        conversation_id=str(raw.get("conversation_id", "?")),
        intents=tuple(str(i) for i in raw.get("intents") or ()),
        topics=tuple(str(t) for t in raw.get("topics") or ()),
        resolved=raw.get("resolved"),
        last_at=when,
    )


def decision_json(decision: Decision) -> dict[str, Any]:
    return {
        "action": decision.action,
        "transfer_mode": decision.transfer_mode,
        "team": decision.team,
        "review_team": decision.review_team,
        "sentiment": round(decision.sentiment, 4),
        "policy_version": decision.policy_version,
        "routing_rule": decision.routing_rule,
        "triggers": [t.as_json() for t in decision.triggers],
    }


def explain_lines(loaded: Policy, channel: str, signals: Signals, decision: Decision) -> list[str]:
    """The explanation a support lead reads: inputs, every trigger, then the outcome."""
    chan = loaded.channels.get(channel)
    mode = chan.mode if chan else "unknown: treated as sync"
    budget = (
        f", budget {format_duration(chan.latency_budget)}" if chan and chan.latency_budget else ""
    )
    source = "sent by the channel" if signals.sentiment is not None else "computed"
    lines = [
        f"policy:     {loaded.source} (version {loaded.version[:12]})",
        f"channel:    {channel} ({mode}{budget})",
        f"confidence: {signals.confidence:.2f} against threshold "
        f"{loaded.threshold_for(channel, signals.intent):g} "
        f"({loaded.threshold_rule(channel, signals.intent)})",
        f"sentiment:  {decision.sentiment:+.2f} ({source})",
        "",
    ]
    if decision.triggers:
        lines.append("fired:")
        for t in decision.triggers:
            kind = "hard" if t.hard else "soft"
            lines.append(f"  - {t.rule_id} [{kind}, {t.transfer}, team {t.team}]: {t.detail}")
            if t.evidence:
                score = f" (score {t.score:.2f})" if t.score is not None else ""
                lines.append(f"      evidence: {t.evidence!r}{score}")
    else:
        lines.append("fired: nothing")
    if signals.reading is not None:
        lines += ["", *score_lines(loaded, signals.reading)]
    return [*lines, "", _outcome(loaded, decision)]


def score_lines(loaded: Policy, reading: Reading) -> list[str]:
    """Every head's score beside the threshold it must reach, and the policy's own examples."""
    detection = loaded.detection
    lines = ["detector scores (score / threshold):"]
    for name, score in reading.scores.items():
        threshold = detection.thresholds.get(name)
        shown = f"{threshold:.2f}" if threshold is not None else "  - "
        mark = "  <- fires" if threshold is not None and score >= threshold else ""
        lines.append(f"  {name:<28} {score:.2f} / {shown}{mark}")
    for key, similar in reading.similar.items():
        needed = detection.similarity.get(key, 1.0)
        example = reading.evidence.get(f"examples.{key}", "")
        mark = f'  <- like "{example}"' if similar >= needed else ""
        lines.append(f"  example of {key:<17} {similar:.2f} / {needed:.2f}{mark}")
    return lines


def _outcome(loaded: Policy, decision: Decision) -> str:
    rule = ""
    if decision.routing_rule is not None:
        line = loaded.routing.rules[decision.routing_rule].line
        rule = f" (routing.rules[{decision.routing_rule}], line {line})"
    if decision.action == "send":
        return "decision: send (the draft goes out as it is)"
    if decision.action == "review":
        return f"decision: review (held for team {decision.review_team}){rule}"
    return f"decision: transfer, {decision.transfer_mode}, to team {decision.team}{rule}"
