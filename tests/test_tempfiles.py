"""Temporaries left by killed writers are removed by the next write of the same target, and only those."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from seedprints import tempfiles
from seedprints.fingerprint import Fingerprint, save
from seedprints.probes import ProbeSpec


def dead_pid() -> int:
    """The id of a process that has already exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def leftover(target, pid: int, host: str | None = None, folder: bool = False):
    """A temporary named as a writer with ``pid`` on ``host`` (default: this host) would have named it."""
    host = tempfiles._host() if host is None else host
    path = target.parent / f".{target.name}.{host}-{pid}.abc123{tempfiles.SUFFIX}"
    if folder:
        path.mkdir()
        (path / "index.html").write_text("half a report")
    else:
        path.write_bytes(b"half a file")
    return path


def test_next_write_removes_dead_writers_temporaries_only(tmp_path):
    target = tmp_path / "model.fp"
    stale = leftover(target, dead_pid())
    stale_dir = leftover(target, dead_pid(), folder=True)
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    live = leftover(target, running.pid)
    other_host = leftover(target, dead_pid(), host="elsewhere")
    other_target = leftover(tmp_path / "other.fp", dead_pid())
    spec = ProbeSpec(kind="token", n=20, length=4, vocab_bound=50)
    try:
        save(Fingerprint(np.ones((20, 8), dtype=np.float32), spec, "m", {}), target)
    finally:
        running.kill()
        running.wait()
    assert target.is_file()
    assert not stale.exists() and not stale_dir.exists()
    assert live.exists() and other_host.exists() and other_target.exists()


def test_remove_stale_reports_what_it_removed_and_ignores_odd_names(tmp_path):
    target = tmp_path / "report"
    stale = leftover(target, dead_pid(), folder=True)
    odd = tmp_path / f".report.{tempfiles._host()}-notapid.x{tempfiles.SUFFIX}"
    odd.write_text("not ours to judge")
    assert tempfiles.remove_stale(target) == [stale]
    assert odd.exists() and tempfiles.remove_stale(target) == []


def test_names_with_glob_characters_are_matched_literally(tmp_path):
    target = tmp_path / "model[1].fp"
    stale = leftover(target, dead_pid())
    lookalike = leftover(tmp_path / "model1.fp", dead_pid())
    assert tempfiles.remove_stale(target) == [stale] and lookalike.exists()
