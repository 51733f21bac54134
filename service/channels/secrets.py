"""Each channel's webhook signing secret: created on first use, rotated with a day of overlap."""

from __future__ import annotations

from dataclasses import dataclass

from service import db
from service.channels.signing import new_secret
from service.db import Connection

# After a rotation the old secret still signs, beside the new one, for this long.
ROTATION_OVERLAP = "1 day"


@dataclass(frozen=True)
class SigningSecrets:
    current: str
    previous: str | None

    def all(self) -> list[str]:
        return [self.current] + ([self.previous] if self.previous else [])


async def get_or_create(conn: Connection, channel: str) -> str:
    await db.execute(
        conn,
        "INSERT INTO channel_secret (channel, secret) VALUES (:c, :s) ON CONFLICT DO NOTHING",
        {"c": channel, "s": new_secret()},
    )
    row = await db.one(conn, "SELECT secret FROM channel_secret WHERE channel = :c", {"c": channel})
    return str(row.secret)


async def rotate(conn: Connection, channel: str) -> str:
    await get_or_create(conn, channel)
    secret = new_secret()
    await db.execute(
        conn,
        "UPDATE channel_secret SET previous_secret = secret, secret = :s, rotated_at = now() "
        "WHERE channel = :c",
        {"c": channel, "s": secret},
    )
    return secret


async def signing_secrets(conn: Connection, channel: str) -> SigningSecrets:
    await get_or_create(conn, channel)
    row = await db.one(
        conn,
        f"SELECT secret, CASE WHEN rotated_at > now() - interval '{ROTATION_OVERLAP}' "
        "THEN previous_secret END AS previous FROM channel_secret WHERE channel = :c",
        {"c": channel},
    )
    return SigningSecrets(row.secret, row.previous)
