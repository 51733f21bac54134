"""A person's own use-cases: being there or not for transfers."""

from __future__ import annotations

from service import db
from service.db import Connection
from service.effects import Effects
from service.errors import Invalid
from service.models.reviewer import PRESENCE
from service.reviewers.caller import Caller
from service.transfers import repository as transfers


async def set_presence(conn: Connection, caller: Caller, presence: str) -> tuple[str, Effects]:
    """Coming online lets the teams' waiting transfers find this person; going away or offline
    passes their pending offers on at once."""
    if presence not in PRESENCE:
        raise Invalid(f"presence must be one of {', '.join(PRESENCE)}", field="presence")
    await db.execute(
        conn,
        "UPDATE reviewer SET presence = :p, last_seen_at = now() WHERE id = :id",
        {"p": presence, "id": caller.id},
    )
    effects = Effects()
    if presence == "online":
        effects.waiting_teams.extend(caller.teams)
    else:
        # Nobody waits on an offer to someone who is not there, even on a team without
        # offer_timeout: each lapses now and goes to the next person (or the queue).
        effects.offer_deadlines.extend(await transfers.end_offers_of(conn, caller.id))
    effects.publish("agent.presence", agent=caller.id, presence=presence, teams=list(caller.teams))
    return presence, effects
