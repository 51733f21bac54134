"""EmbeddedServices: start or reuse PostgreSQL and Valkey for a folder, stop what it started."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from service.embedded.common import DATABASE, HOST, SERVICES_FILE, SUPERUSER, Addresses, pid_alive
from service.embedded.locations import cluster_root, server_account, server_bin_dir
from service.embedded.postgres import (
    Pg,
    _initdb,
    clear_stale_pidfile,
    ensure_database,
    live_postgres,
    prepare_root,
    start_postgres,
    stop_postgres,
)
from service.embedded.registry import _locked, discover, read_services, write_services
from service.embedded.valkey import live_valkey, start_valkey, stop_valkey

logger = logging.getLogger(__name__)


class EmbeddedServices:
    """PostgreSQL and Valkey with their state under `data_dir`.

    start() reuses servers already running there and starts the missing ones; stop() stops
    only those this object started, or adopted from an owner process that died. fsync=False
    (tests) trades durability for speed: no fsync in PostgreSQL, no persistence in Valkey.
    """

    def __init__(self, data_dir: Path, *, fsync: bool = True) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.fsync = fsync
        self._pg: Pg | None = None
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
            record = read_services(self._services_path)
            # Forget the addresses once nothing they name runs any more (whoever started it).
            if (
                record is not None
                and not pid_alive(record.get("postgres_pid"))
                and not pid_alive(record.get("redis_pid"))
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

    def _pg_context(self) -> Pg:
        if self._pg is None:
            account = server_account()
            self._pg = Pg(
                account=account,
                bin_dir=server_bin_dir(account),
                root=cluster_root(self.data_dir, account),
                fsync=self.fsync,
            )
        return self._pg

    def _start_locked(self, started: list[str]) -> Addresses:
        record = read_services(self._services_path)
        # Servers whose owner process died (crash, kill -9) are adopted: someone must stop them.
        adopt = record is None or not pid_alive(record.get("owner_pid"))
        pg_pid, pg_port = self._ensure_postgres(adopt, started)
        redis_pid, redis_port = self._ensure_valkey(record, adopt, started)
        ensure_database(pg_port)
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
            write_services(self._services_path, new)
        return addresses

    def _ensure_postgres(self, adopt: bool, started: list[str]) -> tuple[int, int]:
        pg = self._pg_context()
        prepare_root(pg)
        live = live_postgres(pg)
        if live is not None:
            pid = live[0]
            owned = adopt or pid == self._owned_postgres
            self._owned_postgres = pid if owned else None
            logger.info(
                "reusing PostgreSQL %d on port %d%s", pid, live[1], " (adopted)" if owned else ""
            )
            return live
        if (pg.pgdata / "PG_VERSION").is_file() and pg.marker.is_file():
            clear_stale_pidfile(pg)
        else:
            _initdb(pg)
        began = time.monotonic()
        pid, port = start_postgres(pg)
        self._owned_postgres = pid
        started.append("postgres")
        logger.info(
            "started PostgreSQL %d on %s:%d in %.1fs", pid, HOST, port, time.monotonic() - began
        )
        return pid, port

    def _ensure_valkey(
        self, record: dict[str, Any] | None, adopt: bool, started: list[str]
    ) -> tuple[int, int]:
        live = live_valkey(record)
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
        proc, port = start_valkey(self.data_dir / "valkey", persist=self.fsync)
        self._owned_valkey, self._valkey_proc = proc.pid, proc
        started.append("valkey")
        logger.info("started Valkey %d on %s:%d", proc.pid, HOST, port)
        return proc.pid, port

    def _stop_owned(self, which: list[str]) -> None:
        if "valkey" in which and self._owned_valkey is not None:
            logger.info("stopping Valkey %d", self._owned_valkey)
            stop_valkey(self._owned_valkey, self._valkey_proc, self.data_dir / "valkey")
            self._owned_valkey = self._valkey_proc = None
        if "postgres" in which and self._owned_postgres is not None and self._pg is not None:
            logger.info("stopping PostgreSQL %d", self._owned_postgres)
            stop_postgres(self._pg, self._owned_postgres)
            self._owned_postgres = None
