"""Reads of a conversation's past, for the person judging its current turn (the decision's own
reads are in facts.py, on the hot path)."""

from __future__ import annotations

import uuid

from service import db
from service.db import Connection, read_as
from service.turns.history import PastTurn, PriorContact


async def history(conn: Connection, turn_id: uuid.UUID, limit: int = 20) -> list[PastTurn]:
    """The conversation before this turn: what the customer said and what was answered."""
    sql = """
    SELECT t.seq, t.message, t.draft_text, t.created_at, d.action, r.status AS review_status,
           r.final_text
    FROM turn t JOIN decision d ON d.turn_id = t.id LEFT JOIN review r ON r.turn_id = t.id
    WHERE t.conversation_id = (SELECT conversation_id FROM turn WHERE id = :turn)
      AND t.seq < (SELECT seq FROM turn WHERE id = :turn)
    ORDER BY t.seq DESC LIMIT :n
    """
    rows = await db.rows(conn, sql, {"turn": turn_id, "n": limit})
    return read_as(PastTurn, reversed(rows))


async def prior_contacts(
    conn: Connection, customer_id: str, conversation_id: uuid.UUID, limit: int = 5
) -> list[PriorContact]:
    """The customer's other conversations, newest first."""
    sql = """
    SELECT channel, created_at, turn_count, resolved FROM conversation
    WHERE customer_id = :c AND id <> :conv ORDER BY created_at DESC LIMIT :n
    """
    found = await db.rows(conn, sql, {"c": customer_id, "conv": conversation_id, "n": limit})
    return read_as(PriorContact, found)
