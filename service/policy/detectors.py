"""Pure text signals: explicit request for a person, distress, policy topics and sentiment."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from service.policy import distress_lexicon, keywords, lexicon, phrases
from service.policy.model import TopicPolicy

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "´": "'"})
# Accents are combining marks once a text is decomposed; this table drops them.
_UNACCENT = {code: None for code in range(0x300, 0x10000) if unicodedata.combining(chr(code))}


def fold(text: str) -> str:
    """Lower case, accents removed, apostrophes straightened, spaces collapsed."""
    if text.isascii():
        lowered = text.casefold()
        if "`" in lowered:
            lowered = lowered.translate(_APOSTROPHES)
        # Already single-spaced (no control characters, so no white space but " "; no
        # double, leading or trailing space): split and join would give it back unchanged.
        if lowered.isprintable() and "  " not in lowered and lowered[:1] != " " != lowered[-1:]:
            return lowered
        return " ".join(lowered.split())
    stripped = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES)).translate(_UNACCENT)
    # casefold turns ß into ss, as German speakers also write it.
    return " ".join(unicodedata.normalize("NFC", stripped).casefold().split())


@lru_cache(maxsize=1024)
def fold_label(label: str) -> str:
    """A topic label or intent folded like text (cached: channels use a few labels)."""
    return fold(label)


@dataclass(frozen=True)
class Hit:
    """One detector match: what fired and the words that made it fire."""

    key: str  # the category or topic name ("" for explicit requests)
    evidence: str


def _union(patterns: Iterable[str]) -> str:
    return "|".join(f"(?:{p})" for p in patterns)


class Text:
    """A message prepared once for every detector: folded, and its words."""

    __slots__ = ("_matches", "folded", "words")

    def __init__(self, folded: str, words: list[str]) -> None:
        self.folded = folded
        self.words = words
        self._matches: list[tuple[int, re.Match[str]]] | None = None

    def phrase_matches(self) -> list[tuple[int, re.Match[str]]]:
        """Matches of every explicit-request and distress phrase, found once, in text order."""
        if self._matches is None:
            self._matches = _PHRASES.finditer(self.folded)
        return self._matches


def prepare(message: str) -> Text:
    folded = fold(message)
    return Text(folded, phrases.words_of(folded))


def _text(value: Text | str) -> Text:
    return value if isinstance(value, Text) else prepare(value)


# One index for both detectors, so a message's word starts are looked up once.
_EXPLICIT_PATTERNS = lexicon.EXPLICIT_EN + lexicon.EXPLICIT_OTHER
_KINDS = ["explicit"] * len(_EXPLICIT_PATTERNS) + [
    name for name, patterns in distress_lexicon.DISTRESS.items() for _ in patterns
]
_PHRASES = phrases.PhraseSet(
    _EXPLICIT_PATTERNS + [p for patterns in distress_lexicon.DISTRESS.values() for p in patterns]
)
_BARE = re.compile(rf"{lexicon.BARE_PERSON}|{lexicon.BARE_WANT_TALK}")
_NEGATION = re.compile(rf"(?<!\w)(?:{_union(lexicon.NEGATION_CUES)})(?!\w)")
_CLAUSE = re.compile(lexicon.CLAUSE_SPLIT)
_TRAILING = re.compile(r"[\s!?.,:;)(*~\-]+$|^[\s!?.,:;)(*~\-]+")
_IDIOMS = re.compile(rf"(?<!\w)(?:{_union(distress_lexicon.DISTRESS_IDIOMS)})")
_DECLINE = re.compile(rf"(?<!\w)(?:{_union(lexicon.DECLINES)})(?!\w)")
# ASCII-mode copies for printable ASCII text (most messages), where \w, \s and \b class
# every character as Unicode mode does: the same matches without the regex engine's Unicode
# category look-ups. See phrases.plain_ascii.
_UNICODE = (_BARE, _NEGATION, _CLAUSE, _TRAILING, _IDIOMS)
_ASCII = tuple(re.compile(p.pattern, re.ASCII) for p in _UNICODE)


def _regexes(folded: str) -> tuple[re.Pattern[str], ...]:
    """(_BARE, _NEGATION, _CLAUSE, _TRAILING, _IDIOMS) for this text."""
    return _ASCII if phrases.plain_ascii(folded) else _UNICODE


def explicit_request(message: Text | str) -> Hit | None:
    """A request to reach a person, unless negated in its clause or merely mentioned.

    Takes a prepared Text, or a string that is folded first.
    """
    text = _text(message)
    folded = text.folded
    bare_re, negation, clause, trailing, _ = _regexes(folded)
    if len(text.words) <= 8:  # only a short message can be a bare "a person please"
        bare = trailing.sub("", folded)
        if bare_re.match(bare):
            return Hit("", bare)
    for number, match in text.phrase_matches():
        if _KINDS[number] == "explicit" and not _negated(
            folded, match.start(), match.end(), negation, clause
        ):
            return Hit("", match.group(0).strip())
    return None


def declined(message: Text | str) -> bool:
    """True when the message turns down a person ("no need to transfer me", "I don't want to
    talk to anyone"): the rules' answer, which the semantic head may not overrule."""
    return bool(_DECLINE.search(_text(message).folded))


def _negated(
    folded: str,
    start: int,
    end: int,
    negation: re.Pattern[str] = _NEGATION,
    clause: re.Pattern[str] = _CLAUSE,
) -> bool:
    """True when a negation cue begins earlier in the same clause as the match at start:end.

    The cue may run into the match ("don't need a human": the match is "need a human").
    """
    clause_start = 0
    for boundary in clause.finditer(folded, 0, start):
        clause_start = boundary.end()
    return any(cue.start() < start for cue in negation.finditer(folded, clause_start, end))


def distress(message: Text | str, categories: Iterable[str]) -> list[Hit]:
    """Every enabled distress category the text shows, with its first evidence."""
    text = _text(message)
    matches = text.phrase_matches()
    if not matches:
        return []  # most messages: no phrase at all, so no category either
    wanted = set(categories)
    found: dict[str, Hit] = {}
    idioms = _regexes(text.folded)[4]
    for number, match in matches:
        kind = _KINDS[number]
        if (
            kind in wanted
            and kind not in found
            and not _inside_idiom(text.folded, match.start(), match.end(), idioms)
        ):
            found[kind] = Hit(kind, match.group(0).strip())
    return [found[kind] for kind in distress_lexicon.DISTRESS if kind in found]


def _inside_idiom(folded: str, start: int, end: int, idioms: re.Pattern[str] = _IDIOMS) -> bool:
    for idiom in idioms.finditer(folded, max(0, start - 40), min(len(folded), end + 40)):
        if idiom.start() <= end and idiom.end() >= start:
            return True
    return False


@dataclass(frozen=True)
class TopicMatcher:
    """A policy's topics compiled once: folded labels and an index of every keyword."""

    names: tuple[str, ...]
    labels: tuple[frozenset[str], ...]
    index: keywords.KeywordIndex

    def match(self, message: Text | str, labels: Iterable[str]) -> list[Hit]:
        """The topics the channel's labels or the message's words name, in policy order."""
        return [Hit(self.names[n], evidence) for n, evidence in self.match_numbers(message, labels)]

    def match_numbers(self, message: Text | str, labels: Iterable[str]) -> list[tuple[int, str]]:
        """(topic number, evidence) for each topic found; labels must be folded (fold_label)."""
        return [(n, evidence) for n, evidence, _ in self.match_kinds(message, labels)]

    def match_kinds(
        self, message: Text | str, labels: Iterable[str]
    ) -> list[tuple[int, str, bool]]:
        """(topic number, evidence, by label) for each topic found: a channel's label is its
        own verdict, a keyword only a clue."""
        given = set(labels)
        words = self.index.first_hits(_text(message).words, len(self.names))
        hits = []
        for number in range(len(self.names)):
            common = self.labels[number] & given if given else None
            if common:
                hits.append((number, f"label {sorted(common)[0]}", True))
            elif number in words:
                hits.append((number, words[number], False))
        return hits


@lru_cache(maxsize=64)
def compile_topics(topics: tuple[TopicPolicy, ...]) -> TopicMatcher:
    """Compiled once per policy's topic list (cached: topics are frozen and hashable)."""
    parsed = [
        keywords.parse_keyword(number, keyword, fold(keyword))
        for number, topic in enumerate(topics)
        for keyword in topic.keywords
    ]
    return TopicMatcher(
        names=tuple(t.name for t in topics),
        labels=tuple(frozenset(fold(label) for label in t.labels) for t in topics),
        index=keywords.KeywordIndex([k for k in parsed if k is not None]),
    )
