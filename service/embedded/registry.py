"""services.json and its lock: which servers run for a folder, found by other processes."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from service.embedded.common import (
    LOCK_FILE,
    LOCK_TIMEOUT,
    POSTGRES_COMM,
    SERVICES_FILE,
    VALKEY_COMM,
    Addresses,
    EmbeddedError,
    pg_answers,
    pid_is,
    url_port,
    valkey_answers,
)


def read_services(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_services(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)  # readers never see half a file


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Serialises start/stop on one folder across processes (two `hitl up`, test workers)."""
    if not data_dir.is_dir():  # removed under us: stopping must still work
        yield
        return
    with (data_dir / LOCK_FILE).open("a") as f:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EmbeddedError(f"{data_dir / LOCK_FILE} stayed locked") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def discover(data_dir: Path) -> Addresses | None:
    """Addresses recorded by a running `hitl up` in data_dir, if its servers are alive and
    answer; else None."""
    record = read_services(Path(data_dir) / SERVICES_FILE)
    if record is None:
        return None
    database_url, redis_url = record.get("database_url"), record.get("redis_url")
    if not isinstance(database_url, str) or not isinstance(redis_url, str):
        return None
    if not (
        pid_is(record.get("postgres_pid"), POSTGRES_COMM)
        and pid_is(record.get("redis_pid"), VALKEY_COMM)
    ):
        return None
    if not (valkey_answers(url_port(redis_url)) and pg_answers(url_port(database_url))):
        return None
    return Addresses(database_url=database_url, redis_url=redis_url)
