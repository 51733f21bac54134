"""Many regex phrases matched fast: each one runs only where a word starts as it can start."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from itertools import pairwise

# The regex parser is private but has kept this shape since Python 3.5; if it ever changes,
# _heads raises and every phrase simply runs on every message (slower, still correct).
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

_SIZE = 5  # longest word start used as an index key
_MAX_HEADS = 400


class _Unindexable(Exception):
    pass


def _heads(seq: list[Any], prefix: str = "", depth: int = 0) -> set[str]:
    """Every string of up to _SIZE characters a match of seq can begin with."""
    if len(prefix) >= _SIZE or not seq or depth > 40:
        return {prefix}
    op, av = seq[0]
    rest = seq[1:]
    if op is sre.LITERAL:
        return _heads(rest, prefix + chr(av), depth + 1)
    if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
        return _heads(rest, prefix, depth + 1)  # zero width: the text goes on as if absent
    if op is sre.SUBPATTERN:
        return _heads(list(av[3]) + rest, prefix, depth + 1)
    if op is sre.BRANCH:
        return set().union(*(_heads(list(alt) + rest, prefix, depth + 1) for alt in av[1]))
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
        low, high, sub = av
        once = [] if high == 1 else [(op, (max(low - 1, 0), high - 1, sub))]
        out = _heads(list(sub) + once + rest, prefix, depth + 1)
        return out | _heads(rest, prefix, depth + 1) if low == 0 else out
    if op is sre.IN and av == [(sre.CATEGORY, sre.CATEGORY_SPACE)]:
        return _heads(rest, prefix + " ", depth + 1)  # folded text has single spaces only
    if op is sre.IN and all(kind is sre.LITERAL for kind, _ in av) and len(av) <= 8:
        return set().union(*(_heads(rest, prefix + chr(code), depth + 1) for _, code in av))
    return {prefix}  # anything else (\w, ., classes) ends what can be known


def heads_of(pattern: str) -> set[str]:
    """The index keys of a phrase; raises _Unindexable when it could start anywhere."""
    heads = _heads(list(_parser.parse(pattern)))
    if len(heads) > _MAX_HEADS or any(not h or not h[0].isalnum() for h in heads):
        # A phrase must start a word, or it would never be looked for.
        raise _Unindexable(pattern)
    return heads


def _trie(words: Iterable[str]) -> str:
    """A regex matching exactly these words, branching letter by letter (fast to scan)."""
    tree: dict[str, Any] = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _trie_body(tree) if tree else "(?!)"


def _trie_body(node: dict[str, Any]) -> str:
    options = [re.escape(char) + _trie_body(child) for char, child in sorted(node.items()) if char]
    if "" in node:
        options.append("")
    if len(options) == 1:
        return options[0]
    return "(?:" + "|".join(options) + ")"


class PhraseSet:
    """Regex phrases matched on whole words of folded text, indexed by how they start."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = [re.compile(rf"(?<!\w)(?:{p})(?!\w)") for p in patterns]
        self._index: dict[str, list[int]] = {}  # how a phrase can start -> phrase numbers
        self._always: list[int] = []
        for number, pattern in enumerate(patterns):
            try:
                heads = heads_of(pattern)
            except (_Unindexable, Exception):  # an unparsable shape runs everywhere
                self._always.append(number)
                continue
            for head in heads:
                self._index.setdefault(head, []).append(number)
        self._always_set = frozenset(self._always)
        # The gate regex returns the longest head at a word start; every shorter head that
        # also matches there is a prefix of it, so each head also lists its prefixes' phrases.
        self._closure = {
            head: sorted(
                {n for size in range(1, len(head) + 1) for n in self._index.get(head[:size], ())}
            )
            for head in self._index
        }
        # One C-level scan finds the word starts that begin like some phrase.
        # (A lookahead: heads may overlap, as "she c" and "can't" do in "she can't".)
        self._gate = re.compile(rf"(?<!\w)(?=({_trie(self._index)}))")
        # The same scan, run on the text with one space before it: a word start is a \W
        # character followed by a head, and a pattern that begins with a character class
        # lets the regex engine skip the letters in between at C speed instead of trying
        # the lookbehind at every position. Each match consumes only that \W character,
        # so overlapping heads are still found, at the same places (shifted by the space).
        self._fast_gate = re.compile(rf"\W(?=({_trie(self._index)}))")
        # Most messages are ASCII. On printable ASCII text (see plain_ascii), ASCII-mode \w,
        # \W, \s, \d and \b class every character as Unicode mode does, so these copies
        # find the same matches while skipping the regex engine's Unicode category
        # look-ups, its main cost per character.
        self._ascii_gate = re.compile(self._fast_gate.pattern, re.ASCII)
        self._ascii_patterns = [re.compile(p.pattern, re.ASCII) for p in self.patterns]

    def candidates(self, folded: str) -> dict[int, list[int]]:
        """The phrases that could match, each with the word starts where it could."""
        found: dict[int, list[int]] = {n: [] for n in self._always}
        closure = self._closure
        for match in self._gate.finditer(folded):
            start = match.start()
            for number in closure[match.group(1)]:
                found.setdefault(number, []).append(start)
        return found

    def finditer(self, folded: str) -> list[tuple[int, re.Match[str]]]:
        """(phrase number, match) for every phrase at every start where it matches, in order.

        In text order; two matches at the same start come in the order their phrases were
        first seen as candidates (the order candidates() lists them in).
        """
        if self._always:
            return self._finditer_everywhere(folded)
        # One pass over the word starts, trying each candidate phrase where it may start,
        # without building candidates()' dict of lists first. Matches come out in text order;
        # only two at one start (rare) need the order of _finditer_everywhere, where a phrase
        # ranks by when it first became a candidate: worked out then from the lists visited.
        closure = self._closure
        if plain_ascii(folded):
            scan, patterns = self._ascii_gate, self._ascii_patterns
        else:
            scan, patterns = self._fast_gate, self.patterns
        visited: list[list[int]] = []
        found: list[tuple[int, int, re.Match[str]]] = []
        for gate in scan.finditer(" " + folded):
            start = gate.start()  # of the \W before the head in the padded text
            numbers = closure[gate.group(1)]
            visited.append(numbers)
            for number in numbers:
                match = patterns[number].match(folded, start)  # the lookbehind sees before
                if match:
                    found.append((start, number, match))
        if len(found) > 1 and any(a[0] == b[0] for a, b in pairwise(found)):
            rank: dict[int, int] = {}
            for numbers in visited:
                for number in numbers:
                    rank.setdefault(number, len(rank))
            found.sort(key=lambda item: (item[0], rank[item[1]]))
        return [(number, match) for _, number, match in found]

    def _finditer_everywhere(self, folded: str) -> list[tuple[int, re.Match[str]]]:
        matches: list[tuple[int, re.Match[str]]] = []
        for number, places in self.candidates(folded).items():
            pattern = self.patterns[number]
            if number in self._always_set:
                matches.extend((number, m) for m in pattern.finditer(folded))
                continue
            for place in places:
                found = pattern.match(folded, place)  # the lookbehind still sees before place
                if found:
                    matches.append((number, found))
        matches.sort(key=lambda pair: pair[1].start())
        return matches


