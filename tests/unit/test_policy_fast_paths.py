"""The engine's fast paths give exactly what the plain ways of doing the same thing give."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from service.policy import detectors, keywords, phrases, sentiment
from service.policy.model import DISTRESS_CATEGORIES

# Pieces that make phrases match, overlap, tie at one start, get negated or look like idioms,
# and text that is not ASCII (accents, ß, other scripts' digits, emoji, odd white space).
PIECES = [
    "talk to a human",
    "let me talk to someone",
    "agent",
    "call me back",
    "i want to talk to a real person",
    "don't need an agent",
    "no need for a human",
    "get me a supervisor",
    "is there a human available",
    "customer service number",
    "she can't breathe",
    "i want to die",
    "killing it",
    "dying to try",
    "my husband hits me",
    "heart attack",
    "passed away",
    "emergency contact",
    "hablar con un agente",
    "llámame",
    "parler à un conseiller",
    "mit einem mitarbeiter sprechen",
    "falar com um atendente",
    "parlare con un operatore",
    "someone used my card",
    "did not make this",
    "what is this charge",
    "credit report",
    "rock'n'roll",
    "e-mail",
    "401(k)",
    "Straße",
    "café",
    "٣",
    "😀",
    "’",
    "`",
    "_",
    ",",
    "!",
    "?",
    "but",
    "\t",
    "\u00a0",
]
texts = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=5)), max_size=8).map(" ".join)

_REFERENCE_TOKEN = re.compile(r"\w+(?:'\w+)*")


# Two phrases match at one start here, and the one first seen as a candidate (at "what")
# has the higher number: ties must keep candidates() order, not phrase-number order.
TIES = [
    "what is this charge, get me a supervisor customer service number",
    "get me a supervisor customer service number",
    "is there a human available customer service number",
]


@pytest.mark.parametrize("text", TIES)
def test_phrase_matches_keep_tie_order(text: str) -> None:
    folded = detectors.fold(text)
    fast = [(n, m.span()) for n, m in detectors._PHRASES.finditer(folded)]
    assert fast == [(n, m.span()) for n, m in detectors._PHRASES._finditer_everywhere(folded)]


@settings(max_examples=300, deadline=None)
@given(texts)
def test_phrase_matches_same_as_candidate_scan(text: str) -> None:
    """One pass over the word starts finds what candidates() then matching finds, in order."""
    folded = detectors.fold(text)
    fast = [(n, m.span()) for n, m in detectors._PHRASES.finditer(folded)]
    plain = [(n, m.span()) for n, m in detectors._PHRASES._finditer_everywhere(folded)]
    assert fast == plain


@settings(max_examples=300, deadline=None)
@given(st.one_of(texts, st.text(alphabet=st.characters(max_codepoint=127), max_size=40)))
def test_words_same_as_token_regex(text: str) -> None:
    folded = detectors.fold(text)
    expected = [w.replace("'", "") for w in _REFERENCE_TOKEN.findall(folded)]
    assert phrases.words_of(folded) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
def test_ascii_regexes_same_as_unicode_ones(text: str) -> None:
    """On plain ASCII text the ASCII-mode copies match exactly where the Unicode ones do."""
    phrase_set = detectors._PHRASES
    pairs = [
        *zip(detectors._ASCII, detectors._UNICODE, strict=True),
        *zip(phrase_set._ascii_patterns, phrase_set.patterns, strict=True),
        (phrase_set._ascii_gate, phrase_set._fast_gate),
    ]
    for sample in filter(phrases.plain_ascii, (text, detectors.fold(text))):
        for fast, plain in pairs:
            assert [m.span() for m in fast.finditer(sample)] == [
                m.span() for m in plain.finditer(sample)
            ]


@settings(max_examples=200, deadline=None)
@given(texts)
def test_detectors_on_text_or_string_agree(text: str) -> None:
    prepared = detectors.prepare(text)
    assert detectors.explicit_request(prepared) == detectors.explicit_request(text)
    assert detectors.distress(prepared, DISTRESS_CATEGORIES) == detectors.distress(
        text, DISTRESS_CATEGORIES
    )


def _plain_first_hits(index_keywords: list[keywords.Keyword], words: list[str]) -> dict[int, str]:
    """Every keyword tried at every word, in order: what KeywordIndex.first_hits must give."""
    found: dict[int, str] = {}
    for i, word in enumerate(words):
        for keyword in index_keywords:
            if keyword.group in found or not keyword.steps[0].accepts(word):
                continue
            end = keywords._match_rest(keyword.steps, 1, words, i + 1)
            if end is not None:
                found[keyword.group] = " ".join(words[i:end])
    return found


WORDS = [
    *("my", "not", "me", "rights", "credit", "is", "someone", "used", "card", "cards"),
    *("lost", "did", "make", "reports", "lawyers", "cardiologist", "fraud", "x"),
]
KEYWORDS = [
    "lawyer*",
    "*ologist",
    "my rights",
    "my credit is",
    "not me",
    "not authori*",
    "someone ... my card*",
    "did not ... make",
    "card* ... lost",
    "credit report*",
    "fraud",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(WORDS),
        max_size=14,
    )
)
def test_keyword_index_same_as_trying_every_keyword(words: list[str]) -> None:
    parsed = [keywords.parse_keyword(n % 3, k, detectors.fold(k)) for n, k in enumerate(KEYWORDS)]
    listed = [k for k in parsed if k is not None]
    # Groups are matched in keyword order within the index's candidate lists, which follow
    # the policy's order for exact, then prefix, then suffix first steps; compare per group
    # membership and evidence with a plain scan over the same order.
    index = keywords.KeywordIndex(listed)
    ordered = sorted(
        listed,
        key=lambda k: {"exact": 0, "prefix": 1, "suffix": 2}.get(k.steps[0].kind, 3),
    )
    assert index.first_hits(words, 3) == _plain_first_hits(ordered, words)


VADER = SentimentIntensityAnalyzer()
EMOJI = sorted(sentiment._EMOJI_CHARS)[::40]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(EMOJI), st.sampled_from(["good", "BAD", "but", "no", " ", "!"])),
        max_size=12,
    ).map("".join)
)
def test_sentiment_with_emoji_same_as_vader(text: str) -> None:
    sentiment.score.cache_clear()
    assert sentiment.score(text) == VADER.polarity_scores(text)["compound"]
