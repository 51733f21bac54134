"""`hitl up`: the whole stack in the foreground, stopped cleanly by Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess
import sys
import time
from types import FrameType

import click
import httpx

from service import db
from service.console import load_policy_or_exit
from service.embedded import EmbeddedServices
from service.migrate import upgrade
from service.seed import Demo, remember, remembered, seed_demo
from service.settings import Settings

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def run_stack(settings: Settings) -> int:
    embedded = None
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # also when started with SIGINT ignored (e.g. `cmd &`)
    try:
        if not (settings.database_url and settings.redis_url):
            click.echo(
                "starting embedded PostgreSQL and Redis under "
                f"{settings.state_dir}/ (first start initialises the database) ...",
                err=True,
            )
            embedded = EmbeddedServices(settings.services_dir)
            found = embedded.start()
            settings = settings.with_services(found.database_url, found.redis_url)
        demo = _prepare(settings)
        children += _start_processes(settings)
        url = f"http://{settings.host}:{settings.port}"
        if not _wait_ready(f"{url}/readyz", children, timeout=60):
            click.echo("the service did not become ready; see the log above", err=True)
            return 1
        _welcome(url, demo)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        return 1 if not stopping else 0
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C must not interrupt the clean-up and leave servers behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _terminate(children)
        if embedded is not None:
            embedded.stop()
        click.echo("stopped", err=True)


def _start_processes(settings: Settings) -> list[subprocess.Popen[bytes]]:
    """`hitl serve` and `hitl worker`, each dying with this process."""
    env = os.environ | {
        "HITL_DATABASE_URL": settings.database_url or "",
        "HITL_REDIS_URL": settings.redis_url or "",
        # The configured key, or the one generated into the state folder for the embedded
        # default: the serve process gets it explicitly.
        "HITL_SECRET_KEY": settings.resolved_secret_key(),
    }
    return [
        subprocess.Popen(
            [sys.executable, "-m", "service", command], env=env, preexec_fn=_die_with_parent
        )
        for command in ("serve", "worker")
    ]


def _welcome(url: str, demo: Demo) -> None:
    click.echo(
        f"\n  hitl is running at {url}\n"
        f"  reviewer UI:  {url}/ui/   login {demo.email} / {demo.password}\n"
        f"  channel key ({demo.channel}):  {demo.key}\n"
        f"  try:  curl -s {url}/v1/turns -H 'Authorization: Bearer {demo.key}' ...\n"
        "  Ctrl-C stops everything.\n",
        err=True,
    )


def _prepare(settings: Settings):  # type: ignore[no-untyped-def]
    policy = load_policy_or_exit(settings)
    upgrade(settings.async_database_url())

    async def seed():  # type: ignore[no-untyped-def]
        pool = await db.create_pool(settings, 2)
        try:
            return await seed_demo(pool, policy, remembered(settings.state_dir))
        finally:
            await pool.close()

    demo = asyncio.run(seed())
    remember(settings.state_dir, demo)
    return demo


def _die_with_parent() -> None:
    """Runs in the child before exec: if `hitl up` itself is killed (even with SIGKILL, when no
    clean-up can run), Linux sends the child SIGTERM, so no server is left behind."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_ready(url: str, children: list[subprocess.Popen[bytes]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            return False
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    return False


def _terminate(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
