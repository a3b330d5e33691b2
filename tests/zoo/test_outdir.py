"""Tests of seedprints.zoo.outdir: a results folder is checked without being created, and created only on demand."""

from __future__ import annotations

import os

import pytest

from seedprints.errors import OutputPathError
from seedprints.zoo.outdir import check_out_dir, make_out_dir


class TestCheckOutDir:
    def test_missing_folder_is_fine_and_not_created(self, tmp_path):
        assert check_out_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
        assert not (tmp_path / "a").exists()

    def test_existing_folder(self, tmp_path):
        assert check_out_dir(tmp_path) == tmp_path

    def test_a_file(self, tmp_path):
        (tmp_path / "notes.txt").write_text("keep")
        with pytest.raises(OutputPathError, match="exists and is not a folder"):
            check_out_dir(tmp_path / "notes.txt")

    def test_under_a_file(self, tmp_path):
        (tmp_path / "notes.txt").write_text("keep")
        with pytest.raises(OutputPathError, match="notes.txt is not a folder; choose another --out"):
            check_out_dir(tmp_path / "notes.txt" / "results")

    def test_dangling_symlink(self, tmp_path):
        (tmp_path / "link").symlink_to(tmp_path / "nowhere")
        with pytest.raises(OutputPathError, match="is not a folder"):
            check_out_dir(tmp_path / "link")

    def test_results_json_that_is_a_folder(self, tmp_path):
        (tmp_path / "results.json").mkdir()
        with pytest.raises(OutputPathError, match="is a directory"):
            check_out_dir(tmp_path)

    @pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
    def test_read_only_parent(self, tmp_path):
        (tmp_path / "ro").mkdir(mode=0o555)
        with pytest.raises(OutputPathError, match="not writable"):
            check_out_dir(tmp_path / "ro" / "results")


def test_make_out_dir(tmp_path):
    assert make_out_dir(tmp_path / "a" / "b").is_dir()
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputPathError, match="cannot create output folder"):
        make_out_dir(tmp_path / "f")
