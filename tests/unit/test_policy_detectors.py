"""Tables of cases for the text detectors: explicit request, distress, topics, folding."""

from __future__ import annotations

import pytest

from service.policy import detectors
from service.policy.model import DISTRESS_CATEGORIES, TopicPolicy

ASKS_FOR_A_PERSON = [
    # English, direct and indirect
    "agent",
    "Representative!!",
    "operator please",
    "HUMAN",
    "a live person now",
    "can I talk to someone real?",
    "get me a supervisor",
    "call me back",
    "Please call me back tomorrow morning",
    "I'd like to speak with a manager about this",
    "put me through to customer service",
    "transfer me to a real person please",
    "is there a human I can chat with",
    "let me talk to an actual human being",
    "I need to speak to somebody from your billing team",
    "connect me with an agent",
    "I need a real person, not a bot",
    "stop the bot, I need help",
    "give me a call on my mobile",
    "what's your customer service number?",
    "how can I reach someone by phone",
    "i dont want to talk to a robot",
    "Can you escalate this please",
    "this isn't helping, can i speak with a person",
    "need a rep asap",
    "talk to agent",
    # Spanish, French, German, Portuguese, Italian
    "quiero hablar con un agente",
    "¿Puedo hablar con una persona real?",
    "Llámenme por favor",
    "páseme con un supervisor",
    "je veux parler à un conseiller",
    "Passez-moi un responsable s'il vous plaît",
    "rappelez-moi demain",
    "Ich möchte mit einem Mitarbeiter sprechen",
    "Bitte rufen Sie mich zurück",
    "verbinden Sie mich bitte mit einem Menschen",
    "quero falar com um atendente",
    "Me liga, por favor",
    "preciso de um atendente humano",
    "vorrei parlare con un operatore",
    "Mi richiami appena può",
    "passami un operatore",
]

DOES_NOT_ASK = [
    # negated
    "no need for an agent, it works now",
    "I don't need a human anymore, thanks",
    "never mind, no need to call me back",
    "you do not need to transfer me to anyone",
    "no necesito hablar con un agente",
    "pas besoin de parler à un conseiller",
    "ich brauche keinen Mitarbeiter mehr",
    "não preciso falar com um atendente",
    "non serve parlare con un operatore",
    # mere mentions
    "your agent Maria was great",
    "The representative I spoke to yesterday fixed it",
    "the agent told me the parcel would come on Monday",
    "I asked to speak to a supervisor last week and she solved it",
    "your human resources page is broken",
    "are you a human?",
    "are you a real person or a bot",
    "the manager of the store was rude",
    "my phone number changed",
    "where is my order",
    "thank you so much, that's perfect",
    "I want to talk about my invoice",
    "how do I change my login password",
    "can you track parcel 123",
    "i called the number on the website and it worked",
]


@pytest.mark.parametrize("message", ASKS_FOR_A_PERSON)
def test_explicit_request_fires(message: str) -> None:
    assert detectors.explicit_request(message) is not None, message


@pytest.mark.parametrize("message", DOES_NOT_ASK)
def test_explicit_request_does_not_fire(message: str) -> None:
    assert detectors.explicit_request(message) is None, message


def test_explicit_request_gives_evidence() -> None:
    hit = detectors.explicit_request("Honestly, just get me a supervisor.")
    assert hit is not None and "supervisor" in hit.evidence


def test_negation_in_another_clause_does_not_cancel() -> None:
    assert detectors.explicit_request("I don't want the bot, get me a person") is not None


