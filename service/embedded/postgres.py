"""The embedded PostgreSQL: find it, initialise, start, stop, recover."""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shlex
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from service.embedded.common import (
    DATABASE,
    HAVE_PROC,
    HOST,
    MAX_CONNECTIONS,
    PORT_ATTEMPTS,
    POSTGRES_COMM,
    START_TIMEOUT,
    STOP_TIMEOUT,
    SUPERUSER,
    EmbeddedError,
    _run,
    _tail,
    _terminate,
    free_port,
    pg_answers,
    pg_package,
    pid_alive,
    pid_is,
    size,
    wait_gone,
    works_in,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Postmaster:
    """What postmaster.pid says (line 1 pid, 4 port)."""

    pid: int
    port: int | None


def read_postmaster(pgdata: Path) -> _Postmaster | None:
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
class Pg:
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


def prepare_root(pg: Pg) -> None:
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


def live_postgres(pg: Pg) -> tuple[int, int] | None:
    """(pid, port) of a server already running on this cluster and answering, if any."""
    info = read_postmaster(pg.pgdata)
    if info is None or not pid_is(info.pid, POSTGRES_COMM):
        return None
    # A server still starting up (or recovering after a crash) gets time to get ready.
    if pg_answers(info.port, wait=15):
        assert info.port is not None
        return info.pid, info.port
    logger.warning("PostgreSQL %d is alive but does not answer; stopping it", info.pid)
    stop_postgres(pg, info.pid, mode="immediate")
    return None


def _orphan_backends(pgdata: Path) -> list[int]:
    """Backends of a killed postmaster (they run inside the data folder) still alive."""
    if not HAVE_PROC:
        return []
    target = str(pgdata.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "cwd") == target and pid_alive(int(entry.name)):
                    found.append(int(entry.name))
    return found


def clear_stale_pidfile(pg: Pg) -> None:
    """Removes postmaster.pid left by a dead server (its pid may now be someone else's)."""
    info = read_postmaster(pg.pgdata)
    if info is None:
        return
    if pid_is(info.pid, POSTGRES_COMM):
        stop_postgres(pg, info.pid, mode="immediate")
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


def _initdb(pg: Pg) -> None:
    """(Re)creates the cluster, wiping a half-initialised one."""
    pg.marker.unlink(missing_ok=True)
    if pg.pgdata.exists():
        logger.warning("PostgreSQL data in %s is incomplete; re-initialising it", pg.pgdata)
        clear_stale_pidfile(pg)
        shutil.rmtree(pg.pgdata)
    logger.info("initialising a PostgreSQL cluster in %s (first start)", pg.pgdata)
    args = ["--auth=trust", "-U", SUPERUSER, "--encoding=UTF8", "--no-locale", "--no-instructions"]
    if not pg.fsync:
        args.append("--no-sync")
    code, out = pg.run("initdb", *args, timeout=120)
    if code != 0:
        raise EmbeddedError(f"initdb failed in {pg.pgdata}:\n{out}")
    pg.marker.write_text("ok\n")


def _server_options(pg: Pg, port: int) -> str:
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


def start_postgres(pg: Pg) -> tuple[int, int]:
    """Starts the server on a free port (another one if taken meanwhile); returns (pid, port)."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        offset = size(pg.log)
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
        info = read_postmaster(pg.pgdata)
        if code == 0 and info is not None and pid_is(info.pid, POSTGRES_COMM):
            return info.pid, port
        log = _tail(pg.log, offset)
        if "Address already in use" in log and attempt < PORT_ATTEMPTS:
            logger.info("port %d was taken meanwhile; trying another", port)
            clear_stale_pidfile(pg)
            continue
        raise EmbeddedError(f"PostgreSQL did not start:\n{out}\n--- {pg.log} ---\n{log}")
    raise AssertionError("unreachable")


def stop_postgres(pg: Pg, pid: int, mode: str = "fast") -> None:
    """Stops the server `pid` if it is still the one running this cluster."""
    info = read_postmaster(pg.pgdata)
    if not pid_is(pid, POSTGRES_COMM):
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
        if code == 0 or wait_gone(pid, 1):
            return
        logger.warning("pg_ctl stop failed (%s); signalling PostgreSQL %d", out.strip(), pid)
    elif info is not None or not works_in(pid, pg.pgdata):
        return  # another server owns the cluster now, or the pid is no longer ours
    # SIGQUIT is PostgreSQL's immediate shutdown; the next start recovers from the WAL.
    _terminate(pid, signal.SIGQUIT, 10)


def ensure_database(port: int) -> None:
    psql = str(pg_package() / "pginstall" / "bin" / "psql")
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
