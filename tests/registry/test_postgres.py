"""The PostgreSQL registry: the same semantics as the SQLite file, on a real server started for the session."""

from __future__ import annotations

import json
import os
import signal
import tarfile

import psycopg
import pytest

from seedprints.errors import RegistryError
from seedprints.search.identification import identify
from seedprints.registry import schema
from seedprints.search.index import Registry, screen_pages  # the registry that stores the search index

from ..conftest import assert_one_line_error, run
from .conftest import tiny_fingerprint

# Opens a transaction that writes one entry, says so, then waits to be killed before it could commit.
STUCK_WRITER = """
import sys, time
import numpy as np
from seedprints.encoding import encode, rank_fingerprint
from seedprints.fingerprint import Fingerprint
from seedprints.probes import token_spec
from seedprints.registry import Registry
from seedprints.registry.entries import NewEntry

path, prefix, _ = sys.argv[1:]
ranked = rank_fingerprint(Fingerprint(hidden=np.random.default_rng(0).standard_normal((200, 16)).astype(np.float32),
                                      spec=token_spec(200, 4, 100), model_id=prefix))

def items():
    yield NewEntry(f"{prefix}-0", {"writer": prefix}, ranked, encode(ranked), None, "2026-01-01T00:00:00+00:00")
    print("inside", flush=True)
    time.sleep(600)

with Registry.open(path) as reg:
    reg.add_many(items(), replace=False)
"""


def _fp(seed: int):
    return tiny_fingerprint(seed, n=200, d=16, logits=True, model_id=f"models/m{seed}")


def _archive_entries(path) -> tuple:
    """An archive's manifest entries and member bytes (everything but when it was exported)."""
    with tarfile.open(path) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        return manifest["entries"], [tar.extractfile(m).read() for m in tar.getmembers() if m.name != "manifest.json"]


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("entries", "tags", "screens")}


class TestSemantics:
    def test_add_list_remove_and_scan_log(self, pg_url):
        with Registry.open(pg_url) as reg:
            entry = reg.add(_fp(0), name="a", tags={"family": "llama"})
            reg.add(_fp(1), name="b", tags={"family": "gpt"})
            assert reg.get("a") == entry and entry.n_logits == 8
            assert [e.name for e in reg.entries(tags={"family": "llama"})] == ["a"]
            with pytest.raises(RegistryError, match="already has an entry named 'a'"):
                reg.add(_fp(2), name="a")
            assert reg.add(_fp(2), name="a", replace=True).model_id == "models/m2"
            assert reg.probe_specs()[entry.probe_hash][1] == 2
            assert [reg.record_scan("s", {"k": 1}, []), reg.record_scan("t", {}, [{"x": 1}])] == [1, 2]
            assert [s["suspect"] for s in reg.scans()] == ["s", "t"]
            reg.remove("b")
            with pytest.raises(RegistryError, match="no entry named 'b'"):
                reg.remove("b")
        assert _counts(pg_url) == {"entries": 1, "tags": 0, "screens": 1}  # tags and stage-1 data go with their entry

    def test_no_integrity_check_of_ours(self, pg_url):
        """The server guards its own pages: seedprints reports no damage of its own finding, and writes go on."""
        with Registry.open(pg_url) as reg:
            assert reg.damage() is None
            reg.check_intact()
            reg.add(_fp(0), name="a")

    def test_identify_equals_sqlite(self, pg_url, tmp_path):
        results = []
        for location in (pg_url, tmp_path / "r.db"):
            with Registry.open(location) as reg:
                for seed in range(4):
                    reg.add(_fp(seed), name=f"m{seed}")
            result = identify(_fp(1), location, top=None)
            results.append([(c.name, c.log10_p, c.log10_p_holm, c.verdict, c.probes) for c in result.candidates])
        assert results[0] == results[1] and results[0][0][0] == "m1" and results[0][0][3] == "same-lineage"

    def test_archive_moves_entries_between_backends(self, pg_url, tmp_path):
        with Registry.open(tmp_path / "a.db") as reg:
            reg.add(_fp(0), name="a", tags={"family": "llama"})
            reg.export(tmp_path / "a.tar")
            _, blob = reg.encoding("a")
        with Registry.open(pg_url) as reg:
            assert [e.name for e in reg.import_archive(tmp_path / "a.tar")] == ["a"]
            assert reg.encoding("a")[1] == blob and reg.get("a").tags == {"family": "llama"}
            reg.export(tmp_path / "b.tar")
        assert _archive_entries(tmp_path / "b.tar") == _archive_entries(tmp_path / "a.tar")  # all but the export time

    def test_snapshot_ignores_later_writes(self, pg_url):
        with Registry.open(pg_url) as reg, Registry.open(pg_url) as other:
            reg.add(_fp(0), name="a")
            with reg.snapshot():
                assert len(reg.entries()) == 1
                other.add(_fp(1), name="b")
                assert len(reg.entries()) == 1
            assert len(reg.entries()) == 2


