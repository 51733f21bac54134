"""Channel API keys: issued once, stored as a SHA-256 hash, resolved to their channel."""

from __future__ import annotations

import hashlib
import secrets
import time

import asyncpg

from service import db
from service.db import Connection
from service.errors import Unauthorized

KEY_PREFIX = "hitl_ck_"


def hash_secret(value: str) -> str:
    # Keys and tokens are 256-bit random strings: a fast hash resists guessing as well as a slow one.
    return hashlib.sha256(value.encode()).hexdigest()


async def create_key(conn: Connection, channel: str) -> str:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    await db.execute(
        conn,
        "INSERT INTO channel_key (channel, key_hash, prefix) VALUES (:c, :h, :p)",
        {"c": channel, "h": hash_secret(key), "p": key[: len(KEY_PREFIX) + 6]},
    )
    return key


async def channel_for_key(conn: Connection, key: str) -> str:
    row = await db.first(
        conn,
        "SELECT channel FROM channel_key WHERE key_hash = :h AND revoked_at IS NULL",
        {"h": hash_secret(key)},
    )
    if row is None:
        raise Unauthorized("invalid channel API key")
    return str(row.channel)


class KeyCache:
    """Remembers resolved keys for a short while: a key lookup per turn was a tenth of the
    request's CPU. A revoked key keeps working for at most `ttl` seconds in each process."""

    def __init__(self, ttl: float = 30.0, max_size: int = 10_000) -> None:
        self.ttl, self.max_size = ttl, max_size
        self._known: dict[str, tuple[str, float]] = {}

    async def channel(self, pool: asyncpg.Pool, key: str) -> str:
        digest = hash_secret(key)
        hit = self._known.get(digest)
        now = time.monotonic()
        if hit and hit[1] > now:
            return hit[0]
        async with pool.acquire() as conn:
            channel = await channel_for_key(conn, key)
        if len(self._known) >= self.max_size:
            self._known.clear()
        self._known[digest] = (channel, now + self.ttl)
        return channel
