"""Per-message sentiment: VADER's compound score, computed faster but to the same value."""

from __future__ import annotations

import string
from functools import lru_cache
from itertools import compress, count, repeat
from operator import ne

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
_N_SCALAR: float = vs.N_SCALAR
_C_INCR: float = vs.C_INCR
_PUNCT = string.punctuation
_EMOJIS: dict[str, str] = _ANALYZER.emojis
# VADER looks emoji up one character at a time, so only one-character entries ever match.
_EMOJI_CHARS = frozenset(e for e in _EMOJIS if len(e) == 1)


# Words of VADER's multi-word special cases and booster n-grams: an idiom check whose
# words are not all among these cannot match anything, so _idioms can skip building strings.
_IDIOM_WORDS = frozenset(
    word for key in (*_SPECIAL, *_BOOSTERS) if " " in key for word in key.split(" ")
)


@lru_cache(maxsize=4096)
def score(text: str) -> float:
    """VADER's compound score in -1..1 (cached: channels resend the same short messages)."""
    if not text.isascii() and not _EMOJI_CHARS.isdisjoint(text):
        text = _describe_emoji(text)
    text = text.strip()
    if text.isascii():
        # ASCII lower-casing keeps every length and punctuation mark, so lower-casing the
        # words gives what tokenising the lower-cased text gives, with one tokenising.
        words = _tokens(text)
        lower = list(map(str.lower, words))
    else:
        lower = _tokens(text.lower())
    # The positions of lexicon words, found at C speed (map/compress) rather than in a loop.
    hits = list(compress(count(), map(_LEXICON.__contains__, lower)))
    if not hits:
        return 0.0  # only lexicon words carry sentiment
    if not text.isascii():
        words = _tokens(text)
    capitals = sum(map(str.isupper, words))
    cap_diff = 0 < len(words) - capitals < len(words)
    sentiments = [0.0] * len(words)
    last = len(lower) - 1
    for i in hits:
        item = lower[i]
        # VADER skips boosters and the "kind" of "kind of" (its _kind_of, in line)
        if item not in _BOOSTERS and not (item == "kind" and i < last and lower[i + 1] == "of"):
            sentiments[i] = _valence(words, lower, i, cap_diff)
    if "but" in lower:
        sentiments = _but_check(lower, sentiments, hits)
    return _compound(sentiments, text)


def _tokens(text: str) -> list[str]:
    """VADER's words: split on white space, edge punctuation stripped unless <= 2 chars remain.

    Stripping every token at C speed, then putting back only the few tokens that lost
    punctuation and became too short, gives what VADER's per-token rule gives.
    """
    split = text.split()
    stripped = list(map(str.strip, split, repeat(_PUNCT)))
    for i in compress(count(), map(ne, stripped, split)):
        if len(stripped[i]) <= 2:
            stripped[i] = split[i]
    return stripped


def _describe_emoji(text: str) -> str:
    """Each emoji replaced by its lexicon description, spaced exactly as VADER spaces it.

    VADER walks the text a character at a time and puts a space before a description unless
    the character before it is a plain space or it starts the text; emoji are rare, so only
    they are visited here, found at C speed (map/compress).
    """
    out: list[str] = []
    last = 0
    for at in compress(count(), map(_EMOJI_CHARS.__contains__, text)):
        out.append(text[last:at])
        if at and text[at - 1] != " ":
            out.append(" ")
        out.append(_EMOJIS[text[at]])
        last = at + 1
    out.append(text[last:])
    return "".join(out)