DISTRESS = [
    ("self_harm", "I can't take this anymore, I want to kill myself"),
    ("self_harm", "sometimes I think about ending my life"),
    ("self_harm", "estoy pensando en quitarme la vida"),
    ("violence", "if this isn't fixed I'm going to hurt someone at your office"),
    ("violence", "I will kill you all"),
    ("violence", "there is a bomb threat at the store"),
    ("abuse", "my husband hits me and controls all our money"),
    ("abuse", "I am being abused by my partner"),
    ("abuse", "domestic violence survivor, I need my address hidden"),
    ("emergency", "my father is having a heart attack right now"),
    ("emergency", "she can't breathe, what do I do"),
    ("emergency", "I was in a car accident this morning"),
    ("emergency", "I need to report an accident with my car"),
    ("emergency", "call an ambulance"),
    ("bereavement", "my mother passed away last week and I need to close her account"),
    ("bereavement", "I'm arranging the funeral and need the policy documents"),
    ("bereavement", "my husband died in March"),
    ("bereavement", "mi padre falleció y quiero cancelar su cuenta"),
]

NOT_DISTRESS = [
    "this queue is killing me",
    "I'm dying to try the new model",
    "the new feature is killing it",
    "what is your emergency contact number",
    "I accidentally deleted my playlist",
    "the battery died after an hour",
    "can smoking cause a heart attack",
    "my card was declined at the shop",
    "I lost my password",
]


@pytest.mark.parametrize(("category", "message"), DISTRESS)
def test_distress_category_fires(category: str, message: str) -> None:
    kinds = [hit.key for hit in detectors.distress(message, DISTRESS_CATEGORIES)]
    assert category in kinds, (message, kinds)


@pytest.mark.parametrize("message", NOT_DISTRESS)
def test_distress_does_not_fire_on_idioms(message: str) -> None:
    assert detectors.distress(message, DISTRESS_CATEGORIES) == []


def test_distress_respects_enabled_categories() -> None:
    message = "my mother passed away"
    assert detectors.distress(message, ("self_harm",)) == []
    assert [h.key for h in detectors.distress(message, ("bereavement",))] == ["bereavement"]


TOPICS = (
    TopicPolicy(
        name="legal", labels=("legal", "Lawsuit"), keywords=("lawyer*", "sue", "legal action")
    ),
    TopicPolicy(name="fraud", keywords=("fraud*", "someone ... my card", "didn't make")),
    TopicPolicy(name="medical", keywords=("*ologist", "side effect*", "médico")),
)


@pytest.mark.parametrize(
    ("message", "labels", "expected"),
    [
        ("I will talk to my lawyers", (), ["legal"]),
        ("I'll SUE you", (), ["legal"]),
        ("we are taking legal   action", (), ["legal"]),
        ("suede shoes and a pursuit", (), []),
        ("the issue", (), []),
        ("nothing here", ("LAWSUIT",), ["legal"]),
        ("nothing here", ("billing",), []),
        ("fraudulent charge", (), ["fraud"]),
        ("someone has been using my card", (), ["fraud"]),
        ("someone said my card is nice and then left my card", (), ["fraud"]),
        ("my card and someone", (), []),
        ("I didnt make this payment", (), ["fraud"]),
        ("I didn’t make this payment", (), ["fraud"]),
        ("my cardiologist said so", (), ["medical"]),
        ("ologist", (), ["medical"]),
        ("any SIDE-EFFECTS?", (), ["medical"]),
        ("necesito un medico", (), ["medical"]),
        ("Necesito un MÉDICO", (), ["medical"]),
        ("fraud and a lawyer", (), ["legal", "fraud"]),
    ],
)
def test_topics(message: str, labels: tuple[str, ...], expected: list[str]) -> None:
    matcher = detectors.compile_topics(TOPICS)
    folded_labels = [detectors.fold_label(label) for label in labels]
    assert [hit.key for hit in matcher.match(message, folded_labels)] == expected


def test_topic_gap_is_at_most_four_words() -> None:
    matcher = detectors.compile_topics(TOPICS)
    assert matcher.match("someone one two three four my card", ()) != []
    assert matcher.match("someone one two three four five my card", ()) == []


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Crème BRÛLÉE", "creme brulee"),
        ("Straße", "strasse"),
        ("don’t  \t stop", "don't stop"),
        ("ＦＵＬＬ width", "full width"),
        ("São Paulo", "sao paulo"),
        ("", ""),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert detectors.fold(text) == folded
