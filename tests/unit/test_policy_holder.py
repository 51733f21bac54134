"""The policy holder: a bad reload keeps the old policy; a changed file is noticed once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.policy.holder import PolicyHolder
from service.policy.loader import PolicyError

ROOT = Path(__file__).resolve().parents[2]
GOOD = (ROOT / "policies" / "default.yaml").read_text()


def write(path: Path, text: str, bump: int = 0) -> None:
    path.write_text(text)
    stat = path.stat()
    # Make the change visible even on filesystems with coarse timestamps.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


def test_refuses_to_start_on_an_invalid_policy(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    write(path, "version: 1\n")
    with pytest.raises(PolicyError):
        PolicyHolder(path)


def test_reload_swaps_in_a_valid_policy(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    write(path, GOOD)
    holder = PolicyHolder(path)
    first = holder.current.version
    write(path, GOOD.replace("threshold: 0.7", "threshold: 0.8"), bump=1)
    assert holder.reload() == []
    assert holder.current.version != first
    assert holder.current.confidence.threshold == 0.8


def test_reload_keeps_the_old_policy_when_the_new_one_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    write(path, GOOD)
    holder = PolicyHolder(path)
    before = holder.current
    write(path, GOOD.replace("mode: sync", "mode: synch"), bump=1)
    errors = holder.reload()
    assert errors and all("p.yaml:" in e and "(fix:" in e for e in errors)
    assert holder.current is before
    assert holder.last_errors == errors


def test_reload_of_a_deleted_file_keeps_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    write(path, GOOD)
    holder = PolicyHolder(path)
    path.unlink()
    assert holder.reload()
    assert holder.current.version


def test_check_for_change(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    write(path, GOOD)
    holder = PolicyHolder(path)
    assert holder.check_for_change() is False
    write(path, GOOD, bump=1)  # touched, same bytes
    assert holder.check_for_change() is False
    write(path, GOOD + "# edited\n", bump=2)
    assert holder.check_for_change() is True
    assert holder.check_for_change() is False  # reported once
    assert holder.reload() == []
    write(path, "broken: [\n", bump=3)
    assert holder.check_for_change() is True
    assert holder.reload()
    assert holder.check_for_change() is False  # the same broken bytes are not retried
