"""The detector for the live service: encoding off the event loop, turns that arrive together
encoded as one batch, and a per-text cache (channels resend "yes", "ok", "agent" a lot)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from service.detection import encoder as encoder_
from service.detection import heads as heads_
from service.detection import ngrams, reader
from service.detection.reading import Reading
from service.policy.model import Policy

MAX_BATCH = 32
CACHE_SIZE = 4096


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
        # Message -> its segment vectors; the event loop reads it, the encoder thread fills it.
        self._cache_lock = threading.Lock()
        self._examples: dict[str, reader.Examples] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder")
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[reader.Encoded]]] | None = None
        self._runner: asyncio.Task[None] | None = None

    # -- the pure part, for callers that hold vectors ------------------------------------------

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
        """Synchronous, for replay and benchmarks: encodes in one pass."""
        return self.readings(policy, self.groups(messages))

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

    def _cached(self, text: str) -> reader.Encoded | None:
        with self._cache_lock:
            found = self._cache.get(text)
            if found is not None:
                self._cache.move_to_end(text)
            return found

    # -- the live path ------------------------------------------------------------------------

    async def vector(self, text: str) -> reader.Encoded:
        """The message's segment vectors (encoder.segments), computed in the encoder thread
        together with whatever other turns are waiting: while one batch encodes, the next one
        gathers."""
        cached = self._cached(text)
        if cached is not None:
            return cached
        loop = asyncio.get_running_loop()
        if self._queue is None or self._runner is None or self._runner.done():
            self._queue = asyncio.Queue()
            self._runner = loop.create_task(self._run(self._queue))
        future: asyncio.Future[reader.Encoded] = loop.create_future()
        await self._queue.put((text, future))
        return await future

    async def prepare(self, policy: Policy) -> None:
        """Encode a policy's examples in the encoder thread, off the event loop."""
        if policy.version not in self._examples:
            await asyncio.get_running_loop().run_in_executor(self._pool, self.examples, policy)

    async def _run(self, queue: asyncio.Queue[tuple[str, asyncio.Future[reader.Encoded]]]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            while len(batch) < MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            texts = [text for text, _ in batch]
            try:
                vectors = await loop.run_in_executor(self._pool, self._message_groups, texts)
            except Exception as err:  # fail these turns, keep serving the next ones
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            for (_, future), vector in zip(batch, vectors, strict=True):
                if not future.done():
                    future.set_result(vector)

    def _message_groups(self, messages: list[str]) -> list[reader.Encoded]:
        groups = self.groups(messages)
        with self._cache_lock:
            for message, group in zip(messages, groups, strict=True):
                self._cache[message] = group
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return groups

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        self._pool.shutdown(wait=False)
