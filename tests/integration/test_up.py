"""`hitl up` as a newcomer runs it: embedded services, ready, demo key printed, nothing left behind."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import ROOT, environ, free_port, wait_for


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited


@pytest.fixture
def folder() -> Iterator[tuple[Path, int, dict[str, str]]]:
    """A state folder and port of this test's own, as a newcomer's checkout would have."""
    state = ROOT / ".hitl" / f"test-up-{uuid.uuid4().hex[:6]}"
    port = free_port()
    yield state, port, environ(HITL_STATE_DIR=str(state), HITL_PORT=str(port))
    shutil.rmtree(state, ignore_errors=True)


def start_up(env: dict[str, str], **output: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "service", "up"], cwd=ROOT, env=env, text=True, **output
    )


def test_up_serves_prints_the_key_and_stops_everything(
    folder: tuple[Path, int, dict[str, str]],
) -> None:
    state, port, env = folder
    proc = start_up(env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(proc.stderr or []), daemon=True)
    reader.start()
    try:
        wait_for(lambda: _ready(port) or proc.poll() is not None, timeout=180, interval=0.5)
        assert proc.poll() is None, "".join(said)
        wait_for(lambda: any("Ctrl-C stops everything" in line for line in said), timeout=10)
        recorded = json.loads((state / "services" / "services.json").read_text())
        pids = [recorded["postgres_pid"], recorded["redis_pid"]]
        children = [
            int(p)
            for p in subprocess.run(
                ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
            ).stdout.split()
        ]
        assert len(children) >= 2, "serve and worker (and the embedded Redis) are children"
        # Another command in the same folder, with no URLs set, finds the embedded services.
        key = subprocess.run(
            [sys.executable, "-m", "service", "keys", "create", "sms"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert key.returncode == 0 and key.stdout.startswith("hitl_ck_"), key.stderr
        turn = httpx.post(
            f"http://127.0.0.1:{port}/v1/turns",
            timeout=10,
            headers={"Authorization": f"Bearer {key.stdout.strip()}"},
            json={
                "conversation_id": "c1",
                "channel": "sms",
                "customer_id": "u1",
                "message": "Hi",
                "draft": {"text": "Hello!", "confidence": 0.95},
            },
        )
        assert turn.status_code == 200 and turn.json()["action"] == "send", turn.text
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.wait(timeout=60)
        reader.join(timeout=5)
        err = "".join(said)
        assert proc.returncode == 0, err
        assert "hitl_ck_" in err and "demo@example.com" in err
        for pid in pids + children:
            assert not _alive(pid), f"process {pid} survived Ctrl-C"
    finally:
        if proc.poll() is None:
            proc.kill()


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        time.sleep(0.2)
        return False


def test_killed_up_takes_its_servers_along_and_the_next_start_recovers(
    folder: tuple[Path, int, dict[str, str]],
) -> None:
    _, port, env = folder
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    first = start_up(env, **quiet)
    second = None
    try:
        wait_for(lambda: _ready(port), timeout=180, interval=0.5)
        children = [
            int(p)
            for p in subprocess.run(
                ["pgrep", "-P", str(first.pid), "-f", "service (serve|worker)"],
                capture_output=True,
                text=True,
            ).stdout.split()
        ]
        assert len(children) == 2
        first.kill()  # SIGKILL: no clean-up code runs in `hitl up`
        first.wait()
        wait_for(lambda: not any(_alive(p) for p in children), timeout=20)
        # The next start adopts the embedded servers left running and serves again.
        second = start_up(env, **quiet)
        wait_for(lambda: _ready(port), timeout=180, interval=0.5)
        second.send_signal(signal.SIGINT)
        assert second.wait(timeout=60) == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
