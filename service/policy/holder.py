"""Keeps the live policy; reloads it on demand or when the file changes, never to an invalid one."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from service.policy.loader import PolicyError, load_policy
from service.policy.model import Policy
from service.policy.nodes import MAX_BYTES


class PolicyHolder:
    """The current policy for a path.

    The constructor raises PolicyError when the file is invalid, so a service refuses to
    start on a bad policy. Afterwards `reload()` (on SIGHUP, or when `check_for_change()` on a
    timer says so) swaps in a new policy only when it is valid; the old one keeps serving.
    Reading `.current` is a plain attribute read, safe from any thread or task.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.current: Policy = load_policy(self.path)
        self._stamp = self._file_stamp()
        self.last_errors: list[str] = []

    def reload(self) -> list[str]:
        """Load the file again; return its errors ([] when the new policy is now current)."""
        with self._lock:
            stamp = self._file_stamp()
            try:
                policy = load_policy(self.path)
            except PolicyError as err:
                self._stamp = stamp  # do not retry the same broken bytes on every check
                self.last_errors = [str(issue) for issue in err.issues]
                return list(self.last_errors)
            self.current = policy
            self._stamp = stamp
            self.last_errors = []
            return []

    def check_for_change(self) -> bool:
        """True once after the file's bytes changed since the last look; the caller reloads.

        mtime and size are compared first so an unchanged file costs one stat; a touched file
        with the same bytes, or the same broken bytes seen before, is not reported again.
        """
        with self._lock:
            stamp = self._file_stamp(self._stamp)
            if stamp == self._stamp:
                return False
            previous, self._stamp = self._stamp, stamp
        if stamp is None or previous is None:
            return stamp is not None
        return stamp[2] != previous[2] and stamp[2] != self.current.version

    def _file_stamp(self, known: tuple[int, int, str] | None = None) -> tuple[int, int, str] | None:
        """(mtime_ns, size, sha256) of the file, or None when it cannot be read."""
        try:
            info = os.stat(self.path)
            if known is not None and (info.st_mtime_ns, info.st_size) == known[:2]:
                return known  # unchanged metadata: skip reading and hashing
            with open(self.path, "rb") as handle:
                digest = hashlib.sha256(handle.read(MAX_BYTES + 1)).hexdigest()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size, digest)
