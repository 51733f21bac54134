"""The `hitl` command: run the stack, manage accounts, keys and secrets, check policies."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from service.settings import Settings

T = TypeVar("T")


def settings_with_services() -> Settings:
    """Settings whose URLs fall back to the embedded services a running `hitl up` recorded."""
    settings = Settings()
    if settings.database_url and settings.redis_url:
        return settings
    from service.embedded import discover

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


def run_with_engine(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from service import db

    async def main() -> T:
        engine = db.create_engine(settings, pool_size=2)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def in_transaction(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from service import db

    async def run(engine: Any) -> T:
        async with db.transaction(engine) as conn:
            return await work(conn)

    return run_with_engine(settings, run)


def load_policy_or_exit(settings: Settings) -> Any:
    from service.policy.loader import PolicyError, load_policy

    try:
        return load_policy(settings.policy_path)
    except PolicyError as err:
        raise click.ClickException(f"the policy {settings.policy_path} is invalid:\n{err}") from err
    except OSError as err:
        raise click.ClickException(f"cannot read the policy {settings.policy_path}: {err}") from err


def say(message: str) -> None:
    """Anything but a secret goes to stderr, so scripts can capture secrets from stdout."""
    click.echo(message, err=True)


@click.group()
def cli() -> None:
    """hitl: decides on every AI turn whether the draft is sent, reviewed, or handed to a human."""


@cli.command()
def migrate() -> None:
    """Apply the database migrations."""
    from service.migrate import upgrade

    settings = settings_with_services()
    upgrade(settings.async_database_url())
    say("database is up to date")


@cli.command()
@click.option("--workers", default=1, show_default=True, help="HTTP worker processes")
def serve(workers: int) -> None:
    """Run the HTTP API and the reviewer UI (one process; run several to scale out)."""
    import uvicorn

    require_secret_key(Settings())
    settings = settings_with_services()
    load_policy_or_exit(settings)  # refuse to start on an invalid policy, with its messages
    os.environ["HITL_DATABASE_URL"] = settings.database_url or ""
    os.environ["HITL_REDIS_URL"] = settings.redis_url or ""
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
        lifespan="on",
        # Forwarded headers only from the proxies named in HITL_TRUSTED_PROXIES (uvicorn would
        # otherwise believe any client on 127.0.0.1, which is every client of `hitl up`).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
    )


@cli.command()
def worker() -> None:
    """Run an arq worker: deadlines, webhook deliveries, the sweeper."""
    from worker.settings import build_worker

    settings = settings_with_services()
    load_policy_or_exit(settings)
    asyncio.set_event_loop(asyncio.new_event_loop())
    build_worker(settings).run()


@cli.command()
def up() -> None:
    """Everything for a local start: embedded services if needed, migrations, demo data, serve, worker."""
    from service.stack import run_stack

    settings = Settings()
    require_secret_key(settings)
    sys.exit(run_stack(settings))


@cli.group()
def users() -> None:
    """Reviewer accounts."""


@users.command("create")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice(["reviewer", "supervisor", "admin"]),
    default="reviewer",
    show_default=True,
)
@click.option("--team", "teams", multiple=True, help="a team this person works for (repeatable)")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def users_create(email: str, role: str, teams: tuple[str, ...], password_stdin: bool) -> None:
    """Create (or update) a reviewer account."""
    from service.reviewers import accounts

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    if password_stdin and len(password or "") < 8:
        raise click.ClickException("the password must be at least 8 characters")
    settings = settings_with_services()
    policy = load_policy_or_exit(settings)
    unknown = [t for t in teams if t not in policy.teams]
    if unknown:
        raise click.ClickException(
            f"unknown team(s) {', '.join(unknown)}; the policy has {', '.join(sorted(policy.teams))}"
        )
    in_transaction(settings, lambda c: accounts.create_user(c, email, role, teams, password))
    say(f"{email}: {role} of {', '.join(teams) or 'no team'}")


@users.command("token")
@click.argument("email")
def users_token(email: str) -> None:
    """Print a new personal API token for the reviewer API."""
    from service.errors import DomainError
    from service.reviewers import accounts

    settings = settings_with_services()
    try:
        click.echo(in_transaction(settings, lambda c: accounts.create_token(c, email)))
    except DomainError as err:
        raise click.ClickException(err.detail) from err


@cli.group()
def keys() -> None:
    """Channel API keys."""


@keys.command("create")
@click.argument("channel")
def keys_create(channel: str) -> None:
    """Print a new API key for a channel named in the policy."""
    from service.channels import keys as channel_keys

    settings = settings_with_services()
    policy = load_policy_or_exit(settings)
    if channel not in policy.channels:
        raise click.ClickException(
            f"unknown channel {channel!r}; the policy has {', '.join(sorted(policy.channels))}"
        )
    click.echo(in_transaction(settings, lambda c: channel_keys.create_key(c, channel)))


@cli.command()
@click.option("--dry-run", is_flag=True, help="count what would be deleted; delete nothing")
def prune(dry_run: bool) -> None:
    """Delete what the policy's `retention` no longer keeps, in small batches (the worker also
    does it every night)."""
    from service import retention
    from service.policy.durations import format_duration

    settings = settings_with_services()
    policy = load_policy_or_exit(settings)
    if not retention.limits(policy.retention):
        say("the policy has no retention limits: everything is kept")
        return

    async def run(engine: Any) -> None:
        async with engine.connect() as conn:
            due = await retention.due(conn, policy.retention)
        for kind, n in due.items():
            say(f"{kind}: {n:,} past {format_duration(retention.limits(policy.retention)[kind])}")
        if dry_run or not any(due.values()):
            return
        with click.progressbar(length=sum(due.values()), label="pruning", file=sys.stderr) as bar:
            pruned = await retention.prune(
                engine, policy.retention, progress=lambda _, n: bar.update(n)
            )
        say(f"pruned {pruned}")

    run_with_engine(settings, run)


@cli.group()
def webhooks() -> None:
    """Webhook signing secrets."""


@webhooks.command("secret")
@click.argument("channel")
@click.option("--rotate", is_flag=True, help="make a new secret; the old one still signs for a day")
def webhooks_secret(channel: str, rotate: bool) -> None:
    """Print the channel's webhook signing secret (whsec_...), creating it on first use."""
    from service.channels import secrets

    settings = settings_with_services()
    policy = load_policy_or_exit(settings)
    if channel not in policy.channels:
        raise click.ClickException(
            f"unknown channel {channel!r}; the policy has {', '.join(sorted(policy.channels))}"
        )
    action = secrets.rotate if rotate else secrets.get_or_create
    click.echo(in_transaction(settings, lambda c: action(c, channel)))
    if rotate:
        say("rotated: deliveries carry both signatures for the next 24 hours")


def _register_optional() -> None:
    try:
        from service.policy.cli import policy as policy_group
    except ImportError:  # pragma: no cover - the policy CLI ships with the policy package
        return
    cli.add_command(policy_group)
    from service.replay.cli import replay_command

    cli.add_command(replay_command)


_register_optional()


def main() -> None:
    cli()
