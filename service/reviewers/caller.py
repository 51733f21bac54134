"""Who is acting: a reviewer with a role and teams (pure; no I/O)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol, TypeVar

from service.errors import Forbidden


class HasTeam(Protocol):
    @property
    def team(self) -> str: ...


Teamed = TypeVar("Teamed", bound=HasTeam)


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

    def sees(self, item: Teamed, what: str) -> Teamed:
        """The item (a review, a transfer) if its team is this person's to see; else Forbidden."""
        if not self.can_see(item.team):
            raise Forbidden(f"this {what} belongs to team {item.team!r}, which is not yours")
        return item

    @property
    def actor(self) -> str:
        return f"reviewer:{self.id}"
