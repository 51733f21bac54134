"""Replay input made up deterministically: from support threads (customer turns only), or from
scratch at any size. For tests and benchmarks; nothing here is random between runs."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

CHANNELS = ("chat", "chat", "email", "sms", "voice")
INTENTS = ("order_status", "refund", "billing", "delivery", "account", "cancel_subscription", None)
_START = datetime(2026, 1, 5, tzinfo=UTC)
_DRAFT = "Thanks for getting in touch, here is what I found."


def _unit(*parts: object) -> float:
    """A number in [0, 1) that depends only on its inputs (stands in for an AI's confidence)."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _pick(options: tuple[Any, ...], *parts: object) -> Any:
    return options[int(_unit(*parts) * len(options))]


def _thread_time(turn: dict[str, Any], fallback: datetime) -> datetime:
    try:
        return datetime.strptime(turn["created_at"], "%a %b %d %H:%M:%S %z %Y")
    except (KeyError, TypeError, ValueError):
        return fallback


def from_threads(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Support threads ({"conversation_id", "turns": [{"speaker", "text", ...}]}) as replay
    conversations: each customer turn becomes a turn whose draft is the agent's next reply."""
    for number, row in enumerate(rows):
        cid = row["conversation_id"]
        spoken = row["turns"]
        customers = [t for t in spoken if t.get("speaker") == "customer"]
        if not customers:
            continue
        start = _START + timedelta(hours=number)
        turns: list[dict[str, Any]] = []
        for i, said in enumerate(spoken):
            if said.get("speaker") != "customer":
                continue
            reply = next(
                (t["text"] for t in spoken[i + 1 :] if t.get("speaker") == "agent"), _DRAFT
            )
            turns.append(_turn(cid, len(turns), said["text"], reply, _thread_time(said, start)))
        yield {
            "conversation_id": cid,
            "channel": _pick(CHANNELS, cid, "channel"),
            "customer_id": str(customers[0].get("author_id") or cid),
            "turns": turns,
            "outcome": _outcome(cid),
        }


def _turn(cid: str, index: int, message: str, draft: str, at: datetime) -> dict[str, Any]:
    # Skewed towards confident drafts, as a production assistant's would be.
    confidence = round(1 - _unit(cid, index, "confidence") ** 4 * 0.6, 3)
    return {
        "message": message,
        "draft": {"text": draft, "confidence": confidence, "intent": _pick(INTENTS, cid, index)},
        "topics": [],
        "sentiment": None,
        "at": at.isoformat(),
    }


def _outcome(cid: str) -> dict[str, Any] | None:
    roll = _unit(cid, "outcome")
    if roll < 0.3:
        return None
    return {"resolved": roll < 0.8, "csat": 1 + int(_unit(cid, "csat") * 5)}


_OPENERS = (
    "Hi, where is my order {n}? It was due on {day}.",
    "My package {n} still hasn't arrived and the tracking has not moved since {day}.",
    "I was charged twice for order {n}, can you refund one of them?",
    "How do I change the delivery address for order {n}?",
    "Can you cancel my subscription please, account {n}.",
    "The app keeps logging me out since {day}, account {n}.",
    "I'd like to return item {n}, it is the wrong size.",
    "Is there a discount on the annual plan? I'm on account {n}.",
)
_FOLLOW_UPS = (
    "That doesn't help, order {n} is still missing.",
    "Thanks, that worked!",
    "This is the third time I'm asking about {n}. Terrible service.",
    "Can I talk to a real person please?",
    "I will contact my lawyer if order {n} is not sorted by {day}.",
    "ok thanks",
    "Still nothing. Really disappointed and angry about {n}.",
    "Someone used my card without my permission, I don't recognise payment {n}.",
    "Great, thank you so much for the quick help.",
    "Why was I charged {n} dollars?",
    "Perfect, that's all I needed.",
    "Could you send me the invoice for {n} as well?",
    "When will the refund for {n} show up on my statement?",
    "Okay, I'll wait until {day} then.",
    "Thanks, one more question about order {n}: can I add an item?",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "the weekend")


def generate(turns: int, seed: int = 7, days: int = 30) -> Iterator[dict[str, Any]]:
    """About `turns` turns of made-up traffic: returning customers, busy afternoons, a few
    angry or legal or fraud messages, two thirds of turns without a channel sentiment score."""
    rng = random.Random(seed)
    customers = max(1, turns // 4)
    made = conversation = 0
    while made < turns:
        conversation += 1
        customer = f"cust-{rng.randrange(customers)}"
        day = rng.randrange(days)
        hour = min(23, max(0, int(rng.gauss(14, 4))))
        at = _START + timedelta(days=day, hours=hour, minutes=rng.randrange(60))
        size = min(turns - made, rng.choice((1, 1, 2, 2, 3, 3, 4, 5, 6, 8)))
        intent = rng.choice(INTENTS)
        body = []
        for index in range(size):
            template = rng.choice(_OPENERS if index == 0 else _FOLLOW_UPS)
            text = template.format(n=rng.randrange(10_000, 99_999), day=rng.choice(_DAYS))
            at += timedelta(seconds=rng.randrange(20, 600))
            body.append(
                {
                    "message": text,
                    "draft": {
                        "text": _DRAFT,
                        "confidence": round(min(1.0, rng.betavariate(8, 1.5)), 3),
                        "intent": intent if rng.random() < 0.4 else rng.choice(INTENTS),
                    },
                    "topics": rng.choice(([], [], [], ["billing"], ["delivery"])),
                    "sentiment": round(rng.uniform(-1, 1), 3) if rng.random() < 0.33 else None,
                    "at": at.isoformat(),
                }
            )
        made += size
        yield {
            "conversation_id": f"conv-{conversation}",
            "channel": rng.choice(CHANNELS),
            "customer_id": customer,
            "turns": body,
            "outcome": _outcome(f"conv-{conversation}"),
        }
