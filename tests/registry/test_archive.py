"""Registry archives: round trip, selection, and refusal of every bad archive with nothing imported (incl. fuzzing)."""

from __future__ import annotations

import functools
import io
import json
import os
import stat
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seedprints.errors import ArchiveError, OutputPathError, RegistryError
from seedprints.registry import Registry, archive

from .conftest import tiny_fingerprint


def filled(path: Path, names=("a", "b", "c")) -> Path:
    """A registry with a few tiny entries (one with untrained-token logits), tagged by parity."""
    with Registry.open(path) as reg:
        for i, name in enumerate(names):
            reg.add(tiny_fingerprint(i, logits=i == 0), name=name, tags={"parity": "even" if i % 2 == 0 else "odd"})
    return path


def members(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path) as tar:
        return [(m, tar.extractfile(m).read() if m.isreg() else b"") for m in tar.getmembers()]


def write_tar(path: Path, items: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for info, data in items:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def named(name: str, data: bytes, kind: bytes = tarfile.REGTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    if kind == tarfile.SYMTYPE:
        info.linkname = "/etc/passwd"
    return info, data


@pytest.fixture
def exported(tmp_path) -> Path:
    with Registry.open(filled(tmp_path / "source.db")) as reg:
        reg.export(tmp_path / "refs.tar")
    return tmp_path / "refs.tar"


def names_in(path: Path) -> list[str]:
    with Registry.open(path) as reg:
        return [e.name for e in reg.entries()]


class TestRoundTrip:
    def test_export_import(self, tmp_path, exported):
        with Registry.open(tmp_path / "source.db") as src, Registry.open(tmp_path / "copy.db") as dst:
            imported = dst.import_archive(exported)
            assert [e.name for e in imported] == ["a", "b", "c"]
            assert dst.entries() == src.entries()  # names, tags, metadata, checksums, sources, times
            probe_hash = src.get("a").probe_hash
            [(_, a)], [(_, b)] = src.ranked(probe_hash=probe_hash), dst.ranked(probe_hash=probe_hash)
        np.testing.assert_array_equal(a.hidden_scores, b.hidden_scores)
        np.testing.assert_array_equal(a.logit_scores, b.logit_scores)

    def test_members_are_addressed_by_index(self, exported):
        assert [m.name for m, _ in members(exported)] == ["manifest.json", *(archive.member_name(i) for i in range(3))]
        manifest = json.loads(members(exported)[0][1])
        assert manifest["format"] == archive.ARCHIVE_FORMAT and manifest["version"] == archive.ARCHIVE_VERSION

    def test_selection_by_name_and_tag(self, tmp_path):
        with Registry.open(filled(tmp_path / "r.db")) as reg:
            assert [e.name for e in reg.export(tmp_path / "n.tar", names=["c", "a"])] == ["a", "c"]
            assert [e.name for e in reg.export(tmp_path / "t.tar", tags={"parity": "odd"})] == ["b"]
        with Registry.open(tmp_path / "copy.db") as dst:
            dst.import_archive(tmp_path / "t.tar")
            assert [e.name for e in dst.entries()] == ["b"]

    def test_bad_selection_writes_nothing(self, tmp_path):
        with Registry.open(filled(tmp_path / "r.db")) as reg:
            with pytest.raises(RegistryError, match="no entry named 'zz'"):
                reg.export(tmp_path / "x.tar", names=["zz"])
            with pytest.raises(RegistryError, match="nothing exported"):
                reg.export(tmp_path / "x.tar", tags={"parity": "none"})
            with pytest.raises(OutputPathError, match="does not exist"):
                reg.export(tmp_path / "missing" / "x.tar")
        assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("r.db")) == []


class TestImportRefuses:
    def test_duplicate_names_listed(self, tmp_path, exported):
        target = filled(tmp_path / "target.db", names=("a", "c", "z"))
        with Registry.open(target) as reg:
            before = reg.entries()
            with pytest.raises(RegistryError, match="already has entries named 'a', 'c'; remove them or import with --replace"):
                reg.import_archive(exported)
            assert reg.entries() == before
            reg.import_archive(exported, replace=True)
            assert [e.name for e in reg.entries()] == ["a", "b", "c", "z"]
            assert reg.get("c").tags == {"parity": "even"}

    def test_bad_checksum_imports_nothing(self, tmp_path, exported):
        items = members(exported)
        info, blob = items[-1]
        items[-1] = (info, blob[:-1] + bytes([blob[-1] ^ 1]))
        bad = write_tar(tmp_path / "bad.tar", items)
        with pytest.raises(ArchiveError, match="entry 'c' fails its SHA-256 check"):
            Registry.open(tmp_path / "t.db").import_archive(bad)
        assert names_in(tmp_path / "t.db") == []

    def test_manifest_disagreeing_with_encoding(self, tmp_path, exported):
        items = members(exported)
        manifest = json.loads(items[0][1])
        manifest["entries"][1]["model_id"] = "someone/else"
        items[0] = (items[0][0], json.dumps(manifest).encode())
        with pytest.raises(ArchiveError, match="manifest and encoding of entry 'b' disagree"):
            Registry.open(tmp_path / "t.db").import_archive(write_tar(tmp_path / "bad.tar", items))

    @pytest.mark.parametrize("where", ["start", "manifest header", "manifest", "first blob", "last blob"])
    def test_truncated(self, tmp_path, exported, where):
        with tarfile.open(exported) as tar:
            infos = tar.getmembers()
        keep = {
            "start": 0, "manifest header": 100, "manifest": infos[0].offset_data + 10,
            "first blob": infos[1].offset_data + 10, "last blob": infos[-1].offset_data + infos[-1].size - 1,
        }[where]
        cut = tmp_path / "cut.tar"
        cut.write_bytes(exported.read_bytes()[:keep])
        with pytest.raises(ArchiveError):
            Registry.open(tmp_path / "t.db").import_archive(cut)
        assert names_in(tmp_path / "t.db") == []

    def test_not_a_tar(self, tmp_path):
        (tmp_path / "x.tar").write_text("plain text, not an archive\n" * 40)
        with pytest.raises(ArchiveError, match="not a seedprints archive"):
            Registry.open(tmp_path / "t.db").import_archive(tmp_path / "x.tar")

    def test_missing(self, tmp_path):
        with pytest.raises(ArchiveError, match="does not exist"):
            Registry.open(tmp_path / "t.db").import_archive(tmp_path / "nope.tar")

    def test_foreign_tar(self, tmp_path):
        foreign = write_tar(tmp_path / "f.tar", [named("README.md", b"hello")])
        with pytest.raises(ArchiveError, match="unexpected member 'README.md'"):
            Registry.open(tmp_path / "t.db").import_archive(foreign)

    def test_foreign_manifest(self, tmp_path):
        foreign = write_tar(tmp_path / "f.tar", [named("manifest.json", b'{"format": "npm"}')])
        with pytest.raises(ArchiveError, match="not a seedprints registry archive"):
            Registry.open(tmp_path / "t.db").import_archive(foreign)

    def test_newer_version(self, tmp_path, exported):
        items = members(exported)
        manifest = json.loads(items[0][1])
        manifest["version"] = archive.ARCHIVE_VERSION + 1
        items[0] = (items[0][0], json.dumps(manifest).encode())
        with pytest.raises(ArchiveError, match="newer seedprints .*upgrade seedprints"):
            Registry.open(tmp_path / "t.db").import_archive(write_tar(tmp_path / "new.tar", items))

    @pytest.mark.parametrize("bad", ["../entries/000000.bin", "/etc/manifest.json", "entries/../../x.bin"])
    def test_path_traversal_member(self, tmp_path, exported, bad):
        items = members(exported)
        items[1] = (tarfile.TarInfo(bad), items[1][1])
        with pytest.raises(ArchiveError, match="unsafe path"):
            Registry.open(tmp_path / "t.db").import_archive(write_tar(tmp_path / "evil.tar", items))
        assert not (tmp_path.parent / "entries").exists() and names_in(tmp_path / "t.db") == []

    @pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.DIRTYPE])
    def test_link_or_directory_member(self, tmp_path, exported, kind):
        items = members(exported)
        items[2] = named(items[2][0].name, b"", kind)
        with pytest.raises(ArchiveError, match="not a regular file"):
            Registry.open(tmp_path / "t.db").import_archive(write_tar(tmp_path / "link.tar", items))

    def test_oversized_member(self, tmp_path, exported, monkeypatch):
        monkeypatch.setattr(archive, "MAX_MANIFEST_BYTES", 100)
        with pytest.raises(ArchiveError, match="more than the 100 allowed"):
            Registry.open(tmp_path / "t.db").import_archive(exported)

    def test_member_larger_than_its_manifest_size(self, tmp_path, exported):
        items = members(exported)
        items[1] = (items[1][0], items[1][1] + b"\0" * 64)
        with pytest.raises(ArchiveError, match="allowed"):
            Registry.open(tmp_path / "t.db").import_archive(write_tar(tmp_path / "big.tar", items))

    def test_extra_member(self, tmp_path, exported):
        items = members(exported) + [named("entries/000003.bin", b"x")]
        with pytest.raises(ArchiveError, match="unexpected extra member"):
            Registry.open(tmp_path / "t.db").import_archive(write_tar(tmp_path / "extra.tar", items))
        assert names_in(tmp_path / "t.db") == []

    def test_bad_name_in_manifest(self, tmp_path, exported):
        items = members(exported)
        manifest = json.loads(items[0][1])
        manifest["entries"][0]["name"] = "../../etc"
        items[0] = (items[0][0], json.dumps(manifest).encode())
        with pytest.raises(ArchiveError, match="path separator"):
            Registry.open(tmp_path / "t.db").import_archive(write_tar(tmp_path / "bad.tar", items))


