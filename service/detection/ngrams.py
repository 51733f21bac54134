"""Hashed character and word n-grams of a text: the lexical half of each head.

The sentence embedding knows what a message is about; it is vaguer about who does what ("I
want to talk to a person" against "I talked to a person"). A linear model over n-grams sees
those words, so each head adds the two margins (service/detection/heads.py). Hashing with CRC32
keeps the features the same in every process (Python's own hash() is salted per process).
"""

from __future__ import annotations

import re
import zlib
from itertools import pairwise

import numpy as np

DIMENSIONS = 1 << 18
_WORD = re.compile(r"\w+", re.UNICODE)
CHAR_ORDERS = (2, 3, 4, 5)


def features(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices, values): the character 2-5-grams of each word (padded with spaces) and the
    word 1-2-grams, each family scaled to unit length, as a sparse vector of DIMENSIONS."""
    words = _WORD.findall(text.casefold())
    chars = [
        f"c{w[i : i + n]}"
        for w in (f" {w} " for w in words)
        for n in CHAR_ORDERS
        for i in range(len(w) - n + 1)
    ]
    pairs = [f"w{a} {b}" for a, b in pairwise(words)]
    out: dict[int, float] = {}
    for family in (chars, [f"w{w}" for w in words] + pairs):
        counts: dict[int, float] = {}
        for gram in family:
            index = zlib.crc32(gram.encode()) & (DIMENSIONS - 1)
            counts[index] = counts.get(index, 0.0) + 1.0
        norm = float(np.sqrt(sum(v * v for v in counts.values()))) or 1.0
        for index, value in counts.items():
            out[index] = out.get(index, 0.0) + value / norm
    indices = np.fromiter(out.keys(), dtype=np.int64, count=len(out))
    values = np.fromiter(out.values(), dtype=np.float32, count=len(out))
    return indices, values
