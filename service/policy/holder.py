"""Keeps the policy in force and swaps it for a new version only if the new one is valid."""

from __future__ import annotations

import hashlib
from pathlib import Path

from service.policy.loader import PolicyError, load_policy
from service.policy.model import Policy


class PolicyHolder:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.current: Policy = load_policy(self.path)  # an invalid policy refuses to start

    def reload(self) -> list[str]:
        """Load the file again; on errors keep the current policy and return the messages."""
        try:
            self.current = load_policy(self.path)
        except PolicyError as err:
            return [str(issue) for issue in err.issues]
        except OSError as err:
            return [f"{self.path}: cannot read: {err}"]
        return []

    def check_for_change(self) -> bool:
        """True when the file's contents differ from the policy in force."""
        try:
            digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return False
        return digest != self.current.version
