"""The warm-transfer package, on our own cases and on real support threads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.transfers.package import (
    Contact,
    Exchange,
    Situation,
    build,
    extractive_summary,
    telling_sentences,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "conversations.jsonl"
TRIGGER = {
    "type": "explicit_request",
    "detail": "the customer asked for a person",
    "evidence": "talk to a human",
    "hard": True,
}


def situation(messages: list[str], **extra: object) -> Situation:
    exchanges = [
        Exchange(datetime(2026, 11, 1, 9, i, tzinfo=UTC), m, f"draft {i}", "refund", -0.1 * i)
        for i, m in enumerate(messages)
    ]
    return Situation(
        customer_id="cust-9", exchanges=exchanges, triggers=[TRIGGER], topics=["billing"], **extra
    )  # type: ignore[arg-type]


def test_package_carries_everything_a_person_needs() -> None:
    contact = Contact("c-old", ("refund",), ("billing",), False, datetime(2026, 10, 30, tzinfo=UTC))
    pkg = build(
        situation(
            ["My refund never came.", "It has been three weeks! Talk to a human."],
            contacts=[contact],
            locale="en-GB",
            tier="gold",
        )
    )
    assert pkg["headline"] == "Customer cust-9 about refund: the customer asked for a person"
    assert pkg["customer"] == {"id": "cust-9", "tier": "gold", "locale": "en-GB"}
    assert pkg["issue"] == {"intent": "refund", "topics": ["billing"]}
    assert pkg["escalated_because"][0]["evidence"] == "talk to a human"
    assert pkg["sentiment_trajectory"] == [0.0, -0.1]
    assert pkg["ai_last_draft"] == "draft 1"
    assert [t["customer"] for t in pkg["transcript"]] == [
        "My refund never came.",
        "It has been three weeks! Talk to a human.",
    ]
    assert pkg["prior_contacts"][0]["ended"] == "unresolved"
    assert "refund" in pkg["summary"].lower()


def test_summary_is_extractive_and_short() -> None:
    messages = [
        "Hello.",
        "My parcel 123 is lost and the tracking page says delivered.",
        "I was home all day. Nobody came. The parcel is lost, I want my money back.",
        "Thanks.",
    ]
    summary = extractive_summary(messages, ["lost_parcel"])
    sentences = [s for m in messages for s in m.replace("! ", ". ").split(". ")]
    assert 0 < len(summary) <= 3 * 240
    assert "parcel" in summary.lower()
    assert all(
        any(part.strip(" .") in s for s in sentences)
        for part in summary.split(". ")
        if part.strip(" .")
    )
    assert extractive_summary([], []) == ""


def _threads() -> list[list[str]]:
    if not DATA.exists():
        pytest.skip("shared evaluation data not present")
    threads = []
    for line in DATA.read_text().splitlines():
        convo = json.loads(line)
        said = [t["text"] for t in convo["turns"] if t["speaker"] == "customer"]
        if len(said) >= 2:
            threads.append(said)
    return threads


def test_packages_from_real_threads_quote_the_customer() -> None:
    threads = _threads()
    assert len(threads) >= 50
    for said in threads:
        pkg = build(situation(said))
        assert len(pkg["transcript"]) == min(len(said), 20)
        assert pkg["last_message"] == said[-1]
        # The summary is the customer's own words, not invented text.
        picked = telling_sentences(said[-20:], ["refund", "billing"])
        assert len(picked) <= 3 and all(any(p in m for m in said) for p in picked)
        assert pkg["summary"].startswith(picked[0][:200]) if picked else pkg["summary"] == ""
