"""Registry store: every API call, the file checks (foreign, newer, locked), migration, and refusal of bad names."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from seedprints.encoding import rank_fingerprint
from seedprints.errors import RegistryError, UsageError
from seedprints.registry import Registry, RegistryEntry
from seedprints.registry import schema, sqlite_db
from seedprints.registry.entries import NewEntry, sha256_file
from seedprints.stats.lineage import lineage_test_ranked, standardized_ranks
from seedprints.stats.methods import METHODS
from ..conftest import assert_close_results



def _index(ranked):
    """A stand-in search index: the registry stores whatever bytes the opener's function makes, or none."""
    return None if ranked.n < 100 else f"index of {ranked.n} probes".encode()

class TestOpen:
    def test_new_file_is_marked_as_ours(self, db):
        Registry.open(db).close()
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA application_id").fetchone()[0] == sqlite_db.APPLICATION_ID
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    def test_missing_folder_is_refused(self, tmp_path):
        with pytest.raises(RegistryError, match="folder .*a/b does not exist; create it first"):
            Registry.open(tmp_path / "a" / "b" / "r.db")
        assert list(tmp_path.iterdir()) == []

    def test_fifo_is_refused_without_blocking(self, fifo):
        with pytest.raises(RegistryError, match="not a regular file \\(a pipe or device\\)"):
            Registry.open(fifo, create=False)

    @pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
    def test_device_is_refused_before_sqlite_writes_a_journal(self, monkeypatch):
        monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: pytest.fail("SQLite opened a device"))
        with pytest.raises(RegistryError, match="not a regular file"):
            Registry.open(Path("/dev/null"))

    def test_missing_without_create(self, db):
        with pytest.raises(RegistryError, match="does not exist"):
            Registry.open(db, create=False)
        assert not db.exists()

    def test_not_sqlite(self, db):
        db.write_text("hello, not a database\n" * 10)
        with pytest.raises(RegistryError, match="not a seedprints registry \\(not an SQLite database\\)"):
            Registry.open(db)
        assert db.read_text().startswith("hello")

    def test_foreign_sqlite(self, db):
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
        conn.close()
        with pytest.raises(RegistryError, match="another program"):
            Registry.open(db)

    def test_other_application_id(self, db):
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA application_id = 1234")
        conn.close()
        with pytest.raises(RegistryError, match="another program"):
            Registry.open(db)

    def test_newer_schema(self, db):
        Registry.open(db).close()
        conn = sqlite3.connect(db)
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
        conn.close()
        with pytest.raises(RegistryError, match=f"newer seedprints \\(schema {schema.SCHEMA_VERSION + 1}\\); upgrade"):
            Registry.open(db)

    def test_directory(self, tmp_path):
        with pytest.raises(RegistryError, match="is a directory"):
            Registry.open(tmp_path)

    def test_locked(self, db, make_fp):
        Registry.open(db).close()
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with Registry.open(db, timeout=0.1) as reg:
                with pytest.raises(RegistryError, match="is locked by another process; try again"):
                    reg.add(make_fp(), name="a")
                assert reg.entries() == []  # readers are not blocked (WAL)
        finally:
            holder.execute("ROLLBACK")
            holder.close()


V1_SCHEMA = (
    """CREATE TABLE entries (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, probe_hash TEXT NOT NULL,
       spec TEXT NOT NULL, model_id TEXT NOT NULL, hidden_size INTEGER NOT NULL, n INTEGER NOT NULL,
       n_logits INTEGER NOT NULL, metadata TEXT NOT NULL, tags TEXT NOT NULL, source_path TEXT, source_sha256 TEXT,
       encoding BLOB NOT NULL, encoding_sha256 TEXT NOT NULL, created_at TEXT NOT NULL)""",
    "CREATE INDEX entries_probe_hash ON entries (probe_hash)",
)


