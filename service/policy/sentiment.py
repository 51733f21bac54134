"""Per-message sentiment: VADER's compound score, computed faster but to the same value."""

from __future__ import annotations

import string
from functools import lru_cache

from vaderSentiment import vaderSentiment as vs

# A port of vaderSentiment 3.3.2's polarity_scores (MIT licence, C.J. Hutto) for the compound
# score only. The original lower-cases the whole message once per sentiment word, which is
# quadratic; here each message is lower-cased once. tests/unit/test_policy_sentiment.py checks
# that both give the same score.
_ANALYZER = vs.SentimentIntensityAnalyzer()
_LEXICON: dict[str, float] = _ANALYZER.lexicon
_BOOSTERS: dict[str, float] = vs.BOOSTER_DICT
_SPECIAL: dict[str, float] = vs.SPECIAL_CASES
_NEGATE = frozenset(vs.NEGATE)
_PUNCT = string.punctuation
_EMOJIS: dict[str, str] = _ANALYZER.emojis
# VADER looks emoji up one character at a time, so only one-character entries ever match.
_EMOJI_CHARS = frozenset(e for e in _EMOJIS if len(e) == 1)


@lru_cache(maxsize=4096)
def score(text: str) -> float:
    """VADER's compound score in -1..1 (cached: channels resend the same short messages)."""
    if not text.isascii() and not _EMOJI_CHARS.isdisjoint(text):
        text = _describe_emoji(text)
    text = text.strip()
    lower = [w if len(w := t.strip(_PUNCT)) > 2 else t for t in text.lower().split()]
    if _LEXICON.keys().isdisjoint(lower):
        return 0.0  # only lexicon words carry sentiment
    hits = [i for i, word in enumerate(lower) if word in _LEXICON]
    words = [w if len(w := t.strip(_PUNCT)) > 2 else t for t in text.split()]
    capitals = sum(1 for w in words if w.isupper())
    cap_diff = 0 < len(words) - capitals < len(words)
    sentiments = [0.0] * len(words)
    for i in hits:
        if lower[i] not in _BOOSTERS and not _kind_of(lower, i):
            sentiments[i] = _valence(words, lower, i, cap_diff)
    if "but" in lower:
        sentiments = _but_check(lower, sentiments)
    return _compound(sentiments, text)


def _describe_emoji(text: str) -> str:
    """Each emoji replaced by its lexicon description, spaced exactly as VADER spaces it."""
    out: list[str] = []
    prev_space = True
    for char in text:
        description = _EMOJIS.get(char)
        if description is None:
            out.append(char)
            prev_space = char == " "
        else:
            if not prev_space:
                out.append(" ")
            out.append(description)
            prev_space = False
    return "".join(out)


def _kind_of(lower: list[str], i: int) -> bool:
    return i < len(lower) - 1 and lower[i] == "kind" and lower[i + 1] == "of"


def _negated(word: str) -> bool:
    return word in _NEGATE or "n't" in word


def _valence(words: list[str], lower: list[str], i: int, cap_diff: bool) -> float:
    item = lower[i]
    valence = _LEXICON[item]
    if item == "no" and i != len(lower) - 1 and lower[i + 1] in _LEXICON:
        valence = 0.0
    if (
        (i > 0 and lower[i - 1] == "no")
        or (i > 1 and lower[i - 2] == "no")
        or (i > 2 and lower[i - 3] == "no" and lower[i - 1] in ("or", "nor"))
    ):
        valence = _LEXICON[item] * vs.N_SCALAR
    if cap_diff and words[i].isupper():
        valence += vs.C_INCR if valence > 0 else -vs.C_INCR
    for start in range(3):
        if i > start and lower[i - (start + 1)] not in _LEXICON:
            boost = _scalar(words[i - (start + 1)], lower[i - (start + 1)], valence, cap_diff)
            if boost != 0 and start:
                boost *= 0.95 if start == 1 else 0.9
            valence = _negation(valence + boost, lower, start, i)
            if start == 2:
                valence = _idioms(valence, lower, i)
    return _least(valence, lower, i)


