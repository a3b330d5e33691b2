"""Fixtures for registry tests: tiny fingerprints built with numpy, a fresh registry path, a PostgreSQL server,
and writer processes."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Callable, Iterator

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




def _server_bin() -> Path | None:
    """The folder holding PostgreSQL's initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/VERSION/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda f: int(Path(f).parent.name))
    return Path(folders[-1]) if folders and Path(folders[-1], "pg_ctl").exists() else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server for this test session on a Unix socket (no TCP); yields a URL template with {database}.

    initdb refuses to run as root, so as root the server runs as the user nobody. Skipped when the server is not
    installed, unless $SEEDPRINTS_REQUIRE_POSTGRES is set (CI), where that fails instead.
    """
    bin_dir = _server_bin()
    if bin_dir is None:
        reason = "PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's postgresql package (.ci/run does)"
        if os.environ.get("SEEDPRINTS_REQUIRE_POSTGRES"):
            pytest.fail(reason)
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="sp-pg-"))  # short: a socket path has at most 107 characters
    root.chmod(0o755)
    data, sock = root / "data", root / "sock"
    as_user = ["runuser", "-u", "nobody", "--"] if os.getuid() == 0 else []
    for folder in (data, sock):
        folder.mkdir()
        if as_user:
            shutil.chown(folder, "nobody")
    run = lambda *args: subprocess.run([*as_user, *args], check=True, capture_output=True, text=True)  # noqa: E731
    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-w",
        "-o", f"-k {sock} -c listen_addresses='' -c fsync=off", "start")
    try:
        yield f"postgresql://postgres@/{{database}}?host={sock}"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_server: str) -> str:
    """URL of a new, empty database on the session's server."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.format(database="postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_server.format(database=name)


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