class TestMigration:
    def test_v1_file_is_migrated(self, db, make_fp):
        # Build a schema-1 registry by hand: tags as a JSON column, no tags or scans tables.
        with Registry.open(db) as reg:
            reg.add(make_fp(), name="a")
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT * FROM entries").fetchone()
        db.unlink()
        conn = sqlite3.connect(db)
        for statement in V1_SCHEMA:
            conn.execute(statement)
        values = list(row[1:9]) + [json.dumps({"family": "llama", "seed": "7"})] + list(row[9:])
        conn.execute(f"INSERT INTO entries VALUES (1, {', '.join('?' * len(values))})", values)
        conn.execute(f"PRAGMA application_id = {sqlite_db.APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
        conn.close()

        with Registry.open(db) as reg:
            entry = reg.get("a")
            assert entry.tags == {"family": "llama", "seed": "7"}
            assert [e.name for e in reg.entries(tags={"seed": "7"})] == ["a"]
            assert reg.record_scan("s", {}, []) == 1
            [(_, ranked)] = reg.ranked(probe_hash=entry.probe_hash)
            np.testing.assert_array_equal(ranked.hidden_scores, standardized_ranks(make_fp().hidden))
        assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION

    def test_v2_file_gains_its_search_index(self, db, make_fp):
        with Registry.open(db, index=_index) as reg:
            entry = reg.add(make_fp(0, n=200, d=16), name="a")
            reg.add(make_fp(1), name="few-probes")
        conn = sqlite3.connect(db)
        conn.execute("DROP TABLE screens")
        conn.execute("PRAGMA user_version = 2")
        conn.commit()
        conn.close()
        with Registry.open(db, index=_index) as reg:
            [[(name, data)]] = list(reg.index_pages(probe_hash=entry.probe_hash))
            assert name == "a" and data == b"index of 200 probes"
        conn = sqlite3.connect(db)
        assert conn.execute("SELECT count(*) FROM screens").fetchone()[0] == 1  # 20 probes: no index, full test
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 3

    def test_the_index_is_the_openers_bytes_stored_as_given(self, db, make_fp):
        with Registry.open(db) as reg:
            plain = reg.add(make_fp(0, n=200, d=16), name="plain")
        with Registry.open(db, index=_index) as reg:
            reg.add(make_fp(1, n=200, d=16), name="indexed")
            assert list(reg.index_pages(probe_hash=plain.probe_hash)) == [[("plain", None), ("indexed", b"index of 200 probes")]]

    def test_failed_migration_leaves_the_old_file(self, db, monkeypatch):
        conn = sqlite3.connect(db)
        for statement in V1_SCHEMA:
            conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {sqlite_db.APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
        conn.close()

        def broken(conn, index):
            schema._v1_to_v2(conn, index)
            raise KeyboardInterrupt  # Ctrl-C after the step ran, before the commit

        monkeypatch.setitem(schema.MIGRATIONS, 1, broken)
        with pytest.raises(KeyboardInterrupt):
            Registry.open(db)
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert "tags" in [c[1] for c in conn.execute("PRAGMA table_info(entries)")]


class TestEntries:
    def test_add_and_get(self, db, make_fp, tmp_path):
        fp = make_fp(logits=True)
        path = fp.save(tmp_path / "a.safetensors")
        with Registry.open(db) as reg:
            entry = reg.add(fp, name="a", tags={"family": "llama"}, source=path)
            assert isinstance(entry, RegistryEntry) and reg.get("a") == entry
        assert (entry.n, entry.hidden_size, entry.n_logits, entry.model_id) == (20, 8, 8, "models/tiny")
        assert entry.probe_hash == fp.probe_hash and entry.spec == fp.spec and entry.tags == {"family": "llama"}
        assert entry.source_path == str(path.resolve()) and entry.source_sha256 == sha256_file(path)
        assert entry.metadata["dtype"] == "float32" and len(entry.encoding_sha256) == 64 and entry.encoded_bytes > 0
        assert json.loads(json.dumps(entry.to_dict()))["spec"]["kind"] == "token"

    def test_ranked_fingerprint_is_accepted(self, db, make_fp):
        ranked = rank_fingerprint(make_fp(), source_sha256="ab" * 32)
        with Registry.open(db) as reg:
            assert reg.add(ranked, name="r").source_sha256 == "ab" * 32

    def test_entries_sorted_and_filtered(self, db, make_fp):
        other_spec = make_fp(logits=True)
        with Registry.open(db) as reg:
            reg.add(make_fp(1), name="b", tags={"family": "llama", "seed": "1"})
            reg.add(make_fp(2), name="a", tags={"family": "llama", "seed": "2"})
            reg.add(other_spec, name="c", tags={"family": "qwen"})
            assert [e.name for e in reg.entries()] == ["a", "b", "c"]
            assert [e.name for e in reg.entries(tags={"family": "llama"})] == ["a", "b"]
            assert [e.name for e in reg.entries(tags={"family": "llama", "seed": "1"})] == ["b"]
            assert [e.name for e in reg.entries(probe_hash=other_spec.probe_hash)] == ["c"]
            specs = reg.probe_specs()
        assert specs == {make_fp().probe_hash: (make_fp().spec, 2), other_spec.probe_hash: (other_spec.spec, 1)}

    def test_ranked_gives_the_full_fingerprints_numbers(self, db, make_fp):
        ref, suspect = make_fp(1, n=40, logits=True), make_fp(2, n=40, logits=True)
        with Registry.open(db) as reg:
            reg.add(ref, name="ref")
            reg.add(suspect, name="suspect")
            decoded = dict((e.name, r) for e, r in reg.ranked(probe_hash=ref.probe_hash))
            assert [e.name for e, _ in reg.ranked(probe_hash=ref.probe_hash, names=["suspect"])] == ["suspect"]
        np.testing.assert_array_equal(decoded["ref"].hidden_scores, standardized_ranks(ref.hidden))
        np.testing.assert_array_equal(decoded["ref"].logit_scores, standardized_ranks(ref.logits.astype(np.float64)))
        full = METHODS["lineage"](ref, suspect, alpha=0.01)
        from_entries = lineage_test_ranked(decoded["ref"], decoded["suspect"], alpha=0.01)
        assert_close_results([from_entries.z, from_entries.p_value, from_entries.log10_p], [full.z, full.p_value, full.log10_p])

    def test_duplicate_name(self, db, make_fp):
        with Registry.open(db) as reg:
            reg.add(make_fp(1), name="a", tags={"seed": "1"})
            with pytest.raises(RegistryError, match="already has an entry named 'a'; choose another --name or pass --replace"):
                reg.add(make_fp(2), name="a")
            assert reg.get("a").tags == {"seed": "1"}
            replaced = reg.add(make_fp(2), name="a", tags={"seed": "2"}, replace=True)
            assert replaced.tags == {"seed": "2"} and len(reg.entries()) == 1

    def test_unknown_name(self, db, make_fp):
        with Registry.open(db) as reg:
            reg.add(make_fp(), name="a")
            for call in (lambda: reg.get("nope"), lambda: reg.remove("nope"),
                         lambda: list(reg.ranked(probe_hash=make_fp().probe_hash, names=["nope"]))):
                with pytest.raises(RegistryError, match="no entry named 'nope'"):
                    call()

    def test_remove(self, db, make_fp):
        with Registry.open(db) as reg:
            reg.add(make_fp(), name="a", tags={"k": "v"})
            reg.remove("a")
            assert reg.entries() == [] and reg.entries(tags={"k": "v"}) == []
        assert sqlite3.connect(db).execute("SELECT count(*) FROM tags").fetchone()[0] == 0

    def test_corrupt_encoding_is_named(self, db, make_fp):
        with Registry.open(db) as reg:
            reg.add(make_fp(), name="a")
        with sqlite3.connect(db) as conn:
            blob = bytearray(conn.execute("SELECT encoding FROM entries").fetchone()[0])
            blob[-1] ^= 0xFF
            conn.execute("UPDATE entries SET encoding = ?", (bytes(blob),))
        with Registry.open(db) as reg, pytest.raises(RegistryError, match="entry 'a' is corrupt"):
            list(reg.ranked(probe_hash=make_fp().probe_hash))

    def test_scans(self, db):
        with Registry.open(db) as reg:
            first = reg.record_scan("suspect.fp", {"alpha": 0.01}, [{"name": "a", "p_value": 0.5}])
            second = reg.record_scan("other.fp", {}, [])
            assert second == first + 1
            assert reg.scans()[0]["results"] == [{"name": "a", "p_value": 0.5}]
            with pytest.raises(UsageError, match="plain JSON"):
                reg.record_scan("x", {"alpha": float("nan")}, [])
            assert len(reg.scans()) == 2

    def test_interrupted_batch_writes_nothing(self, db, make_fp):
        fp = rank_fingerprint(make_fp())
        from seedprints.encoding import encode

        def items():
            yield NewEntry("a", {}, fp, encode(fp), None, "2026-01-01T00:00:00+00:00")
            raise KeyboardInterrupt

        with Registry.open(db) as reg:
            with pytest.raises(KeyboardInterrupt):
                reg.add_many(items(), replace=False)
            assert reg.entries() == []


class TestBadNamesAndTags:
    @pytest.mark.parametrize(
        ("name", "problem"),
        [("", "must not be empty"), ("a/b", "path separator"), ("a\\b", "path separator"), ("x" * 201, "at most 200"),
         ("tab\there", "unprintable"), (" padded", "space"), ("-dash", "starts with '-'")],
    )
    def test_bad_name(self, db, make_fp, name, problem):
        with Registry.open(db) as reg:
            with pytest.raises(UsageError, match=problem):
                reg.add(make_fp(), name=name)
            assert reg.entries() == []

    @pytest.mark.parametrize("tags", [{"": "v"}, {"a=b": "v"}, {"k": "line\nbreak"}])
    def test_bad_tags(self, db, make_fp, tags):
        with Registry.open(db) as reg:
            with pytest.raises(UsageError):
                reg.add(make_fp(), name="a", tags=tags)
            assert reg.entries() == []

    def test_python_advice_names_no_cli_flag(self, db, make_fp):
        with Registry.open(db) as reg:
            for name in ("", "-dash"):
                with pytest.raises(UsageError) as caught:
                    reg.add(make_fp(), name=name)
                assert "--name" not in str(caught.value)


class TestWrongTypes:
    """The Python API names the wrong type instead of failing deep inside with an AttributeError."""

    @pytest.mark.parametrize(("fp", "kwargs", "fragment"), [
        (None, {"name": "x"}, "takes a Fingerprint or RankedFingerprint, got NoneType"),
        (5, {"name": "x"}, "takes a Fingerprint or RankedFingerprint, got int"),
        ("fp", {"name": 5}, "entry name must be a str, got int"),
        ("fp", {"name": "x", "tags": ["a"]}, "tags must be a dict of str to str"),
        ("fp", {"name": "x", "tags": {"k": 3}}, "keys and values must be strings"),
    ])
    def test_add(self, db, make_fp, fp, kwargs, fragment):
        with Registry.open(db) as reg:
            with pytest.raises(TypeError, match=fragment):
                reg.add(make_fp() if fp == "fp" else fp, **kwargs)
            assert reg.entries() == []