def _scalar(word: str, low: str, valence: float, cap_diff: bool) -> float:
    if low not in _BOOSTERS:
        return 0.0
    scalar = _BOOSTERS[low]
    if valence < 0:
        scalar *= -1
    if cap_diff and word.isupper():
        scalar += vs.C_INCR if valence > 0 else -vs.C_INCR
    return scalar


def _negation(valence: float, lower: list[str], start: int, i: int) -> float:
    if start == 0:
        return valence * vs.N_SCALAR if _negated(lower[i - 1]) else valence
    if start == 1:
        if lower[i - 2] == "never" and lower[i - 1] in ("so", "this"):
            return valence * 1.25
        if lower[i - 2] == "without" and lower[i - 1] == "doubt":
            return valence
        return valence * vs.N_SCALAR if _negated(lower[i - 2]) else valence
    if (lower[i - 3] == "never" and lower[i - 2] in ("so", "this")) or lower[i - 1] in (
        "so",
        "this",
    ):
        return valence * 1.25
    if lower[i - 3] == "without" and (lower[i - 2] == "doubt" or lower[i - 1] == "doubt"):
        return valence
    return valence * vs.N_SCALAR if _negated(lower[i - 3]) else valence


def _idioms(valence: float, lower: list[str], i: int) -> float:
    one_zero = f"{lower[i - 1]} {lower[i]}"
    two_one_zero = f"{lower[i - 2]} {lower[i - 1]} {lower[i]}"
    two_one = f"{lower[i - 2]} {lower[i - 1]}"
    three_two_one = f"{lower[i - 3]} {lower[i - 2]} {lower[i - 1]}"
    three_two = f"{lower[i - 3]} {lower[i - 2]}"
    for seq in (one_zero, two_one_zero, two_one, three_two_one, three_two):
        if seq in _SPECIAL:
            valence = _SPECIAL[seq]
            break
    if len(lower) - 1 > i:
        zero_one = f"{lower[i]} {lower[i + 1]}"
        if zero_one in _SPECIAL:
            valence = _SPECIAL[zero_one]
    if len(lower) - 1 > i + 1:
        zero_one_two = f"{lower[i]} {lower[i + 1]} {lower[i + 2]}"
        if zero_one_two in _SPECIAL:
            valence = _SPECIAL[zero_one_two]
    for n_gram in (three_two_one, three_two, two_one):
        if n_gram in _BOOSTERS:
            valence += _BOOSTERS[n_gram]
    return valence


def _least(valence: float, lower: list[str], i: int) -> float:
    if i > 1 and lower[i - 1] not in _LEXICON and lower[i - 1] == "least":
        if lower[i - 2] not in ("at", "very"):
            return valence * vs.N_SCALAR
        return valence
    if i > 0 and lower[i - 1] not in _LEXICON and lower[i - 1] == "least":
        return valence * vs.N_SCALAR
    return valence


def _but_check(lower: list[str], sentiments: list[float]) -> list[float]:
    # Kept exactly as VADER does it, including finding each value by its first occurrence.
    but = lower.index("but")
    for sentiment in sentiments:
        si = sentiments.index(sentiment)
        if si < but:
            sentiments.pop(si)
            sentiments.insert(si, sentiment * 0.5)
        elif si > but:
            sentiments.pop(si)
            sentiments.insert(si, sentiment * 1.5)
    return sentiments


def _compound(sentiments: list[float], text: str) -> float:
    total = float(sum(sentiments))
    exclamations = min(text.count("!"), 4) * 0.292
    questions = text.count("?")
    asked = 0.0 if questions <= 1 else questions * 0.18 if questions <= 3 else 0.96
    emphasis = exclamations + asked
    if total > 0:
        total += emphasis
    elif total < 0:
        total -= emphasis
    return round(vs.normalize(total), 4)
