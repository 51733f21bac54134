"""The embedded Valkey (Redis): find it, start, stop."""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from service.embedded.common import (
    HOST,
    PORT_ATTEMPTS,
    START_TIMEOUT,
    VALKEY_COMM,
    EmbeddedError,
    _tail,
    _terminate,
    free_port,
    pid_is,
    size,
    url_port,
    valkey_answers,
    valkey_binary,
    works_in,
)

logger = logging.getLogger(__name__)


def live_valkey(record: dict[str, Any] | None) -> tuple[int, int] | None:
    """(pid, port) of the Valkey recorded in services.json, if it is still alive and answering."""
    if record is None:
        return None
    pid, port = record.get("redis_pid"), url_port(record.get("redis_url"))
    if (
        isinstance(pid, int)
        and port is not None
        and pid_is(pid, VALKEY_COMM)
        and valkey_answers(port)
    ):
        return pid, port
    return None


def _stop_orphan_valkey(folder: Path) -> None:
    """Stops an unrecorded Valkey still serving our folder: two must never share its files."""
    try:
        pid = int((folder / "valkey.pid").read_text().strip())
    except (OSError, ValueError):
        return
    if pid_is(pid, VALKEY_COMM) and works_in(pid, folder):
        logger.warning("stopping Valkey %d left over in %s", pid, folder)
        _terminate(pid, signal.SIGTERM, 10)


def start_valkey(folder: Path, persist: bool) -> tuple[subprocess.Popen[bytes], int]:
    """Starts Valkey on a free port (another one if taken meanwhile); returns (process, port)."""
    folder.mkdir(parents=True, exist_ok=True)
    _stop_orphan_valkey(folder)
    log = folder / "valkey.log"
    durability = (
        ["--appendonly", "yes", "--appendfsync", "everysec"] if persist else ["--appendonly", "no"]
    )
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        offset = size(log)
        cmd = [
            str(valkey_binary()),
            "--port",
            str(port),
            "--bind",
            HOST,
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--dir",
            str(folder),
            "--pidfile",
            str(folder / "valkey.pid"),
            "--logfile",
            "",
            "--save",
            "",
            *durability,
        ]
        with log.open("ab") as out:
            # Own session: a Ctrl-C meant for `hitl up` must not kill it before stop() runs.
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=folder,
                start_new_session=True,
            )
        if _wait_valkey(proc, port):
            return proc, port
        stop_valkey(proc.pid, proc, folder)
        text = _tail(log, offset)
        if "Address already in use" in text and attempt < PORT_ATTEMPTS:
            logger.info("port %d was taken meanwhile; trying another", port)
            continue
        raise EmbeddedError(f"Valkey did not start:\n--- {log} ---\n{text}")
    raise AssertionError("unreachable")


def _wait_valkey(proc: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        if valkey_answers(port):
            return True
        time.sleep(0.02)
    return False


def stop_valkey(pid: int, proc: subprocess.Popen[bytes] | None, folder: Path) -> None:
    if proc is not None:  # our child: terminate and reap it
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return
    if pid_is(pid, VALKEY_COMM) and works_in(pid, folder):  # adopted from a crashed owner
        _terminate(pid, signal.SIGTERM, 10)
