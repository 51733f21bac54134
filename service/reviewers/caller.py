"""Who is acting: a reviewer with a role and teams (pure; no I/O)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    id: uuid.UUID
    email: str
    display_name: str
    role: str
    teams: tuple[str, ...]

    @property
    def sees_all_teams(self) -> bool:
        return self.role == "admin"

    def team_scope(self) -> tuple[str, ...] | None:
        """The teams whose work this person sees; None for every team."""
        return None if self.sees_all_teams else self.teams

    def can_see(self, team: str) -> bool:
        return self.sees_all_teams or team in self.teams

    @property
    def actor(self) -> str:
        return f"reviewer:{self.id}"
