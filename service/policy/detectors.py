"""Pure text signals: explicit request for a person, distress, policy topics and sentiment."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from service.policy import lexicon
from service.policy.model import TopicPolicy

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "´": "'"})
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower case, accents removed, apostrophes straightened, spaces collapsed."""
    if text.isascii():
        return _SPACES.sub(" ", text.casefold().translate(_APOSTROPHES)).strip()
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    # casefold turns ß into ss, as German speakers also write it.
    return _SPACES.sub(" ", unicodedata.normalize("NFC", stripped).casefold()).strip()


@dataclass(frozen=True)
class Hit:
    """One detector match: what fired and the words that made it fire."""

    key: str  # the category or topic name ("" for explicit requests)
    evidence: str


def _union(patterns: Iterable[str]) -> str:
    return "|".join(f"(?:{p})" for p in patterns)


_EXPLICIT = re.compile(rf"(?<!\w)(?:{_union(lexicon.EXPLICIT_EN + lexicon.EXPLICIT_OTHER)})(?!\w)")
_BARE = re.compile(lexicon.BARE_PERSON)
_NEGATION = re.compile(rf"(?<!\w)(?:{_union(lexicon.NEGATION_CUES)})(?!\w)")
_CLAUSE = re.compile(lexicon.CLAUSE_SPLIT)
_TRAILING = re.compile(r"[\s!?.,:;)(*~\-]+$|^[\s!?.,:;)(*~\-]+")
_DISTRESS = {
    name: re.compile(rf"(?<!\w)(?:{_union(patterns)})(?!\w)")
    for name, patterns in lexicon.DISTRESS.items()
}
_IDIOMS = re.compile(rf"(?<!\w)(?:{_union(lexicon.DISTRESS_IDIOMS)})")


def explicit_request(folded: str) -> Hit | None:
    """A request to reach a person, unless negated in its clause or merely mentioned."""
    bare = _TRAILING.sub("", folded)
    if _BARE.match(bare):
        return Hit("", bare)
    for match in _EXPLICIT.finditer(folded):
        if not _negated(folded, match.start()):
            return Hit("", match.group(0).strip())
    return None


def _negated(folded: str, start: int) -> bool:
    """True when a negation cue comes earlier in the same clause as position start."""
    clause_start = 0
    for boundary in _CLAUSE.finditer(folded, 0, start):
        clause_start = boundary.end()
    return _NEGATION.search(folded, clause_start, start) is not None


def distress(folded: str, categories: Iterable[str]) -> list[Hit]:
    """Every enabled distress category the text shows, with its evidence."""
    hits = []
    for category in categories:
        pattern = _DISTRESS.get(category)
        if pattern is None:
            continue
        for match in pattern.finditer(folded):
            if not _inside_idiom(folded, match.start(), match.end()):
                hits.append(Hit(category, match.group(0).strip()))
                break
    return hits


def _inside_idiom(folded: str, start: int, end: int) -> bool:
    for idiom in _IDIOMS.finditer(folded, max(0, start - 40), min(len(folded), end + 40)):
        if idiom.start() <= end and idiom.end() >= start:
            return True
    return False


@dataclass(frozen=True)
class TopicMatcher:
    """A policy's topics compiled once: folded labels and one keyword regex per topic."""

    labels: tuple[tuple[str, frozenset[str]], ...]
    keywords: tuple[tuple[str, re.Pattern[str] | None], ...]

    def match(self, folded: str, labels: Iterable[str]) -> list[Hit]:
        given = {fold(label) for label in labels}
        hits = []
        for (name, wanted), (_, pattern) in zip(self.labels, self.keywords, strict=True):
            common = wanted & given
            if common:
                hits.append(Hit(name, f"label {sorted(common)[0]}"))
                continue
            found = pattern.search(folded) if pattern is not None else None
            if found:
                hits.append(Hit(name, found.group(0)))
        return hits


def keyword_pattern(keyword: str) -> str:
    """A policy keyword as a whole-word regex.

    Spaces match any spacing; `*` at either end of a word matches any letters there
    (`lawyer*`, `*ologist`); `...` matches up to four words in between (`someone ... my card`);
    an apostrophe may be left out by the customer (`didn't` also matches `didnt`).
    """
    parts = []
    gap = False
    for word in fold(keyword).split():
        if word == "...":
            gap = True
            continue
        head = r"\w*" if word.startswith("*") else ""
        tail = r"\w*" if word.endswith("*") and len(word) > 1 else ""
        core = re.escape(word.strip("*")).replace("'", "'?")
        if parts:
            parts.append(r"\s+(?:\S+\s+){0,4}?" if gap else r"\s+")
        parts.append(head + core + tail)
        gap = False
    return rf"(?<!\w){''.join(parts)}(?!\w)"


@lru_cache(maxsize=64)
def compile_topics(topics: tuple[TopicPolicy, ...]) -> TopicMatcher:
    """Compiled once per policy's topic list (cached: topics are frozen and hashable)."""
    labels = tuple((t.name, frozenset(fold(label) for label in t.labels)) for t in topics)
    keywords = tuple(
        (t.name, re.compile(_union(keyword_pattern(k) for k in t.keywords)) if t.keywords else None)
        for t in topics
    )
    return TopicMatcher(labels=labels, keywords=keywords)
