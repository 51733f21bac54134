"""Test helpers: a webhook receiver double, subprocess runners, free ports, polling."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


# The log files of the session's server processes, by name ("serve"), for tests that read them.
LOGS: dict[str, Path] = {}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str
    at: float


@dataclass
class Receiver:
    """A channel's webhook endpoint, which we do not own: records requests, can fail on purpose."""

    port: int
    requests: list[Received] = field(default_factory=list)
    failures_left: dict[str, int] = field(default_factory=dict)  # path -> failures to answer
    answer: dict[str, int] = field(default_factory=dict)  # path -> status to answer, until cleared
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def events(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.on(path)]

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.failures_left.clear()
            self.answer.clear()


def start_receiver() -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver(port=free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            raw = self.rfile.read(length)
            if len(raw) < length:  # the sender died mid-request: a receiver refuses it
                self.send_response(400)
                self.end_headers()
                return
            body = raw.decode()
            with receiver.lock:
                receiver.requests.append(
                    Received(
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        time.monotonic(),
                    )
                )
                failing = receiver.failures_left.get(self.path, 0)
                if failing:
                    receiver.failures_left[self.path] = failing - 1
                status = receiver.answer.get(self.path, 500 if failing else 200)
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver, server


class Process:
    """A real `hitl` subprocess (server or worker) with its output kept for failure messages."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service", *args],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def wait_http_ready(url: str, proc: Process, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise AssertionError(f"process exited early:\n{proc.output()}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready in {timeout}s:\n{proc.output()}")


def environ(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
    return env | overrides


def process_env(settings: Any) -> dict[str, str]:
    return environ(
        HITL_DATABASE_URL=settings.database_url or "",
        HITL_REDIS_URL=settings.redis_url or "",
        HITL_POLICY_PATH=str(settings.policy_path),
        HITL_STATE_DIR=str(settings.state_dir),
        HITL_REDIS_PREFIX=settings.redis_prefix,
        HITL_SECRET_KEY=settings.secret_key or "",
        HITL_SWEEP_INTERVAL_SECONDS=str(settings.sweep_interval_seconds),
        HITL_WEBHOOK_BACKOFF_BASE_SECONDS=str(settings.webhook_backoff_base_seconds),
        HITL_WEBHOOK_BACKOFF_MAX_SECONDS=str(settings.webhook_backoff_max_seconds),
    )


async def cli(settings: Any, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Runs the real `hitl` command with this run's configuration."""
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service",
        *args,
        env=process_env(settings),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin.encode() if stdin else None)
    return proc.returncode or 0, out.decode(), err.decode()


async def decide_all(settings: Any, channel: str, bodies: list[Any]) -> list[dict[str, Any]]:
    """Run turns through the decision use-case directly (no HTTP), returning each answer."""
    from service import db
    from service.detection.live import LiveDetector
    from service.policy.loader import load_policy
    from service.turns import service as turns

    policy = load_policy(settings.policy_path)
    detector = LiveDetector()
    await detector.start()
    pool = await db.create_pool(settings, size=4)
    answers = []
    try:
        for body in bodies:
            async with pool.acquire() as conn:
                outcome = await turns.decide(conn, policy, channel, body, None, detector=detector)
            answers.append(outcome.response)
    finally:
        await pool.close()
        await detector.close()
    return answers


# Debian's Chromium for browser tests and bench/ui.py (a Playwright browser download fails
# here). Without the networking flags Chromium keeps trying to reach Google's services.
CHROMIUM = os.environ.get("HITL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def hitl_sync(env: dict[str, str], *args: str) -> str:
    """Runs the real `hitl` CLI to the end; its output, or the test fails with its errors."""
    done = subprocess.run(
        [sys.executable, "-m", "service", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
