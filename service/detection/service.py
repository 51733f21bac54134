"""Reading messages: the encoder, the shipped heads and each policy's examples, in one process.

The live service runs this in a process of its own (service/detection/live.py); replay,
`hitl policy explain` and the benchmarks call it directly.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from service.detection import encoder as encoder_
from service.detection import heads as heads_
from service.detection import ngrams, reader
from service.detection.reading import Reading
from service.policy.model import Policy

CACHE_SIZE = 4096  # messages: channels resend "yes", "ok", "agent" a lot


class Detector:
    def __init__(
        self,
        encoder: encoder_.Encoder | None = None,
        heads: heads_.Heads | None = None,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.encoder = encoder or encoder_.shared()
        self.heads = heads or heads_.load()
        self._cache: OrderedDict[str, reader.Encoded] = OrderedDict()
        self._cache_size = cache_size
        self._examples: dict[str, reader.Examples] = {}

    def examples(self, policy: Policy) -> reader.Examples:
        """The policy's examples, encoded once per policy version."""
        found = self._examples.get(policy.version)
        if found is None:
            found = reader.compile_examples(policy, self.encoder.encode, self.heads)
            if len(self._examples) > 8:
                self._examples.clear()
            self._examples[policy.version] = found
        return found

    def readings(self, policy: Policy, groups: list[reader.Encoded]) -> list[Reading]:
        return reader.read(self.heads, self.examples(policy), policy, groups)

    def read_all(self, policy: Policy, messages: list[str]) -> list[Reading]:
        """Every message read for one policy, encoded in one pass (no cache)."""
        return self.readings(policy, self.groups(messages))

    def read_batch(
        self, messages: list[str], policies: list[tuple[Policy, ...]]
    ) -> list[list[Reading]]:
        """Each message read for each of its policies; messages seen lately come from the
        cache, the rest are encoded together, and each policy's heads run over the batch."""
        fresh = [m for m in dict.fromkeys(messages) if m not in self._cache]
        for message, group in zip(fresh, self.groups(fresh) if fresh else [], strict=True):
            self._cache[message] = group
        encoded = []
        for message in messages:
            self._cache.move_to_end(message)
            encoded.append(self._cache[message])
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        out: list[list[Reading]] = [[] for _ in messages]
        together: dict[tuple[str, ...], list[int]] = {}
        for i, wanted in enumerate(policies):
            together.setdefault(tuple(p.version for p in wanted), []).append(i)
        for rows in together.values():
            for policy in policies[rows[0]]:
                read = self.readings(policy, [encoded[i] for i in rows])
                for i, reading in zip(rows, read, strict=True):
                    out[i].append(reading)
        return out

    def groups(self, messages: list[str]) -> list[reader.Encoded]:
        """Each message's segments (encoder.segments) as vectors, encoded together, and as
        n-gram features."""
        pieces = [encoder_.segments(m) for m in messages]
        flat = self.encode([p for group in pieces for p in group])
        out, start = [], 0
        for group in pieces:
            lexical = tuple(ngrams.features(p) for p in group)
            out.append(reader.Encoded(flat[start : start + len(group)], lexical))
            start += len(group)
        return out

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts)
