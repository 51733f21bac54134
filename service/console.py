"""What every command needs: settings that find the services a running `hitl up` started, the
policy or a clear reason to stop, a database pool for one command, messages on stderr."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from service import db
from service.embedded import discover
from service.policy.loader import PolicyError, load_policy
from service.settings import Settings

T = TypeVar("T")


def settings_with_services() -> Settings:
    """Settings whose URLs fall back to the embedded services a running `hitl up` recorded."""
    settings = Settings()
    if settings.database_url and settings.redis_url:
        return settings
    found = discover(settings.services_dir)
    if found is None:
        raise click.ClickException(
            "no database configured: set HITL_DATABASE_URL and HITL_REDIS_URL, "
            "or start `hitl up` in this folder first"
        )
    return settings.with_services(found.database_url, found.redis_url)


def require_secret_key(configured: Settings) -> None:
    """Outside the embedded default (a database of one's own), sessions must be signed with a
    key the operator chose and keeps: a generated one would differ per machine and replica."""
    if configured.database_url and not configured.secret_key:
        raise click.ClickException(
            "HITL_SECRET_KEY is not set: with HITL_DATABASE_URL set it is required (it signs "
            "the desk's session cookies; use the same value on every replica), e.g. "
            "HITL_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )


def run_with_pool(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    async def main() -> T:
        pool = await db.create_pool(settings, 2)
        try:
            return await work(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


def in_transaction(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    async def run(pool: Any) -> T:
        async with db.transaction(pool) as conn:
            return await work(conn)

    return run_with_pool(settings, run)


def load_policy_or_exit(settings: Settings) -> Any:
    try:
        return load_policy(settings.policy_path)
    except PolicyError as err:
        raise click.ClickException(f"the policy {settings.policy_path} is invalid:\n{err}") from err
    except OSError as err:
        raise click.ClickException(f"cannot read the policy {settings.policy_path}: {err}") from err


def say(message: str) -> None:
    """Anything but a secret goes to stderr, so scripts can capture secrets from stdout."""
    click.echo(message, err=True)
