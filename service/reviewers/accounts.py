"""Reviewer accounts, their teams and their personal API tokens."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from service import db
from service.channels.keys import hash_secret
from service.db import Connection
from service.errors import Invalid, NotFound, Unauthorized
from service.models.reviewer import ROLES
from service.reviewers.caller import Caller

TOKEN_PREFIX = "hitl_rt_"
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def ensure_teams(conn: Connection, teams: Sequence[str]) -> None:
    for team in teams:
        await db.execute(
            conn, "INSERT INTO team (name) VALUES (:t) ON CONFLICT DO NOTHING", {"t": team}
        )


async def create_user(
    conn: Connection,
    email: str,
    role: str,
    teams: Sequence[str],
    password: str | None,
    display_name: str | None = None,
) -> uuid.UUID:
    """Creates the account, or updates role, teams and password of an existing one."""
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}", field="role")
    if "@" not in email:
        raise Invalid("email must be an e-mail address", field="email")
    await ensure_teams(conn, teams)
    row = await db.one(
        conn,
        "INSERT INTO reviewer (email, display_name, password_hash, role, presence, capacity) "
        "VALUES (:e, :n, :h, :r, 'offline', 3) ON CONFLICT (email) DO UPDATE SET "
        "role = EXCLUDED.role, password_hash = COALESCE(EXCLUDED.password_hash, "
        "reviewer.password_hash) RETURNING id",
        {
            "e": email.lower(),
            "n": display_name or email.split("@")[0].title(),
            "h": hash_password(password) if password else None,
            "r": role,
        },
    )
    await db.execute(conn, "DELETE FROM reviewer_team WHERE reviewer_id = :id", {"id": row.id})
    for team in teams:
        await db.execute(
            conn,
            "INSERT INTO reviewer_team (reviewer_id, team) VALUES (:id, :t)",
            {"id": row.id, "t": team},
        )
    return row.id  # type: ignore[no-any-return]


async def create_token(conn: Connection, email: str) -> str:
    row = await db.first(conn, "SELECT id FROM reviewer WHERE email = :e", {"e": email.lower()})
    if row is None:
        raise NotFound(f"no reviewer with email {email}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await db.execute(
        conn,
        "INSERT INTO reviewer_token (reviewer_id, token_hash) VALUES (:id, :h)",
        {"id": row.id, "h": hash_secret(token)},
    )
    return token


CALLER_SQL = """
SELECT r.id, r.email, r.display_name, r.role,
       COALESCE(array_agg(t.team ORDER BY t.team) FILTER (WHERE t.team IS NOT NULL), '{}') AS teams
FROM reviewer r LEFT JOIN reviewer_team t ON t.reviewer_id = r.id
"""


def caller_of_row(row: object) -> Caller:
    return Caller(row.id, row.email, row.display_name, row.role, tuple(row.teams))  # type: ignore[attr-defined]


async def caller_for_token(conn: Connection, token: str) -> Caller:
    row = await db.first(
        conn,
        CALLER_SQL + " JOIN reviewer_token k ON k.reviewer_id = r.id "
        "WHERE k.token_hash = :h AND k.revoked_at IS NULL GROUP BY r.id",
        {"h": hash_secret(token)},
    )
    if row is None:
        raise Unauthorized("invalid reviewer token")
    return caller_of_row(row)


async def caller_by_id(conn: Connection, reviewer_id: uuid.UUID) -> Caller | None:
    row = await db.first(conn, CALLER_SQL + " WHERE r.id = :id GROUP BY r.id", {"id": reviewer_id})
    return caller_of_row(row) if row else None


async def authenticate(conn: Connection, email: str, password: str) -> Caller | None:
    row = await db.first(
        conn, "SELECT id, password_hash FROM reviewer WHERE email = :e", {"e": email.lower()}
    )
    if row is None:
        # Spend the same time as a real check (no user oracle), off the event loop: argon2
        # takes ~50 ms of CPU, which would stall every other request of this process.
        await asyncio.to_thread(_hasher.hash, secrets.token_hex(8))
        return None
    if not await asyncio.to_thread(verify_password, row.password_hash, password):
        return None
    return await caller_by_id(conn, row.id)
