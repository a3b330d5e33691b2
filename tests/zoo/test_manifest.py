"""Tests of seedprints.zoo.manifest: a manifest read from disk is checked field by field, and a zoo of bad ones fails in one line."""

from __future__ import annotations

import pytest

from seedprints.errors import ZooConfigError
from seedprints.zoo.manifest import ModelEntry, read_manifest, scan_zoo

from ..conftest import assert_one_line_error, run

GOOD = {"name": "m1", "family": "llama", "init_seed": 0, "lineages": ["llama-s0"], "stage": "init", "label": "init"}


class TestFromDict:
    def test_round_trip(self):
        entry = ModelEntry.from_dict(GOOD)
        assert ModelEntry.from_dict(entry.to_dict()) == entry

    @pytest.mark.parametrize(
        ("change", "fragment"),
        [
            ({"lineages": 5}, "lineages must be a list of strings, got 5"),
            ({"lineages": [5]}, "lineages must be a list of strings"),
            ({"init_seed": "0"}, "init_seed must be an integer >= 0, got '0'"),
            ({"init_seed": True}, "init_seed must be an integer >= 0, got true"),
            ({"steps": -1}, "steps must be an integer >= 0"),
            ({"parents": "a"}, "parents must be a list of strings"),
            ({"params": []}, "params must be an object"),
            ({"name": None}, "name must be a string, got null"),
            ({"stage": ["init"]}, "stage must be a string"),
            ({"manifest_version": [1]}, "manifest version [1] is not 1"),
            ({"manifest_version": True}, "manifest version true is not 1"),
        ],
    )
    def test_wrong_types_name_the_key(self, change, fragment):
        with pytest.raises(ZooConfigError) as caught:
            ModelEntry.from_dict({**GOOD, **change}, where="m1/zoo_manifest.json")
        assert fragment in str(caught.value) and str(caught.value).startswith("m1/zoo_manifest.json: ")


class TestReadManifest:
    @pytest.mark.parametrize("text", ['{"name": ' + "9" * 5000 + "}", "[" * 100_000 + "]" * 100_000, "{junk"])
    def test_unreadable_json(self, one_model_zoo, text):
        zoo = one_model_zoo(text)
        with pytest.raises(ZooConfigError, match="unreadable or not JSON; rebuild that model"):
            read_manifest(zoo / "m1")
        found, failed = scan_zoo(zoo)
        assert not found and [p.name for p, _ in failed] == ["m1"]

    def test_fifo_manifest_is_refused_without_blocking(self, fifo):
        model = fifo.parent / "m1"
        model.mkdir()
        fifo.rename(model / "zoo_manifest.json")
        with pytest.raises(ZooConfigError, match="not a regular file"):
            read_manifest(model)


class TestCliOnBadZoos:
    """Every verb reading a zoo answers a zoo without one usable manifest in one line, leaving no --out folder."""

    @pytest.mark.parametrize("verb", ["eval", "identify", "seeds"])
    @pytest.mark.parametrize(
        ("manifest", "fragment"),
        [
            ({**GOOD, "lineages": 5}, "lineages must be a list of strings"),
            ("{junk", "unreadable or not JSON"),
            ({**GOOD, "manifest_version": [1]}, "manifest version [1]"),
        ],
    )
    def test_bad_manifest(self, one_model_zoo, capsys, verb, manifest, fragment):
        zoo = one_model_zoo(manifest)
        out = zoo.parent / "results"
        code, _, err = run(capsys, "zoo", verb, zoo, "--out", out, "--n", 8, "--length", 4)
        assert_one_line_error(code, err, "has a usable manifest (1 bad; first: ", fragment)
        assert not out.exists()

    @pytest.mark.parametrize("verb", ["eval", "identify", "seeds"])
    def test_empty_zoo(self, tmp_path, capsys, verb):
        (tmp_path / "zoo").mkdir()
        code, _, err = run(capsys, "zoo", verb, tmp_path / "zoo", "--out", tmp_path / "results")
        assert_one_line_error(code, err, "holds no model directories")
        assert not (tmp_path / "results").exists()

    @pytest.mark.parametrize("verb", ["eval", "identify", "seeds"])
    def test_a_file_is_not_a_zoo(self, tmp_path, capsys, verb):
        (tmp_path / "afile.txt").write_text("not a zoo\n")
        code, _, err = run(capsys, "zoo", verb, tmp_path / "afile.txt", "--out", tmp_path / "results")
        assert_one_line_error(code, err, "afile.txt is a file, not a zoo directory")
        assert not (tmp_path / "results").exists()
