"""Several processes on one registry: a writer killed mid-write leaves a sound file, concurrent writers lose nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from seedprints.registry import Registry


def assert_sound(db: Path) -> list[str]:
    """Integrity check passes and every listed entry decodes; returns the names."""
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with Registry.open(db) as reg:
        names = [e.name for e in reg.entries()]
        decoded = [entry.name for probe_hash in reg.probe_specs() for entry, _ in reg.ranked(probe_hash=probe_hash)]
    assert sorted(decoded) == sorted(names)
    return names


@pytest.mark.parametrize(
    "kills",
    [
        pytest.param([("begin", 2, 0.002)], id="during-third-add"),
        pytest.param([("begin", 0, 0.0), ("done", 1, 0.0), ("begin", 4, 0.01), ("begin", 3, 0.05)], id="four-writers",
                     marks=pytest.mark.slow),
    ],
)
def test_writer_killed_mid_write(tmp_path, kills, writer):
    """Each writer is SIGKILLed right after it reports an event (plus a delay); the next one continues the file."""
    db = tmp_path / "registry.db"
    committed: list[str] = []
    for round_, (event, index, delay) in enumerate(kills):
        with writer(db, f"w{round_}", 1000) as process:  # on exit: waits for it and closes its pipes
            for line in process.stdout:
                word, i = line.split()
                if word == "done":
                    committed.append(f"w{round_}-{i}")
                if (word, int(i)) == (event, index):
                    break
            time.sleep(delay)
            os.kill(process.pid, signal.SIGKILL)
        assert process.returncode == -signal.SIGKILL
        names = assert_sound(db)
        assert set(committed) <= set(names)  # every add that returned survived the kill


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(tmp_path, writer):
    db = tmp_path / "registry.db"
    processes = [writer(db, f"p{k}", 10) for k in range(8)]  # all create the registry at once, too
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    names = assert_sound(db)
    assert sorted(names) == sorted(f"p{k}-{i}" for k in range(8) for i in range(10))
    with Registry.open(db) as reg:
        assert all(len(reg.entries(tags={"writer": f"p{k}"})) == 10 for k in range(8))
