"""`hitl replay`: a file of conversations, or the service's own history, through one or two policies."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import click
from tqdm import tqdm

from service.console import settings_with_services
from service.policy.durations import DurationError, parse_duration
from service.policy.loader import PolicyError, load_policy
from service.policy.model import Policy
from service.replay import report
from service.replay import service as replay_service
from service.replay.compare import Comparison
from service.replay.repository import load_history
from service.replay.runner import Event, Lane, collector_paused
from service.replay.sources import InputError, read_file
from service.settings import Settings, to_libpq_url


@click.command("replay")
@click.option(
    "--policy",
    "policy_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="the policy to try",
)
@click.option(
    "--baseline",
    "baseline_path",
    type=click.Path(dir_okay=False),
    help="the policy to compare it with",
)
@click.option(
    "--json", "as_json", is_flag=True, help="print the comparison as JSON (CONTRACT section 3)"
)
@click.option("--decisions", is_flag=True, help="list every decision of each policy")
@click.option(
    "--handling-minutes",
    default=4.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="reviewer time per review, for reviewer-hours",
)
@click.option(
    "--from-db", is_flag=True, help="replay the service's own recorded turns instead of a file"
)
@click.option(
    "--since", default="30d", show_default=True, help="with --from-db: how far back, e.g. 7d, 12h"
)
@click.option("--channel", help="with --from-db: only this channel's turns are counted")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
def replay_command(
    policy_path: str,
    baseline_path: str | None,
    as_json: bool,
    decisions: bool,
    handling_minutes: float,
    from_db: bool,
    since: str,
    channel: str | None,
    file: str | None,
) -> None:
    """Replay conversations through POLICY (and BASELINE) and compare what they decide.

    FILE.jsonl holds one conversation per line (CONTRACT section 3). With --from-db and no
    --baseline, the comparison is against the decisions the service recorded, and the turns
    recorded under POLICY's own version must come out the same."""
    if from_db == (file is not None):
        raise click.UsageError("give either FILE.jsonl or --from-db")
    if channel and not from_db:
        raise click.UsageError("--channel goes with --from-db")
    policies = [_load(policy_path)] + ([_load(baseline_path)] if baseline_path else [])
    names = _names([policy_path, *([baseline_path] if baseline_path else [])])
    lanes = [Lane(name, p) for name, p in zip(names, policies, strict=True)]
    with collector_paused():
        events = _history(lanes, since, channel) if from_db else _file(file or "")
        against_recorded = from_db and baseline_path is None
        check = policies[0].version if from_db else None
        comparison = _compare(events, lanes, against_recorded, decisions, check)
    _print(comparison, handling_minutes, as_json)


def _compare(
    events: list[Event],
    lanes: list[Lane],
    against_recorded: bool,
    decisions: bool,
    check: str | None,
) -> Comparison:
    turns = replay_service.turns_in(events)
    with _progress(turns, desc="reading messages", big=2_000) as reading, _progress(turns) as bar:
        return replay_service.run(
            events,
            lanes,
            against_recorded=against_recorded,
            decisions=decisions,
            check=check,
            tick=bar.update,
            read=reading.update,
        )


def _load(path: str) -> Policy:
    try:
        return load_policy(path)
    except PolicyError as err:
        raise click.ClickException(f"the policy {path} is invalid:\n{err}") from err


def _names(paths: list[str]) -> list[str]:
    """File stems, unless two share one; the same file twice becomes policy and baseline."""
    stems = [Path(p).stem for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    if len(set(paths)) == len(paths):
        return paths
    return ["policy", "baseline"][: len(paths)]


def _file(path: str) -> list[Event]:
    size = Path(path).stat().st_size
    try:
        with _progress(size, "B", "reading", big=4_000_000) as bar:
            return read_file(path, tick=bar.update)
    except InputError as err:
        raise click.ClickException(str(err)) from err


def _history(lanes: list[Lane], since: str, channel: str | None) -> list[Event]:
    try:
        period = parse_duration(since)
    except DurationError as err:
        raise click.BadParameter(str(err), param_hint="--since") from err
    # Only the database is needed: HITL_DATABASE_URL alone will do, without Redis.
    url = Settings().database_url or settings_with_services().database_url or ""
    start = datetime.now(UTC) - period
    # Conversations that could be repeat contacts of the period's first turns build state too.
    window = max(lane.policy.triggers.repeat_contact.window for lane in lanes)
    return asyncio.run(_read_history(url, start, start - window, channel))


async def _read_history(
    url: str, since: datetime, lead_in: datetime, channel: str | None
) -> list[Event]:
    conn = await asyncpg.connect(to_libpq_url(url))
    try:
        return await load_history(conn, since=since, lead_in=lead_in, channel=channel)
    finally:
        await conn.close()


def _progress(total: int, unit: str = "turn", desc: str = "replaying", big: int = 20_000) -> Any:
    # Only long runs on a terminal get a bar; it goes to stderr so --json output stays clean.
    quiet = total < big or not sys.stderr.isatty()
    return tqdm(total=total, unit=unit, unit_scale=True, desc=desc, file=sys.stderr, disable=quiet)


def _print(comparison: Comparison, handling_minutes: float, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_json(comparison, handling_minutes), indent=2))
    else:
        click.echo(report.to_text(comparison, handling_minutes), nl=False)
