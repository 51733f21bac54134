"""Policy keywords matched word by word: `lawyer*`, `*ologist`, `someone ... my card`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.policy import phrases

_GAP = 4  # words `...` may skip
_KEY = 3  # prefix and suffix index key length


@dataclass(frozen=True)
class Step:
    kind: str  # "exact" | "prefix" | "suffix" | "infix"
    text: str
    gap: bool  # up to _GAP words may come before this step

    def accepts(self, word: str) -> bool:
        if self.kind == "exact":
            return word == self.text
        if self.kind == "prefix":
            return word.startswith(self.text)
        if self.kind == "suffix":
            return word.endswith(self.text)
        return self.text in word


@dataclass(frozen=True)
class Keyword:
    group: int  # which topic it belongs to
    source: str  # as the policy wrote it
    steps: tuple[Step, ...]


def parse_keyword(group: int, source: str, folded: str) -> Keyword | None:
    steps: list[Step] = []
    gap = False
    for token in folded.split():
        if token == "...":
            gap = bool(steps)
            continue
        core = token.strip("*").replace("'", "")
        if not core:
            continue
        starred = (token.startswith("*"), token.endswith("*") and len(token) > 1)
        kind = {
            (False, False): "exact",
            (False, True): "prefix",
            (True, False): "suffix",
            (True, True): "infix",
        }[starred]
        # A word the tokenizer would split ("401(k)", "e-mail") becomes several exact steps.
        parts = phrases.words_of(core) or [core]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            part_kind = kind if len(parts) == 1 else ("exact" if not last else kind)
            steps.append(Step(part_kind, part, gap and index == 0))
        gap = False
    return Keyword(group, source, tuple(steps)) if steps else None


class KeywordIndex:
    """Every keyword of every topic, indexed by the first word it needs."""

    def __init__(self, keywords: Sequence[Keyword]) -> None:
        self._exact: dict[str, list[Keyword]] = {}
        self._prefix: dict[str, list[Keyword]] = {}
        self._suffix: dict[str, list[Keyword]] = {}
        self._short: list[Keyword] = []  # prefixes/suffixes shorter than the key, or infixes
        self._cache: dict[str, tuple[_Candidate, ...]] = {}
        for keyword in keywords:
            first = keyword.steps[0]
            if first.kind == "exact":
                self._exact.setdefault(first.text, []).append(keyword)
            elif first.kind == "prefix" and len(first.text) >= _KEY:
                self._prefix.setdefault(first.text[:_KEY], []).append(keyword)
            elif first.kind == "suffix" and len(first.text) >= _KEY:
                self._suffix.setdefault(first.text[-_KEY:], []).append(keyword)
            else:
                self._short.append(keyword)

    def first_hits(self, words: list[str], groups: int) -> dict[int, str]:
        """For each group with a keyword in words: the words that matched its first keyword."""
        found: dict[int, str] = {}
        cache = self._cache
        last = len(words) - 1
        for i, word in enumerate(words):
            candidates = cache.get(word)
            if candidates is None:
                candidates = self._candidates(word)
            if not candidates:
                continue
            for group, steps, second in candidates:  # their first step accepts this word
                if group in found:
                    continue
                if steps is None:
                    found[group] = word
                    continue
                # Most keywords that start with a common word ("my", "not", "did") need one
                # exact next word; testing it here is _match_rest's first step without the
                # call, so a keyword it rejects would have been rejected there too.
                if second is not None and (i >= last or words[i + 1] != second):
                    continue
                end = _match_rest(steps, 1, words, i + 1)
                if end is not None:
                    found[group] = " ".join(words[i:end])
            if len(found) == groups:
                break
        return found

    def _candidates(self, word: str) -> tuple[_Candidate, ...]:
        # Customers reuse a small vocabulary, so each word's candidates are worked out once.
        # A tuple: most words have none, and they all share the one empty tuple, so testing
        # them in first_hits touches no per-word object.
        cached = self._cache.get(word)
        if cached is None:
            if len(self._cache) > 50_000:
                self._cache.clear()
            cached = tuple(_candidate(k) for k in self._lookup(word) if k.steps[0].accepts(word))
            self._cache[word] = cached
        return cached

    def _lookup(self, word: str) -> list[Keyword]:
        out = self._exact.get(word, [])
        if len(word) >= _KEY:
            more = self._prefix.get(word[:_KEY])
            if more:
                out = out + more
            more = self._suffix.get(word[-_KEY:])
            if more:
                out = out + more
        return out + self._short if self._short else out


# (group, steps or None for a one-word keyword, the exact next word it needs or None)
_Candidate = tuple[int, tuple[Step, ...] | None, str | None]


def _candidate(keyword: Keyword) -> _Candidate:
    steps = keyword.steps
    if len(steps) == 1:
        return keyword.group, None, None
    second = steps[1]
    exact = second.text if second.kind == "exact" and not second.gap else None
    return keyword.group, steps, exact


def _match_rest(steps: tuple[Step, ...], s: int, words: list[str], w: int) -> int | None:
    """The index after the last matched word if steps[s:] match from words[w], else None."""
    if s == len(steps):
        return w
    step = steps[s]
    reach = _GAP if step.gap else 0
    for skip in range(reach + 1):
        at = w + skip
        if at >= len(words):
            return None
        if step.accepts(words[at]):
            end = _match_rest(steps, s + 1, words, at + 1)
            if end is not None:
                return end
    return None
