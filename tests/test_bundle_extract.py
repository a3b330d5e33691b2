"""``verify --extract``: the embedded fingerprints come out byte for byte, into a new folder written whole."""

from __future__ import annotations

import json
import os

import pytest

from seedprints.bundle import layout as bl
from seedprints.bundle import extract as bx
from seedprints import tempfiles
from seedprints.encoding import decode, rank_fingerprint

from .conftest import assert_one_line_error, run
from .test_bundle import edit, identify_bundle, pair


@pytest.fixture
def compared(tmp_path, capsys):
    """Two fingerprint files and the bundle `compare --bundle` wrote of them."""
    for name, fp in zip("ab", pair()):
        fp.save(tmp_path / f"{name}.fp.safetensors")
    path = tmp_path / "ev.json"
    code, _, err = run(capsys, "compare", tmp_path / "a.fp.safetensors", tmp_path / "b.fp.safetensors", "--bundle", path, "--json")
    assert code == 0, err
    return path


def folder(path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def leftovers(path) -> list[str]:
    """Hidden temporaries beside ``path`` (a failed or finished extraction leaves none)."""
    return [p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]


class TestExtract:
    def test_writes_the_files_compared_byte_for_byte(self, tmp_path, capsys, compared):
        out = tmp_path / "new" / "fps"
        code, stdout, err = run(capsys, "verify", compared, "--extract", out)
        assert code == 0, err
        assert folder(out) == {"extracted.json": (out / "extracted.json").read_bytes(),
                               "reference.fp.safetensors": (tmp_path / "a.fp.safetensors").read_bytes(),
                               "suspect.fp.safetensors": (tmp_path / "b.fp.safetensors").read_bytes()}
        assert f"extracted 2 fingerprint(s) into {out}" in stdout and f"{out / 'suspect.fp.safetensors'}" in stdout
        manifest = json.loads((out / "extracted.json").read_text())
        assert manifest["seal"] == json.loads(compared.read_text())["seal"]["digest"]
        assert [(f["name"], f["path"], f["source"]) for f in manifest["fingerprints"]] == [
            ("reference", "reference.fp.safetensors", str(tmp_path / "a.fp.safetensors")),
            ("suspect", "suspect.fp.safetensors", str(tmp_path / "b.fp.safetensors"))]
        mask = tempfiles.umask()  # the usual modes, not mkstemp's 0600 and mkdtemp's 0700
        assert (out / "reference.fp.safetensors").stat().st_mode & 0o777 == 0o666 & ~mask
        assert out.stat().st_mode & 0o777 == 0o777 & ~mask and not leftovers(out)

    def test_extracted_files_give_the_same_numbers(self, tmp_path, capsys, compared):
        out = tmp_path / "fps"
        assert run(capsys, "verify", compared, "--extract", out)[0] == 0
        code, stdout, err = run(capsys, "compare", out / "reference.fp.safetensors", out / "suspect.fp.safetensors", "--json")
        assert code == 0, err
        recorded = json.loads(compared.read_text())["tests"][0]["result"]
        again = json.loads(stdout)
        assert {k: again[k] for k in ("verdict", "log10_p", "z", "n")} == {k: recorded[k] for k in ("verdict", "log10_p", "z", "n")}

    def test_json_lists_what_was_written(self, tmp_path, capsys, compared):
        code, stdout, _ = run(capsys, "verify", compared, "--extract", tmp_path / "fps", "--json")
        data = json.loads(stdout)
        assert code == 0 and data["verified"] is True and data["extracted"]["dir"] == str(tmp_path / "fps")
        files = data["extracted"]["files"]
        assert [f["path"] for f in files] == [str(tmp_path / "fps" / n) for n in ("reference.fp.safetensors", "suspect.fp.safetensors")]
        assert [f["sha256"] for f in files] == [data["fingerprints"]["reference"], data["fingerprints"]["suspect"]]
        assert data["extracted"]["manifest"] == str(tmp_path / "fps" / "extracted.json")

    def test_identify_bundle_gives_ranks_files(self, tmp_path):
        path = identify_bundle(tmp_path / "r.json")
        result, extraction = bx.extract(path, tmp_path / "fps")
        names = {f.name: os.path.basename(f.path) for f in extraction.files}
        assert names.pop("suspect") == "suspect.fp.safetensors" and "registry:ref-model" in names and len(names) == 3
        assert all(file == name.replace(":", "_") + ".ranks" for name, file in names.items())
        ref, _ = pair()
        ranked = decode((tmp_path / "fps" / "registry_ref-model.ranks").read_bytes())
        assert (ranked.hidden_ranks == rank_fingerprint(ref).hidden_ranks).all() and result.kind == "identify"

    def test_file_names_are_portable_and_distinct(self):
        item = bl.EmbeddedFingerprint("fingerprint", b"")
        names = bx.file_names({"a:b": item, "a_b": item, "A:B": item, "../x": item, "///": item,
                               "extracted": bl.EmbeddedFingerprint("ranks", b"")})
        assert names == {"a:b": "a_b.fp.safetensors", "a_b": "a_b-2.fp.safetensors", "A:B": "A_B-3.fp.safetensors",
                         "../x": "x.fp.safetensors", "///": "fingerprint.fp.safetensors", "extracted": "extracted.ranks"}


class TestRefusals:
    def test_non_empty_folder_needs_force(self, tmp_path, capsys, compared):
        out = tmp_path / "fps"
        assert run(capsys, "verify", compared, "--extract", out)[0] == 0
        before = folder(out)
        assert_one_line_error(*run(capsys, "verify", compared, "--extract", out)[::2], "is not empty", "--force")
        assert folder(out) == before
        (out / "suspect.fp.safetensors").write_bytes(b"stale")
        assert run(capsys, "verify", compared, "--extract", out, "--force")[0] == 0
        assert folder(out) == before and not leftovers(out)

    def test_force_replaces_only_a_previous_extraction(self, tmp_path, capsys, compared):
        out = tmp_path / "fps"
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        assert_one_line_error(*run(capsys, "verify", compared, "--extract", out, "--force")[::2],
                              "holds something other than a previous extraction")
        assert folder(out) == {"notes.txt": b"mine"}
        assert run(capsys, "verify", compared, "--extract", tmp_path / "fps2")[0] == 0
        (tmp_path / "fps2" / "notes.txt").write_text("mine")
        assert_one_line_error(*run(capsys, "verify", compared, "--extract", tmp_path / "fps2", "--force")[::2],
                              "holds something other than a previous extraction")

    def test_a_file_in_the_way_is_refused(self, tmp_path, capsys, compared):
        assert_one_line_error(*run(capsys, "verify", compared, "--extract", compared)[::2], "is a file")

    def test_nothing_is_written_when_the_bundle_does_not_verify(self, tmp_path, capsys, compared):
        edit(compared, lambda d: d["tests"][0]["result"].update(k=7))
        out = tmp_path / "fps"
        assert_one_line_error(*run(capsys, "verify", compared, "--extract", out)[::2], "k is 7 but recomputes to")
        assert not out.exists() and not leftovers(out)

    def test_a_failure_while_writing_leaves_nothing(self, tmp_path, monkeypatch, compared):
        def fail(tmp, out_dir):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(bx, "_move_into_place", fail)
        out = tmp_path / "fps"
        with pytest.raises(bx.OutputPathError, match="cannot extract into .*No space left on device"):
            bx.extract(compared, out)
        assert not out.exists() and not leftovers(out)

    def test_force_without_extract_is_a_usage_error(self, capsys, compared):
        code, _, err = run(capsys, "verify", compared, "--force")
        assert code == 2 and "add --extract DIR" in err
