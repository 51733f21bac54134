"""A running server takes a new policy on SIGHUP or file change, and keeps the old one if invalid."""

from __future__ import annotations

import hashlib
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import Process, free_port, process_env, wait_for, wait_http_ready

from service.detection import binding, heads
from service.settings import Settings


def version(base: str) -> str:
    return str(httpx.get(f"{base}/readyz").json()["policy_version"])


@pytest.fixture
def own_server(settings: Settings, tmp_path: Path) -> Any:
    policy = tmp_path / "policy.yaml"
    policy.write_text(settings.policy_path.read_text())
    port = free_port()
    env = process_env(settings) | {"HITL_PORT": str(port), "HITL_POLICY_PATH": str(policy)}
    proc = Process(["serve"], env, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"
    wait_http_ready(f"{base}/readyz", proc)
    yield base, policy, proc
    proc.stop()


def test_file_change_is_picked_up_and_invalid_policy_kept_out(own_server: Any) -> None:
    base, policy, proc = own_server
    original = version(base)
    changed = policy.read_text().replace("threshold: 0.7", "threshold: 0.8")
    policy.write_text(changed)
    # The text's SHA-256 bound to the detector's heads (service/detection/binding.py).
    new = binding.version(hashlib.sha256(changed.encode()).hexdigest(), heads.load())
    wait_for(lambda: version(base) == new, timeout=10)
    policy.write_text(changed.replace("mode: sync", "mode: synchronous", 1))
    proc.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "policy reload refused" in proc.output(), timeout=10)
    assert version(base) == new != original
    assert proc.alive()


def test_invalid_policy_refuses_to_start(settings: Settings, tmp_path: Path) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text(settings.policy_path.read_text().replace("threshold: 0.7", "threshold: high"))
    env = process_env(settings) | {"HITL_PORT": str(free_port()), "HITL_POLICY_PATH": str(policy)}
    proc = Process(["serve"], env, tmp_path / "serve.log")
    proc.proc.wait(timeout=30)
    assert proc.proc.returncode != 0
    assert "bad.yaml:" in proc.output() and "threshold" in proc.output()
    proc.stop()
