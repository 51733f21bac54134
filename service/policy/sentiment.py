"""Per-message sentiment from VADER's lexicon, skipping VADER when no word could score."""

from __future__ import annotations

from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

_ANALYZER = SentimentIntensityAnalyzer()
_LEXICON = frozenset(_ANALYZER.lexicon)
_EDGE_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


def _may_score(text: str) -> bool:
    """False only when VADER would certainly return 0: no token is in its lexicon.

    VADER scores nothing but lexicon words (after lower-casing and stripping edge punctuation),
    and turns emoji into words first, so non-ASCII text always goes through it.
    """
    if not text.isascii():
        return True
    lexicon = _LEXICON
    for token in text.lower().split():
        if token in lexicon or token.strip(_EDGE_PUNCT) in lexicon:
            return True
    return False


@lru_cache(maxsize=4096)
def score(text: str) -> float:
    """VADER's compound score in -1..1 (cached: channels resend the same short messages)."""
    if not text or not _may_score(text):
        return 0.0
    return float(_ANALYZER.polarity_scores(text)["compound"])
