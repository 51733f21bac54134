"""Seeds the demo set-up of `hitl up`: the policy's teams, a reviewer, a channel key."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from service import db
from service.channels import keys
from service.policy.model import Policy
from service.reviewers import accounts

DEMO_EMAIL = "demo@example.com"
DEMO_CHANNEL = "email"


@dataclass(frozen=True)
class Demo:
    email: str
    password: str
    channel: str
    key: str


def remembered(state_dir: Path) -> dict[str, str]:
    path = state_dir / "demo.json"
    return json.loads(path.read_text()) if path.exists() else {}  # type: ignore[no-any-return]


def remember(state_dir: Path, demo: Demo) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "demo.json"
    path.write_text(
        json.dumps({"password": demo.password, "key": demo.key, "channel": demo.channel})
    )
    path.chmod(0o600)


async def seed_demo(pool: asyncpg.Pool, policy: Policy, known: dict[str, str]) -> Demo:
    """Idempotent: reuses the login and key of an earlier run (`known`) while they still work."""
    password = known.get("password") or secrets.token_urlsafe(12)
    channel = DEMO_CHANNEL if DEMO_CHANNEL in policy.channels else sorted(policy.channels)[0]
    async with db.transaction(pool) as conn:
        await accounts.ensure_teams(conn, sorted(policy.teams))
        await accounts.create_user(
            conn, DEMO_EMAIL, "admin", sorted(policy.teams), password, display_name="Demo Reviewer"
        )
        key = known.get("key")
        if not key or await _key_missing(conn, key):
            key = await keys.create_key(conn, channel)
    return Demo(DEMO_EMAIL, password, channel, key)


async def _key_missing(conn: object, key: str) -> bool:
    try:
        await keys.channel_for_key(conn, key)  # type: ignore[arg-type]
    except Exception:
        return True
    return False
