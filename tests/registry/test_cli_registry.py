"""``seedprints registry ...`` end to end: outputs, --json, exit codes, and one-line errors with nothing written."""

from __future__ import annotations

import hashlib
import json

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

    def test_like_with_a_file(self, capsys, fp_file, reg):
        code, _, err = run(capsys, "registry", "add", fp_file, "--like", fp_file)
        assert_one_line_error(code, err, "--like applies to model directories")

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