def plain_ascii(text: str) -> bool:
    """True when ASCII-mode regexes match this text exactly as Unicode-mode ones do.

    They differ only on characters beyond ASCII and on \x1c-\x1f, which Unicode mode counts
    as white space; printable ASCII has neither (nearly every ASCII message once folded).
    """
    return text.isascii() and text.isprintable()


_TOKEN = re.compile(r"\w+(?:'\w+)*")
_ASCII_TOKEN = re.compile(_TOKEN.pattern, re.ASCII)  # the same words on ASCII text, faster
# On ASCII text \w is [A-Za-z0-9_]; every other character separates words.
_ASCII_SEPARATORS = str.maketrans(
    {c: " " for c in map(chr, range(128)) if not (c.isalnum() or c == "_")}
)


def words_of(folded: str) -> list[str]:
    """The words of folded text, apostrophes dropped (so didn't and didnt are one word)."""
    if folded.isascii():
        if "'" not in folded:
            # Without apostrophes the words are the runs of word characters: found by two
            # C string passes, faster than the regex (same result).
            return folded.translate(_ASCII_SEPARATORS).split()
        words: list[str] = _ASCII_TOKEN.findall(folded)
    else:
        words = _TOKEN.findall(folded)
    if "'" in folded:
        return [w.replace("'", "") for w in words]
    return words