class TestSchema:
    def test_v2_registry_gains_stage1_data(self, pg_url):
        with Registry.open(pg_url) as reg:
            reg.add(_fp(0), name="a")
            reg.add(_fp(1), name="b")
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DROP TABLE screens")
            conn.execute("UPDATE seedprints_registry SET schema_version = 2")
        with Registry.open(pg_url) as reg:
            pages = list(screen_pages(reg, probe_hash=reg.get("a").probe_hash))
        assert [name for page in pages for name, screen in page if screen is not None] == ["a", "b"]
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT schema_version FROM seedprints_registry").fetchone()[0] == schema.SCHEMA_VERSION

    def test_newer_schema_is_refused(self, pg_url):
        Registry.open(pg_url).close()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("UPDATE seedprints_registry SET schema_version = 99")
        with pytest.raises(RegistryError, match=r"newer seedprints \(schema 99\); upgrade"):
            Registry.open(pg_url)

    def test_foreign_database_is_refused_untouched(self, pg_url):
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE customers (id INTEGER)")
        with pytest.raises(RegistryError, match="not a seedprints registry"):
            Registry.open(pg_url)
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").fetchone()[0] == 1


class TestCli:
    def test_verbs_and_identify_on_a_server(self, capsys, pg_url, tmp_path):
        for seed in range(3):
            path = _fp(seed).save(tmp_path / f"m{seed}.fp.safetensors")
            assert run(capsys, "registry", "add", path, "--name", f"m{seed}", "--registry", pg_url)[0] == 0
        code, out, err = run(capsys, "registry", "list", "--json", "--registry", pg_url)
        assert code == 0, err
        assert [e["name"] for e in json.loads(out)["entries"]] == ["m0", "m1", "m2"]
        code, out, err = run(capsys, "identify", tmp_path / "m2.fp.safetensors", "--registry", pg_url, "--json")
        assert code == 0, err
        assert json.loads(out)["candidates"][0]["name"] == "m2"
        assert run(capsys, "registry", "export", tmp_path / "all.tar", "--registry", pg_url)[0] == 0

    def test_import_into_a_server(self, capsys, pg_url, tmp_path):
        with Registry.open(tmp_path / "a.db") as reg:
            reg.add(_fp(0), name="a", tags={"family": "llama"})
            reg.export(tmp_path / "a.tar")
        code, out, err = run(capsys, "registry", "import", tmp_path / "a.tar", "--registry", pg_url, "--json")
        assert code == 0, err
        assert json.loads(out)["entries"] == ["a"]
        with Registry.open(pg_url) as reg:
            assert reg.get("a").tags == {"family": "llama"}
        code, _, err = run(capsys, "registry", "import", tmp_path / "a.tar", "--registry", pg_url)
        assert_one_line_error(code, err, "already has entries named 'a'")

    def test_unreachable_server_is_one_line(self, capsys, tmp_path):
        url = f"postgresql://postgres@/none?host={tmp_path}"
        code, _, err = run(capsys, "registry", "list", "--registry", url)
        assert_one_line_error(code, err, "cannot connect to registry", "check the URL and that the server runs")


class TestProcesses:
    def test_eight_concurrent_writers_make_eighty_entries(self, pg_url, writer):
        processes = [writer(pg_url, f"p{k}", 10) for k in range(8)]  # all create the registry at once, too
        for process in processes:
            _, err = process.communicate(timeout=300)
            assert process.returncode == 0, err
        with Registry.open(pg_url) as reg:
            assert sorted(e.name for e in reg.entries()) == sorted(f"p{k}-{i}" for k in range(8) for i in range(10))
            assert all(len(reg.entries(tags={"writer": f"p{k}"})) == 10 for k in range(8))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_writer_killed_mid_transaction_leaves_no_partial_entry(backend, request, tmp_path, writer):
    location = request.getfixturevalue("pg_url") if backend == "postgresql" else tmp_path / "r.db"
    Registry.open(location).close()
    with writer(location, "k", 1, script=STUCK_WRITER) as process:  # on exit: waits for it and closes its pipes
        assert process.stdout.readline().strip() == "inside", process.stderr.read()
        os.kill(process.pid, signal.SIGKILL)
    with Registry.open(location, timeout=5) as reg:
        assert reg.entries() == []
        reg.add(_fp(0), name="after")  # the killed writer's lock is gone
        assert [e.name for e in reg.entries()] == ["after"]
        assert [name for page in reg.index_pages(probe_hash=reg.get("after").probe_hash) for name, _ in page] == ["after"]
    if backend == "postgresql":
        assert _counts(location) == {"entries": 1, "tags": 0, "screens": 1}



def test_seeds_register_into_a_team_registry(pg_url, tmp_path, capsys):
    """`seeds register` writes candidate init seeds into a PostgreSQL registry, resumably, and identify finds the seed."""
    from seedprints import seeds

    config = {"model_type": "llama", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
              "intermediate_size": 32, "vocab_size": 100, "max_position_embeddings": 64}
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    argv = ("seeds", "register", "--config", config_file, "--seeds", "0-2", "--registry", pg_url, "--n", "40",
            "--length", "8", "--json")
    code, out, err = run(capsys, *argv)
    assert code == 0 and json.loads(out)["added"] == ["seed-0", "seed-1", "seed-2"], err
    code, out, err = run(capsys, *argv)
    assert code == 0 and json.loads(out)["added"] == [], err
    with Registry.open(pg_url) as reg:
        spec = reg.get("seed-1").spec
    suspect = tmp_path / "seed-1.fp.safetensors"
    next(seeds.fingerprint_seeds(config, [1], spec)).save(suspect)
    code, out, err = run(capsys, "identify", suspect, "--registry", pg_url, "--json")
    assert code == 0 and json.loads(out)["candidates"][0]["name"] == "seed-1", err
