"""The warm-transfer package: what a person reads before engaging, so the customer need not
repeat themselves (pure). The short summary is extractive; a model can take its seat."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

MAX_TRANSCRIPT_TURNS = 20
SUMMARY_SENTENCES = 3


@dataclass(frozen=True)
class Exchange:
    """One turn of the conversation: what the customer said and what the AI drafted."""

    at: datetime | None
    message: str
    draft: str
    intent: str | None = None
    sentiment: float | None = None


@dataclass(frozen=True)
class Contact:
    conversation_id: str
    intents: tuple[str, ...]
    topics: tuple[str, ...]
    resolved: bool | None
    last_at: datetime | None


@dataclass(frozen=True)
class Situation:
    customer_id: str
    exchanges: Sequence[Exchange]  # oldest first, the current turn last
    triggers: Sequence[dict[str, Any]]
    topics: Sequence[str] = ()
    contacts: Sequence[Contact] = ()
    locale: str | None = None
    tier: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Summarizer(Protocol):
    def __call__(self, messages: Sequence[str], focus: Sequence[str]) -> str: ...


_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "you",
        "your",
        "are",
        "was",
        "were",
        "have",
        "has",
        "had",
        "this",
        "that",
        "with",
        "not",
        "but",
        "can",
        "could",
        "would",
        "will",
        "what",
        "when",
        "where",
        "which",
        "who",
        "how",
        "why",
        "they",
        "them",
        "their",
        "there",
        "here",
        "from",
        "been",
        "into",
        "just",
        "about",
        "please",
        "thanks",
        "thank",
        "hello",
        "dear",
        "also",
        "still",
        "very",
        "more",
        "some",
        "any",
        "all",
        "its",
        "it's",
        "i'm",
    ]
)


def extractive_summary(messages: Sequence[str], focus: Sequence[str]) -> str:
    return " ".join(_clip(s) for s in telling_sentences(messages, focus))


def telling_sentences(messages: Sequence[str], focus: Sequence[str]) -> list[str]:
    """The customer's most telling sentences, in their order: words the customer repeats across
    messages, and the words of the intent and topics, weigh most."""
    sentences = [s.strip() for m in messages for s in _SENTENCE.split(m) if len(s.strip()) > 3]
    if not sentences:
        return []
    counts = Counter(w for s in sentences for w in set(_words(s)))
    focus_words = {w for f in focus for w in _words(f.replace("_", " "))}

    def score(index: int) -> float:
        words = _words(sentences[index])
        if not words:
            return 0.0
        weight = sum(counts[w] + (3 if w in focus_words else 0) for w in words)
        recency = index / len(sentences)  # the latest message says where things stand
        return weight / (len(words) ** 0.5) + recency

    best = sorted(range(len(sentences)), key=score, reverse=True)[:SUMMARY_SENTENCES]
    return [sentences[i] for i in sorted(best)]


def _words(text: str) -> list[str]:
    return [w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOP]


def _clip(sentence: str, limit: int = 240) -> str:
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"


def build(situation: Situation, summarize: Summarizer = extractive_summary) -> dict[str, Any]:
    exchanges = list(situation.exchanges)[-MAX_TRANSCRIPT_TURNS:]
    current = exchanges[-1]
    intents = [e.intent for e in exchanges if e.intent]
    focus = [*intents[-1:], *situation.topics]
    reasons = [t.get("detail") for t in situation.triggers if t.get("detail")]
    headline = f"Customer {situation.customer_id}"
    if current.intent:
        headline += f" about {current.intent.replace('_', ' ')}"
    if reasons:
        headline += f": {reasons[0]}"
    return {
        "headline": headline,
        "summary": summarize([e.message for e in exchanges], focus),
        "customer": {
            "id": situation.customer_id,
            "tier": situation.tier,
            "locale": situation.locale,
        },
        "issue": {"intent": current.intent, "topics": list(situation.topics)},
        "escalated_because": [dict(t) for t in situation.triggers],
        "sentiment_trajectory": [e.sentiment for e in exchanges],
        "ai_last_draft": current.draft,
        "last_message": current.message,
        "transcript": [
            {"at": e.at.isoformat() if e.at else None, "customer": e.message, "ai_draft": e.draft}
            for e in exchanges
        ],
        "prior_contacts": [
            {
                "conversation_id": c.conversation_id,
                "intents": list(c.intents),
                "topics": list(c.topics),
                "ended": "resolved"
                if c.resolved
                else ("unresolved" if c.resolved is False else "no outcome"),
                "last_at": c.last_at.isoformat() if c.last_at else None,
            }
            for c in situation.contacts
        ],
    }


def tier_of(metadata: dict[str, Any] | None) -> str | None:
    """The customer's tier, as the channel sent it in a turn's metadata."""
    return str((metadata or {}).get("customer_tier") or "") or None