def _valence(words: list[str], lower: list[str], i: int, cap_diff: bool) -> float:
    # VADER's sentiment_valence with its helpers (_least_check, scalar_inc_dec, the three
    # negation checks) written out in line: the same comparisons and the same float
    # operations in the same order, without a dozen calls per sentiment word.
    lexicon = _LEXICON
    valence = _own_valence(words, lower, i, cap_diff)
    if i > 0:
        one = lower[i - 1]
        if one not in lexicon:
            # start 0: the word just before; no damping of its boost
            boost = _scalar(words[i - 1], one, valence, cap_diff) if one in _BOOSTERS else 0.0
            valence = valence + boost
            if one in _NEGATE or "n't" in one:
                valence = valence * _N_SCALAR
        if i > 1:
            two = lower[i - 2]
            if two not in lexicon:
                boost = _scalar(words[i - 2], two, valence, cap_diff) if two in _BOOSTERS else 0.0
                if boost != 0:
                    boost *= 0.95
                valence = valence + boost
                if two == "never" and one in ("so", "this"):
                    valence = valence * 1.25
                elif two == "without" and one == "doubt":
                    pass
                elif two in _NEGATE or "n't" in two:
                    valence = valence * _N_SCALAR
            if i > 2:
                three = lower[i - 3]
                if three not in lexicon:
                    boost = (
                        _scalar(words[i - 3], three, valence, cap_diff)
                        if three in _BOOSTERS
                        else 0.0
                    )
                    if boost != 0:
                        boost *= 0.9
                    valence = valence + boost
                    if (three == "never" and two in ("so", "this")) or one in ("so", "this"):
                        valence = valence * 1.25
                    elif three == "without" and (two == "doubt" or one == "doubt"):
                        pass
                    elif three in _NEGATE or "n't" in three:
                        valence = valence * _N_SCALAR
                    valence = _idioms(valence, lower, i)
        # _least_check
        if one == "least" and one not in lexicon:
            if i > 1:
                if lower[i - 2] not in ("at", "very"):
                    return valence * _N_SCALAR
                return valence
            return valence * _N_SCALAR
    return valence


def _own_valence(words: list[str], lower: list[str], i: int, cap_diff: bool) -> float:
    """The word's lexicon valence after a "no" just before or after it, and its capitals."""
    lexicon = _LEXICON
    item = lower[i]
    valence = lexicon[item]
    if item == "no" and i != len(lower) - 1 and lower[i + 1] in lexicon:
        valence = 0.0
    if (
        (i > 0 and lower[i - 1] == "no")
        or (i > 1 and lower[i - 2] == "no")
        or (i > 2 and lower[i - 3] == "no" and lower[i - 1] in ("or", "nor"))
    ):
        valence = lexicon[item] * _N_SCALAR
    if cap_diff and words[i].isupper():
        valence += _C_INCR if valence > 0 else -_C_INCR
    return valence


def _scalar(word: str, low: str, valence: float, cap_diff: bool) -> float:
    """A booster's increment; only called for a word in _BOOSTERS."""
    scalar = _BOOSTERS[low]
    if valence < 0:
        scalar *= -1
    if cap_diff and word.isupper():
        scalar += _C_INCR if valence > 0 else -_C_INCR
    return scalar


def _idioms(valence: float, lower: list[str], i: int) -> float:
    # Every n-gram below contains lower[i] or lower[i - 2]; if neither word is in any idiom,
    # none can match and valence comes back unchanged.
    if lower[i] not in _IDIOM_WORDS and lower[i - 2] not in _IDIOM_WORDS:
        return valence
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


def _but_check(lower: list[str], sentiments: list[float], hits: list[int]) -> list[float]:
    # Kept exactly as VADER does it, including finding each value by its first occurrence.
    # VADER visits every position, but a zero only ever replaces the first zero with a zero
    # (the sign of a zero cannot change the sum), and the non-zero values sit at lexicon
    # positions (hits) and stay there, so visiting the hits in order does the same; and the
    # first occurrence of a non-zero value is the first hit holding it, so it is looked up
    # among the hits' values (kept equal to sentiments at the hits), not the whole message.
    but = lower.index("but")
    values = [sentiments[position] for position in hits]
    for sentiment in values:  # read live, as VADER's loop over sentiments reads it
        if not sentiment:
            continue
        first = values.index(sentiment)
        si = hits[first]
        if si < but:
            changed = sentiment * 0.5
        elif si > but:
            changed = sentiment * 1.5
        else:
            continue
        values[first] = changed
        sentiments[si] = changed
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
