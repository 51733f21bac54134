"""Channel API keys: issued once, stored as a SHA-256 hash, resolved to their channel."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from service.errors import Unauthorized

KEY_PREFIX = "hitl_ck_"


def hash_secret(value: str) -> str:
    # Keys and tokens are 256-bit random strings: a fast hash resists guessing as well as a slow one.
    return hashlib.sha256(value.encode()).hexdigest()


async def create_key(conn: AsyncConnection, channel: str) -> str:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        text("INSERT INTO channel_key (channel, key_hash, prefix) VALUES (:c, :h, :p)"),
        {"c": channel, "h": hash_secret(key), "p": key[: len(KEY_PREFIX) + 6]},
    )
    return key


async def channel_for_key(conn: AsyncConnection, key: str) -> str:
    row = (
        await conn.execute(
            text("SELECT channel FROM channel_key WHERE key_hash = :h AND revoked_at IS NULL"),
            {"h": hash_secret(key)},
        )
    ).first()
    if row is None:
        raise Unauthorized("invalid channel API key")
    return str(row.channel)
