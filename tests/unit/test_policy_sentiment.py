"""The fast sentiment scorer gives exactly VADER's compound score."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from service.policy import sentiment

VADER = SentimentIntensityAnalyzer()

SENTENCES = [
    "",
    "   ",
    "where is my parcel",
    "This is GREAT, thank you!!!",
    "I am NOT happy with this at all",
    "the app is kind of good but the support was terrible",
    "no no no, this is bad",
    "not bad at all",
    "at least it works",
    "very least helpful thing ever",
    "never so good",
    "without doubt the best",
    "I love it 😍😍!!",
    "terrible 😡 and useless",
    "café horrible, muy malo",
    "why??? why is it broken???? so frustrating",
    "ok :) but :(",
    "the shit hit the fan",
    "HORRIBLE horrible HORRIBLE",
    "I don't think this is fine, but whatever",
]


@pytest.mark.parametrize("text", SENTENCES)
def test_same_as_vader(text: str) -> None:
    assert sentiment.score(text) == pytest.approx(VADER.polarity_scores(text)["compound"], abs=1e-9)


WORDS = [
    *sorted(VADER.lexicon)[::37],
    "but",
    "not",
    "no",
    "very",
    "kind",
    "of",
    "least",
    "at",
    "never",
    "so",
    "this",
    "without",
    "doubt",
    "n't",
    "!",
    "?",
]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(WORDS), st.sampled_from([w.upper() for w in WORDS]), st.text(max_size=6)
        ),
        max_size=25,
    )
)
def test_same_as_vader_on_generated_text(tokens: list[str]) -> None:
    text = " ".join(tokens)
    sentiment.score.cache_clear()
    assert sentiment.score(text) == pytest.approx(VADER.polarity_scores(text)["compound"], abs=1e-9)
