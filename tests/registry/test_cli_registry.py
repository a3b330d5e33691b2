"""``seedprints registry ...`` end to end: outputs, --json, exit codes, and one-line errors with nothing written."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile

import pytest

from ..conftest import assert_one_line_error, run
from .conftest import tiny_fingerprint


@pytest.fixture
def fp_file(tmp_path):
    return tiny_fingerprint(model_id="models/tiny-base").save(tmp_path / "base.fp.safetensors")


@pytest.fixture
def reg(tmp_path, monkeypatch):
    """The registry path, passed through $SEEDPRINTS_REGISTRY (as users may)."""
    path = tmp_path / "reg" / "registry.db"
    path.parent.mkdir()
    monkeypatch.setenv("SEEDPRINTS_REGISTRY", str(path))
    return path


class TestVerbs:
    def test_add_list_show_remove(self, capsys, fp_file, reg):
        code, out, err = run(capsys, "registry", "add", fp_file, "--tag", "family=llama", "--tag", "seed=0", "--json")
        assert code == 0, err
        entry = json.loads(out)["entry"]
        assert entry["name"] == "tiny-base" and entry["tags"] == {"family": "llama", "seed": "0"}
        assert entry["source_sha256"] == hashlib.sha256(fp_file.read_bytes()).hexdigest()
        assert run(capsys, "registry", "add", fp_file, "--name", "second")[0] == 0

        code, out, _ = run(capsys, "registry", "list", "--json")
        assert code == 0 and [e["name"] for e in json.loads(out)["entries"]] == ["second", "tiny-base"]
        code, out, _ = run(capsys, "registry", "list", "--tag", "family=llama", "--json")
        assert [e["name"] for e in json.loads(out)["entries"]] == ["tiny-base"]
        code, out, _ = run(capsys, "registry", "list")
        assert code == 0 and "tiny-base" in out and "family=llama" in out and "20 x 8" in out

        code, out, _ = run(capsys, "registry", "show", "tiny-base", "--json")
        assert code == 0 and json.loads(out)["entry"]["spec"]["kind"] == "token"
        code, out, _ = run(capsys, "registry", "show", "tiny-base")
        assert code == 0 and "encoding sha256" in out and "models/tiny-base" in out

        code, out, _ = run(capsys, "registry", "remove", "second", "--json")
        assert code == 0 and json.loads(out)["removed"] == "second"
        assert [e["name"] for e in json.loads(run(capsys, "registry", "list", "--json")[1])["entries"]] == ["tiny-base"]

    def test_export_import(self, capsys, fp_file, reg, tmp_path):
        run(capsys, "registry", "add", fp_file, "--tag", "k=v")
        run(capsys, "registry", "add", fp_file, "--name", "other")
        code, out, err = run(capsys, "registry", "export", tmp_path / "refs.tar", "--name", "other", "--json")
        assert code == 0, err
        assert json.loads(out)["entries"] == ["other"]
        copy = tmp_path / "copy.db"
        code, out, err = run(capsys, "registry", "import", tmp_path / "refs.tar", "--registry", copy, "--json")
        assert code == 0, err
        assert json.loads(out)["entries"] == ["other"]
        code, out, _ = run(capsys, "registry", "import", tmp_path / "refs.tar", "--registry", copy)
        assert_one_line_error(code, _, "already has entries named 'other'")
        code, out, _ = run(capsys, "registry", "import", tmp_path / "refs.tar", "--registry", copy, "--replace")
        assert code == 0 and "imported 1 entries" in out

    def test_list_says_when_the_tag_filter_matched_nothing(self, capsys, fp_file, reg):
        run(capsys, "registry", "add", fp_file, "--tag", "family=llama")
        code, out, _ = run(capsys, "registry", "list", "--tag", "family=gpt")
        assert code == 0 and f"the filter --tag family=gpt matched none of the 1 entry in {reg}" in out
        run(capsys, "registry", "remove", "tiny-base")
        code, out, _ = run(capsys, "registry", "list", "--tag", "family=gpt")
        assert code == 0 and f"no entries in {reg}" in out

    def test_add_model_directory(self, capsys, reg, tiny_llama_dir):
        code, out, err = run(capsys, "registry", "add", tiny_llama_dir, "--name", "tiny", "--probe", "token",
                             "--n", "50", "--length", "8", "--json")
        assert code == 0, err
        entry = json.loads(out)["entry"]
        assert (entry["n"], entry["hidden_size"], entry["source_sha256"]) == (50, 32, None)


class TestBadInput:
    def test_duplicate_name(self, capsys, fp_file, reg):
        run(capsys, "registry", "add", fp_file)
        code, _, err = run(capsys, "registry", "add", fp_file)
        assert_one_line_error(code, err, "already has an entry named 'tiny-base'", "--replace")
        assert run(capsys, "registry", "add", fp_file, "--replace")[0] == 0

    @pytest.mark.parametrize("verb", ["show", "remove"])
    def test_unknown_name(self, capsys, fp_file, reg, verb):
        run(capsys, "registry", "add", fp_file)
        code, _, err = run(capsys, "registry", verb, "nope")
        assert_one_line_error(code, err, "no entry named 'nope'")

    @pytest.mark.parametrize("tag", ["novalue", "=v"])
    def test_bad_tag_syntax(self, capsys, fp_file, reg, tag):
        code, _, err = run(capsys, "registry", "add", fp_file, "--tag", tag)
        assert code == 2 and "KEY=VALUE" in err
        assert not reg.exists()

    def test_bad_name(self, capsys, fp_file, reg):
        code, _, err = run(capsys, "registry", "add", fp_file, "--name", "a/b")
        assert_one_line_error(code, err, "path separator")
        assert not reg.exists()

    def test_not_a_registry(self, capsys, fp_file, tmp_path):
        code, _, err = run(capsys, "registry", "add", fp_file, "--registry", fp_file)
        assert_one_line_error(code, err, "is not a seedprints registry")

    def test_missing_registry(self, capsys, reg):
        code, _, err = run(capsys, "registry", "list")
        assert_one_line_error(code, err, "does not exist")
        assert not reg.exists()

    def test_missing_source(self, capsys, reg, tmp_path):
        code, _, err = run(capsys, "registry", "add", tmp_path / "nope.safetensors")
        assert_one_line_error(code, err, "does not exist")

    def test_corrupt_fingerprint_file(self, capsys, reg, tmp_path):
        (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 64)
        code, _, err = run(capsys, "registry", "add", tmp_path / "bad.safetensors")
        assert_one_line_error(code, err, "not a seedprints fingerprint")

    @pytest.mark.parametrize(("options", "ignored"), [
        (["--like", "base.fp.safetensors"], "--like would be ignored"),
        (["--n", "5"], "--n would be ignored"),
        (["--probe-file", "p.json", "--length", "8"], "--length, --probe-file would be ignored"),
        (["--device", "cpu", "--batch-size", "4"], "--device, --batch-size would be ignored"),
    ])
    def test_options_a_fingerprint_file_ignores(self, capsys, fp_file, reg, options, ignored):
        options = [str(fp_file) if o == "base.fp.safetensors" else o for o in options]
        code, _, err = run(capsys, "registry", "add", fp_file, *options)
        assert code == 2 and ignored in err and "carries its own probes" in err, err
        assert not reg.exists()

    def test_probe_options_with_like(self, capsys, fp_file, reg, tmp_path):
        """--like gives the probes, so probe options would do nothing (checked before any model is loaded)."""
        (tmp_path / "model").mkdir()
        code, _, err = run(capsys, "registry", "add", tmp_path / "model", "--like", fp_file, "--n", "77", "--probe-seed", "3")
        assert code == 2 and "--n, --probe-seed would be ignored: the probes are those of --like" in err, err
        code, _, err = run(capsys, "registry", "add", tmp_path / "model", "--like", fp_file, "--probe-file", "p.json")
        assert code == 2 and "--probe-file would be ignored" in err and "not made from a probe file" in err, err
        assert not reg.exists()

    def test_like_a_directory(self, capsys, reg, tmp_path):
        (tmp_path / "model").mkdir()
        code, _, err = run(capsys, "registry", "add", tmp_path / "model", "--like", tmp_path / "model")
        assert_one_line_error(code, err, "is a directory", "give the .fp.safetensors file")
        assert not reg.exists()

    def test_fifo_source(self, capsys, reg, fifo):
        code, _, err = run(capsys, "registry", "add", fifo)
        assert_one_line_error(code, err, "not a regular file (a pipe or device)")
        assert not reg.exists()

    def test_repeated_tag_key(self, capsys, fp_file, reg):
        code, _, err = run(capsys, "registry", "add", fp_file, "--tag", "a=1", "--tag", "a=2")
        assert code == 2 and "tag 'a' is given twice ('a=1' and 'a=2'); give each key once" in err, err
        assert not reg.exists()

    def test_name_starting_with_a_dash(self, capsys, fp_file, reg):
        code, _, err = run(capsys, "registry", "add", fp_file, "--name=-dash")
        assert_one_line_error(code, err, "entry name '-dash' starts with '-'", "choose another --name")
        assert not reg.exists()

    def test_bad_archive(self, capsys, fp_file, reg, tmp_path):
        run(capsys, "registry", "add", fp_file)
        (tmp_path / "bad.tar").write_bytes(b"garbage" * 100)
        code, _, err = run(capsys, "registry", "import", tmp_path / "bad.tar")
        assert_one_line_error(code, err, "not a seedprints archive")
        assert [e["name"] for e in json.loads(run(capsys, "registry", "list", "--json")[1])["entries"]] == ["tiny-base"]

    def test_export_unknown_name_writes_nothing(self, capsys, fp_file, reg, tmp_path):
        run(capsys, "registry", "add", fp_file)
        code, _, err = run(capsys, "registry", "export", tmp_path / "x.tar", "--name", "nope")
        assert_one_line_error(code, err, "no entry named 'nope'")
        assert not (tmp_path / "x.tar").exists()


def test_failed_fingerprinting_creates_no_registry(capsys, tmp_path):
    """A model directory that fails to load must not leave an empty registry behind."""
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "reg").mkdir()
    registry = tmp_path / "reg" / "registry.db"
    code, _, err = run(capsys, "registry", "add", tmp_path / "not-a-model", "--registry", registry)
    assert_one_line_error(code, err)
    assert list((tmp_path / "reg").iterdir()) == []


def _names(capsys, registry) -> list[str]:
    code, out, err = run(capsys, "registry", "list", "--registry", registry, "--json")
    assert code == 0, err
    return [e["name"] for e in json.loads(out)["entries"]]


def _archive(path, manifest: bytes):
    """A tar holding only ``manifest`` as its manifest.json."""
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    return path


class TestBadPaths:
    @pytest.mark.parametrize("suffix", ["", "-wal", "-journal"])
    def test_export_onto_the_registry(self, capsys, fp_file, reg, suffix):
        run(capsys, "registry", "add", fp_file)
        code, _, err = run(capsys, "registry", "export", f"{reg}{suffix}")
        assert_one_line_error(code, err, "registry's own file", "write the archive elsewhere")
        assert _names(capsys, reg) == ["tiny-base"]
        assert sorted(p.name for p in reg.parent.iterdir()) == ["registry.db"]

    def test_export_into_a_folder_suggests_an_archive_name(self, capsys, fp_file, reg, tmp_path):
        run(capsys, "registry", "add", fp_file)
        code, _, err = run(capsys, "registry", "export", tmp_path)
        assert_one_line_error(code, err, "is a directory", "registry.tar")

    def test_export_onto_a_fifo(self, capsys, fp_file, reg, fifo):
        run(capsys, "registry", "add", fp_file)
        code, _, err = run(capsys, "registry", "export", fifo)
        assert_one_line_error(code, err, "not a regular file")
        assert stat.S_ISFIFO(fifo.stat().st_mode)

    @pytest.mark.parametrize("verb", [["list"], ["show", "x"], ["remove", "x"], ["export", "x.tar"]])
    def test_fifo_registry(self, capsys, fifo, verb):
        code, _, err = run(capsys, "registry", *verb, "--registry", fifo)
        assert_one_line_error(code, err, "not a regular file (a pipe or device)")

    @pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
    def test_device_registry(self, capsys):
        code, _, err = run(capsys, "registry", "list", "--registry", "/dev/null")
        assert_one_line_error(code, err, "registry /dev/null is not a regular file")

    def test_import_a_fifo_creates_no_registry(self, capsys, fifo, tmp_path):
        code, _, err = run(capsys, "registry", "import", fifo, "--registry", tmp_path / "new.db")
        assert_one_line_error(code, err, "not a regular file")
        assert not (tmp_path / "new.db").exists()

    @pytest.mark.parametrize("manifest, fragment", [
        (b"garbage", "not a seedprints archive"),
        (b'{"format": "seedprints-registry-archive", "version": ' + b"9" * 5000 + b"}", "integer too long"),
        (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
    ])
    def test_failed_import_creates_no_registry(self, capsys, tmp_path, manifest, fragment):
        (tmp_path / "new").mkdir()
        code, _, err = run(capsys, "registry", "import", _archive(tmp_path / "bad.tar", manifest),
                           "--registry", tmp_path / "new" / "r.db")
        assert_one_line_error(code, err, fragment)
        assert list((tmp_path / "new").iterdir()) == []

    @pytest.mark.parametrize("field", ["created_at", "source_path"])
    def test_newline_in_shown_text_is_refused(self, capsys, fp_file, reg, tmp_path, field):
        run(capsys, "registry", "add", fp_file)
        run(capsys, "registry", "export", tmp_path / "ok.tar")
        with tarfile.open(tmp_path / "ok.tar") as tar:
            items = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
        manifest = json.loads(items[0][1])
        manifest["entries"][0][field] = "2026-01-01\nfake  row"
        items[0] = (items[0][0], json.dumps(manifest).encode())
        with tarfile.open(tmp_path / "bad.tar", "w") as tar:
            for info, data in items:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        code, _, err = run(capsys, "registry", "import", tmp_path / "bad.tar", "--registry", tmp_path / "other.db")
        assert_one_line_error(code, err, f"field {field!r} holds control characters")
        assert not (tmp_path / "other.db").exists()

    @pytest.mark.parametrize("verb", ["add", "import"])
    def test_missing_folder_is_refused(self, capsys, fp_file, reg, tmp_path, verb):
        source = fp_file
        if verb == "import":
            run(capsys, "registry", "add", fp_file)
            run(capsys, "registry", "export", tmp_path / "ok.tar")
            source = tmp_path / "ok.tar"
        code, _, err = run(capsys, "registry", verb, source, "--registry", tmp_path / "a" / "b" / "x.db")
        assert_one_line_error(code, err, "does not exist; create it first")
        assert not (tmp_path / "a").exists()

    def test_default_registry_folder_is_made_on_first_write(self, capsys, fp_file, tmp_path, monkeypatch):
        monkeypatch.delenv("SEEDPRINTS_REGISTRY", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        (tmp_path / "home").mkdir()
        code, _, err = run(capsys, "registry", "list")
        assert_one_line_error(code, err, "does not exist")
        assert not (tmp_path / "home" / ".seedprints").exists()
        assert run(capsys, "registry", "add", fp_file)[0] == 0
        assert (tmp_path / "home" / ".seedprints" / "registry.db").is_file()


class TestRegisteringFromPython:
    """What registry add stores, from the library (seedprints.registering) as the verb calls it."""

    def test_a_fingerprint_file_is_stored_as_it_is_and_named_after_its_model(self, fp_file):
        from seedprints.registering import entry_fingerprint, entry_name, made_from_probe_file

        fp = entry_fingerprint(fp_file)
        assert fp.model_id == "models/tiny-base" and entry_name(fp) == "tiny-base" and entry_name(fp, "mine") == "mine"
        assert not made_from_probe_file(fp_file)

    def test_a_missing_source_and_an_unnameable_model_id_are_refused(self, tmp_path):
        from types import SimpleNamespace

        from seedprints.errors import UsageError
        from seedprints.registering import entry_fingerprint, entry_name

        with pytest.raises(UsageError, match="does not exist; give a fingerprint file or a model directory"):
            entry_fingerprint(tmp_path / "missing")
        with pytest.raises(UsageError, match="cannot derive an entry name from model id '/'; pass name="):
            entry_name(SimpleNamespace(model_id="/"))
