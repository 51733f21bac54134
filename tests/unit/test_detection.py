"""The semantic detector on real inference: the bundled encoder, the shipped heads, the engine.

The messages here were written for these tests; none is in the training or tuning data, and
none comes from the evaluation sets (bench/detectors.py measures on those).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from support import ROOT

from service.detection import binding, encoder, train
from service.detection import heads as heads_
from service.detection.reading import Reading
from service.detection.service import Detector
from service.policy import engine
from service.policy.loader import load_policy, parse_policy

POLICY = load_policy(ROOT / "policies" / "default.yaml")


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector()


def decide(detector: Detector, message: str, policy: engine.Policy = POLICY) -> engine.Decision:
    reading = detector.read_all(policy, [message])[0]
    signals = engine.Signals(message=message, draft_text="", confidence=0.95, reading=reading)
    return engine.evaluate(policy, "chat", engine.Facts(), signals)


def test_the_encoder_is_deterministic_and_unit_length() -> None:
    first = encoder.shared().encode(["Where is my parcel?", "¿Dónde está mi paquete?"])
    again = encoder.shared().encode(["Where is my parcel?", "¿Dónde está mi paquete?"])
    assert np.array_equal(first, again)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-4)
    # Multilingual: a translation is nearer than an unrelated question.
    other = encoder.shared().encode(["Can I change my password?"])[0]
    assert float(first[0] @ first[1]) > float(first[0] @ other) + 0.2


def test_long_messages_are_also_read_sentence_by_sentence() -> None:
    text = (
        "My order came late again, the third time since the start of March. The box was "
        "crushed and every glass inside it was broken. Honestly, can I talk to someone real?"
    )
    assert len(text.encode()) > encoder.SPLIT_OVER
    assert encoder.segments(text)[1:] == [
        "My order came late again, the third time since the start of March.",
        "The box was crushed and every glass inside it was broken.",
        "Honestly, can I talk to someone real?",
    ]
    assert encoder.segments("Where is it? It was due Monday.") == [
        "Where is it? It was due Monday."
    ]
    assert encoder.segments("agent") == ["agent"]


def test_the_shipped_heads_were_fitted_on_the_data_in_the_project() -> None:
    """Editing data/train or data/tune without running service.detection.train fails here."""
    heads = heads_.load()
    rows = train.read(train.DATA / "train") + train.read(train.DATA / "tune")
    assert heads.report["data"] == train.data_digest(rows)
    assert heads.encoder == encoder.identity()
    assert set(heads.names) == set(heads_.HEADS)


ASKS = [
    "could you get a human on the line for me please",
    "je voudrais parler à un conseiller, pas à un robot",
    "Bitte verbinden Sie mich mit einem Mitarbeiter.",
    "quero falar com um atendente humano",
    "posso parlare con un operatore in carne e ossa?",
    "kan ik iemand van de klantenservice spreken",
    "czy mogę porozmawiać z konsultantem?",
    "bir müşteri temsilcisiyle görüşmek istiyorum",
    "オペレーターに代わってください",
    "أريد التحدث مع موظف خدمة العملاء",
]
CALM = [
    "no need to put me through to anyone, just tell me the opening hours",
    "the agent I spoke to on Monday sorted it, thank you",
    "I'm dying to know when the new colour is back in stock",
    "what time does the pharmacy counter close on Sundays?",
    "my phone battery died halfway through the checkout, did the order go through?",
    "can I update the emergency contact on my account?",
    # Greetings and acknowledgements open and close most chats; none asks for anyone.
    "Hi",
    "hello again",
    "Bonjour",
    "Hallo",
    "ok",
    "test",
]


@pytest.mark.parametrize("message", ASKS)
def test_requests_for_a_person_in_many_languages_transfer(detector: Detector, message: str) -> None:
    decision = decide(detector, message)
    fired = {t.type: t for t in decision.triggers}
    assert decision.action == "transfer"
    assert "explicit_request" in fired
    trigger = fired["explicit_request"]
    assert trigger.score is not None and trigger.evidence


@pytest.mark.parametrize("message", CALM)
def test_mentions_declines_and_figures_of_speech_are_sent(detector: Detector, message: str) -> None:
    decision = decide(detector, message)
    assert decision.action == "send", [(t.rule_id, t.evidence, t.score) for t in decision.triggers]


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("honestly I don't see the point of going on, nobody would notice", "distress"),
        ("I slipped in the kitchen and I can't get back up, I'm typing from the floor", "distress"),
        ("he reads all my messages and takes my card, please don't call the house", "distress"),
        ("I'm going to take this to the small claims court if it isn't fixed", "topic"),
        ("there is a payment on my card to a shop abroad that I never made", "topic"),
        ("should I fix my mortgage for five years or stay on the variable rate?", "topic"),
    ],
)
def test_distress_and_topics_fire_without_their_keywords(
    detector: Detector, message: str, kind: str
) -> None:
    decision = decide(detector, message)
    assert decision.action == "transfer"
    assert kind in {t.type for t in decision.triggers}


POLICY_TEXT = (ROOT / "policies" / "default.yaml").read_text()


def edited(after: str, lines: str) -> engine.Policy:
    """The default policy with lines inserted after the line `after`."""
    assert f"\n{after}\n" in POLICY_TEXT
    return parse_policy(POLICY_TEXT.replace(f"\n{after}\n", f"\n{after}\n{lines}", 1))


def test_a_policy_example_fires_its_topic_in_another_language(detector: Detector) -> None:
    policy = edited(
        "  topics:",
        "    - name: warranty\n"
        "      examples: ['my product broke and it is still under warranty']\n"
        "      team: general\n",
    )
    assert policy.triggers.topics[0].name == "warranty"
    decision = decide(detector, "mi producto se rompió y todavía está en garantía", policy)
    fired = [t for t in decision.triggers if t.rule_id == "topics.warranty"]
    assert fired and "policy example" in (fired[0].evidence or "")
    assert decide(detector, "where is my parcel?", policy).action == "send"


def test_a_threshold_in_the_policy_moves_the_head(detector: Detector) -> None:
    message = "would it be possible for one of your colleagues to go through this with me?"
    score = detector.read_all(POLICY, [message])[0].scores["explicit_request"]
    strict = edited("  explicit_request:", f"    threshold: {min(score + 0.01, 1):.4f}\n")
    loose = edited("  explicit_request:", f"    threshold: {max(score - 0.01, 0):.4f}\n")
    assert "explicit_request" in {t.type for t in decide(detector, message, loose).triggers}
    assert "explicit_request" not in {t.type for t in decide(detector, message, strict).triggers}
    assert strict.version != loose.version


def test_the_model_is_part_of_the_policy_version() -> None:
    heads = heads_.load()
    other = dataclasses.replace(heads, digest="0" * 64)
    unbound = load_policy(ROOT / "policies" / "default.yaml", bind=False)
    assert binding.bind(unbound, heads).version == POLICY.version
    assert binding.bind(unbound, other).version != POLICY.version


def test_a_stored_reading_decides_exactly_as_the_live_one(detector: Detector) -> None:
    message = "this is the third time I write, can a supervisor please look at my refund"
    live = detector.read_all(POLICY, [message])[0]
    stored = Reading.from_stored(json.loads(json.dumps(live.stored())))
    assert stored.scores == live.scores and stored.detector == live.detector
    signals = engine.Signals(message=message, draft_text="", confidence=0.9)
    a = engine.evaluate(POLICY, "email", engine.Facts(), dataclasses.replace(signals, reading=live))
    b = engine.evaluate(
        POLICY, "email", engine.Facts(), dataclasses.replace(signals, reading=stored)
    )
    assert (a.action, a.rule_ids, a.sentiment) == (b.action, b.rule_ids, b.sentiment)


def test_sustained_frustration_is_caught_across_turns(detector: Detector) -> None:
    turns = [
        "still nothing. the tracking hasn't moved since Tuesday",
        "oh brilliant, another automated reply telling me to wait. fantastic service",
        "honestly this is getting ridiculous, I've been more than patient",
    ]
    prior: list[engine.PriorTurn] = []
    fired: set[str] = set()
    for text in turns:
        reading = detector.read_all(POLICY, [text])[0]
        signals = engine.Signals(message=text, draft_text="", confidence=0.95, reading=reading)
        decision = engine.evaluate(POLICY, "chat", engine.Facts(turns=tuple(prior)), signals)
        fired |= {t.type for t in decision.triggers}
        prior.append(engine.PriorTurn(None, decision.sentiment))
    assert "sentiment" in fired