def with_manifest(tmp_path: Path, exported: Path, name: str, data: bytes) -> Path:
    """``exported`` with its manifest replaced by ``data``."""
    items = members(exported)
    items[0] = (items[0][0], data)
    return write_tar(tmp_path / name, items)


def edited(tmp_path: Path, exported: Path, **fields) -> Path:
    """``exported`` with ``fields`` of its first manifest entry changed."""
    manifest = json.loads(members(exported)[0][1])
    manifest["entries"][0].update(fields)
    return with_manifest(tmp_path, exported, "edited.tar", json.dumps(manifest).encode())


class TestHostileManifest:
    @pytest.mark.parametrize("data, fragment", [
        (b'{"format": "seedprints-registry-archive", "version": ' + b"9" * 5000 + b', "entries": []}', "integer too long"),
        (b'{"entries": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nests too deeply"),
    ])
    def test_unreadable_json(self, tmp_path, exported, data, fragment):
        with pytest.raises(ArchiveError, match=fragment):
            archive.verify_archive(with_manifest(tmp_path, exported, "hostile.tar", data))

    @pytest.mark.parametrize("field, value", [
        ("created_at", "2026-01-01\n  name  evil"), ("source_path", "a\rb"), ("model_id", "models/tiny\x1b[2J"),
    ])
    def test_control_characters_in_shown_text(self, tmp_path, exported, field, value):
        with pytest.raises(ArchiveError, match=f"field '{field}' holds control characters"):
            archive.verify_archive(edited(tmp_path, exported, **{field: value}))

    def test_fifo_is_refused_without_blocking(self, fifo):
        with pytest.raises(ArchiveError, match="not a regular file"):
            archive.verify_archive(fifo)


class TestExportTarget:
    @pytest.mark.parametrize("suffix", ["", "-wal", "-shm", "-journal"])
    def test_registry_and_its_journals_are_refused(self, tmp_path, suffix):
        db = filled(tmp_path / "r.db")
        target = tmp_path / f"r.db{suffix}"
        with Registry.open(db) as reg, pytest.raises(OutputPathError, match="registry's own file"):
            reg.export(target)
        assert names_in(db) == ["a", "b", "c"]

    def test_hard_link_to_the_registry_is_refused(self, tmp_path):
        db = filled(tmp_path / "r.db")
        os.link(db, tmp_path / "alias.tar")
        with Registry.open(db) as reg, pytest.raises(OutputPathError, match="registry's own file"):
            reg.export(tmp_path / "alias.tar")
        assert names_in(db) == ["a", "b", "c"]

    def test_folder_gets_an_archive_name(self, tmp_path):
        (tmp_path / "out").mkdir()
        with Registry.open(filled(tmp_path / "r.db")) as reg, pytest.raises(OutputPathError, match=r"out/registry\.tar"):
            reg.export(tmp_path / "out")

    def test_fifo_stays_a_fifo(self, tmp_path, fifo):
        with Registry.open(filled(tmp_path / "r.db")) as reg, pytest.raises(OutputPathError, match="not a regular file"):
            reg.export(fifo)
        assert stat.S_ISFIFO(fifo.stat().st_mode)


@functools.cache
def valid_archive() -> tuple[bytes, tuple[str, ...]]:
    """A small exported archive and its entries' encoding checksums (built once per run)."""
    with tempfile.TemporaryDirectory() as folder:
        with Registry.open(filled(Path(folder) / "r.db", names=("a", "b"))) as reg:
            reg.export(Path(folder) / "refs.tar")
            checksums = tuple(e.encoding_sha256 for e in reg.entries())
        return (Path(folder) / "refs.tar").read_bytes(), checksums


class TestFuzz:
    @settings(max_examples=60, deadline=None)
    @given(
        flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255)), min_size=1, max_size=4),
        keep=st.one_of(st.none(), st.integers(min_value=0)),
    )
    def test_mutated_archive_is_refused_or_intact(self, flips, keep):
        original, checksums = valid_archive()
        data = bytearray(original)
        for position, xor in flips:
            data[position % len(data)] ^= xor
        if keep is not None:
            data = data[: keep % len(data)]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "mutated.tar"
            path.write_bytes(bytes(data))
            with Registry.open(Path(folder) / "t.db") as reg:
                try:
                    imported = reg.import_archive(path)
                except ArchiveError as exc:
                    assert "\n" not in str(exc)
                    assert reg.entries() == []
                else:  # the mutation hit padding or an unchecked header field: every checksum still held
                    assert tuple(e.encoding_sha256 for e in imported) == checksums
                    decoded = [r for h in reg.probe_specs() for _, r in reg.ranked(probe_hash=h)]
                    assert len(decoded) == 2
