"""The `hitl` command as scripts use it: secrets alone on stdout, clear errors, exit codes."""

from __future__ import annotations

import asyncpg
from support import cli

from service.settings import Settings


async def test_keys_create_prints_only_the_key(settings: Settings, db: asyncpg.Connection) -> None:
    code, out, _ = await cli(settings, "keys", "create", "email")
    assert code == 0 and out.count("\n") == 1 and out.startswith("hitl_ck_")
    stored = await db.fetchval("SELECT key_hash FROM channel_key")
    assert stored and out.strip() not in stored, "only the hash is stored"


async def test_unknown_channel_and_team_are_refused(
    settings: Settings, db: asyncpg.Connection
) -> None:
    code, out, err = await cli(settings, "keys", "create", "fax")
    assert code != 0 and out == "" and "unknown channel 'fax'" in err and "email" in err
    code, _, err = await cli(
        settings,
        "users",
        "create",
        "x@example.com",
        "--team",
        "nope",
        "--password-stdin",
        stdin="long enough password\n",
    )
    assert code != 0 and "unknown team" in err
    code, _, err = await cli(settings, "users", "token", "ghost@example.com")
    assert code != 0 and "no reviewer" in err


async def test_short_password_is_refused(settings: Settings, db: asyncpg.Connection) -> None:
    code, _, err = await cli(
        settings, "users", "create", "y@example.com", "--password-stdin", stdin="short\n"
    )
    assert code != 0 and "at least 8" in err


async def test_webhook_secret_is_stable_until_rotated(
    settings: Settings, db: asyncpg.Connection
) -> None:
    first = (await cli(settings, "webhooks", "secret", "sms"))[1].strip()
    again = (await cli(settings, "webhooks", "secret", "sms"))[1].strip()
    code, rotated, err = await cli(settings, "webhooks", "secret", "sms", "--rotate")
    assert first == again and first.startswith("whsec_")
    assert code == 0 and rotated.strip() != first and "24 hours" in err
    assert await db.fetchval("SELECT previous_secret FROM channel_secret") == first


async def test_policy_check_exit_codes(settings: Settings, tmp_path: object) -> None:
    code, _, _ = await cli(settings, "policy", "check", "policies/default.yaml")
    assert code == 0
    bad = settings.state_dir / "bad-policy.yaml"
    bad.write_text("version: 1\nchannels:\n  chat: { mode: sink }\n")
    code, out, err = await cli(settings, "policy", "check", str(bad))
    assert code == 1 and "bad-policy.yaml:3" in out + err
