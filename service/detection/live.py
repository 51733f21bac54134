"""The detector for the live service: a process of its own beside the event loop.

A turn costs about 2 ms of encoder and heads, much of it Python (the tokenizer, the n-grams,
numpy's dispatch). In a thread it shared the GIL with the event loop; in its own process, with
one BLAS thread, it runs beside it (bench/turns.py, 16 clients, the same hour: 221-253
decisions/s with the thread, 312/s with the process). Turns that arrive together go over as one batch: while one batch is
read, the next one gathers. Messages already read are answered from a per-text cache there.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import signal
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from threadpoolctl import threadpool_limits

from service.detection.reading import Reading
from service.detection.service import Detector
from service.policy.model import Policy

MAX_BATCH = 32
PR_SET_PDEATHSIG = 1  # linux/prctl.h

# (message, the versions of the policies to read it for, where the readings go)
_Pending = tuple[str, tuple[str, ...], "asyncio.Future[list[Reading]]"]

# -- in the detector process --------------------------------------------------------------

_DETECTOR: Detector | None = None
_POLICIES: dict[str, Policy] = {}


def _start() -> None:
    """Initialiser of the detector process: die with the serve process, load the model."""
    global _DETECTOR
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the serve process to handle
    # One BLAS thread: OpenBLAS's own threads spin while they wait and took 1.4 cores here,
    # starving the serve process and Postgres on the same machine.
    threadpool_limits(1)
    _DETECTOR = Detector()


def _learn(policy: Policy) -> None:
    assert _DETECTOR is not None
    _DETECTOR.examples(policy)  # encode its examples once
    _POLICIES[policy.version] = policy
    if len(_POLICIES) > 8:
        _POLICIES.pop(next(iter(_POLICIES)))


def _read(texts: list[str], versions: list[tuple[str, ...]]) -> list[list[Reading]]:
    assert _DETECTOR is not None
    return _DETECTOR.read_batch(texts, [tuple(_POLICIES[v] for v in vs) for vs in versions])


# -- in the serve process -----------------------------------------------------------------


class LiveDetector:
    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._known: set[str] = set()
        self._queue: asyncio.Queue[_Pending] | None = None
        self._runner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the detector process and wait for its model (about 1.5 s)."""
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_start
        )
        self._known = set()
        await asyncio.wrap_future(self._pool.submit(int))  # returns once the model is loaded

    async def prepare(self, policy: Policy) -> None:
        """Send a policy to the detector process once (its examples are encoded there)."""
        if policy.version in self._known:
            return
        assert self._pool is not None
        await asyncio.wrap_future(self._pool.submit(_learn, policy))
        self._known.add(policy.version)

    async def read(self, text: str, *policies: Policy) -> list[Reading]:
        """The message read for each policy (the live one, a shadow one)."""
        for policy in policies:
            await self.prepare(policy)
        loop = asyncio.get_running_loop()
        if self._queue is None or self._runner is None or self._runner.done():
            self._queue = asyncio.Queue()
            self._runner = loop.create_task(self._run(self._queue))
        future: asyncio.Future[list[Reading]] = loop.create_future()
        await self._queue.put((text, tuple(p.version for p in policies), future))
        return await future

    async def _run(self, queue: asyncio.Queue[_Pending]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                results = await asyncio.wrap_future(self._submit(batch))
            except BrokenProcessPool as err:  # the process died: a new one for the next turns
                self._fail(batch, err)
                await self._restart()
                continue
            except Exception as err:
                self._fail(batch, err)
                continue
            for (*_, future), readings in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(readings)

    def _submit(self, batch: list[_Pending]) -> Future[list[list[Reading]]]:
        assert self._pool is not None
        return self._pool.submit(_read, [t for t, _, _ in batch], [v for _, v, _ in batch])

    @staticmethod
    def _fail(batch: list[_Pending], err: BaseException) -> None:
        for *_, future in batch:
            if not future.done():
                future.set_exception(err)

    async def _restart(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        await self.start()

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
