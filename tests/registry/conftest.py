"""Fixtures for registry tests: tiny fingerprints built with numpy, a fresh registry path, and writer processes
(the PostgreSQL server is in tests/conftest.py, for the fleet's tests too)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from seedprints.fingerprint import Fingerprint
from seedprints.probes import ProbeSpec, token_spec

FIXED = {"created_at": "2026-01-01T00:00:00+00:00", "seedprints_version": "0.0.0", "dtype": "float32"}


def tiny_fingerprint(seed: int = 0, n: int = 20, d: int = 8, logits: bool = False, model_id: str = "models/tiny") -> Fingerprint:
    """A random [n, d] fingerprint; with ``logits``, an untrained-token spec and [n, 8] logits."""
    rng = np.random.default_rng(seed)
    spec = (
        ProbeSpec(kind="token", n=n, length=4, vocab_bound=100, input_tokens=(1, 2, 3), output_tokens=tuple(range(7, 15)),
                  untrained_from=7)
        if logits else token_spec(n, 4, 100)
    )
    return Fingerprint(
        hidden=rng.standard_normal((n, d)).astype(np.float32), spec=spec, model_id=model_id, metadata=dict(FIXED),
        logits=rng.standard_normal((n, 8)).astype(np.float32) if logits else None,
    )


@pytest.fixture
def make_fp() -> Callable[..., Fingerprint]:
    """Factory of tiny fingerprints (see :func:`tiny_fingerprint`)."""
    return tiny_fingerprint


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Path of a registry that does not exist yet."""
    return tmp_path / "registry.db"


# Adds entries PREFIX-0, PREFIX-1, ... (COUNT of them); prints "begin i" before and "done i" after each add.
WRITER = """
import sys
import numpy as np
from seedprints.fingerprint import Fingerprint
from seedprints.probes import token_spec
from seedprints.registry import Registry

path, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(int.from_bytes(prefix.encode(), "big"))
with Registry.open(path) as reg:
    for i in range(count):
        fp = Fingerprint(hidden=rng.standard_normal((200, 64)).astype(np.float32), spec=token_spec(200, 4, 100), model_id=prefix)
        print("begin", i, flush=True)
        reg.add(fp, name=f"{prefix}-{i}", tags={"writer": prefix})
        print("done", i, flush=True)
"""


def start_writer(registry: Path | str, prefix: str, count: int, script: str = WRITER) -> subprocess.Popen:
    """A process running ``script`` with arguments registry, prefix and count (by default :data:`WRITER`)."""
    return subprocess.Popen(
        [sys.executable, "-c", script, str(registry), prefix, str(count)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def writer() -> Callable[..., subprocess.Popen]:
    """Starts writer processes (see :func:`start_writer`)."""
    return start_writer
