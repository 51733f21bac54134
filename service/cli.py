"""The `hitl` command: run the stack, manage accounts, keys and secrets, check policies."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import click
import uvicorn

from service import retention
from service.channels import keys as channel_keys
from service.channels import secrets
from service.console import (
    in_transaction,
    load_policy_or_exit,
    require_secret_key,
    run_with_pool,
    say,
    settings_with_services,
)
from service.errors import DomainError
from service.migrate import upgrade
from service.policy.cli import policy as policy_group
from service.policy.durations import format_duration
from service.replay.cli import replay_command
from service.reviewers import accounts
from service.settings import Settings
from service.stack import run_stack
from worker.settings import build_worker


@click.group()
def cli() -> None:
    """hitl: decides on every AI turn whether the draft is sent, reviewed, or handed to a human."""


@cli.command()
def migrate() -> None:
    """Apply the database migrations."""

    settings = settings_with_services()
    upgrade(settings.async_database_url())
    say("database is up to date")


@cli.command()
@click.option("--workers", default=1, show_default=True, help="HTTP worker processes")
def serve(workers: int) -> None:
    """Run the HTTP API and the reviewer UI (one process; run several to scale out)."""

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

    settings = settings_with_services()
    load_policy_or_exit(settings)
    asyncio.set_event_loop(asyncio.new_event_loop())
    build_worker(settings).run()


@cli.command()
def up() -> None:
    """Everything for a local start: embedded services if needed, migrations, demo data, serve, worker."""

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
    does it every ten minutes, for at most 45 s a run)."""

    settings = settings_with_services()
    policy = load_policy_or_exit(settings)
    if not retention.limits(policy.retention):
        say("the policy has no retention limits: everything is kept")
        return

    async def run(pool: Any) -> None:
        async with pool.acquire() as conn:
            due = await retention.due(conn, policy.retention)
        for kind, n in due.items():
            say(f"{kind}: {n:,} past {format_duration(retention.limits(policy.retention)[kind])}")
        if dry_run or not any(due.values()):
            return
        with click.progressbar(length=sum(due.values()), label="pruning", file=sys.stderr) as bar:
            pruned = await retention.prune(
                pool, policy.retention, progress=lambda _, n: bar.update(n)
            )
        say(f"pruned {pruned}")

    run_with_pool(settings, run)


@cli.group()
def webhooks() -> None:
    """Webhook signing secrets."""


@webhooks.command("secret")
@click.argument("channel")
@click.option("--rotate", is_flag=True, help="make a new secret; the old one still signs for a day")
def webhooks_secret(channel: str, rotate: bool) -> None:
    """Print the channel's webhook signing secret (whsec_...), creating it on first use."""

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


cli.add_command(policy_group)
cli.add_command(replay_command)


def main() -> None:
    cli()
