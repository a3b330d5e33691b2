"""Outputs never destroy inputs or special files, odd inputs (pipes, junk JSON, edited bundles) get one line.

These cases came from a red-team pass over the CLI: each once overwrote an input, replaced a device
or FIFO, deleted files beside a report, hung on a pipe, printed "unexpected", or ignored an option.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from seedprints.bundle import layout as bl
from seedprints.errors import LowPowerWarning

from .bad_inputs import build_workspace
from .conftest import assert_one_line_error, run


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("odd"))


def snapshot(folder) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for folders and special files)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        out[str(p.relative_to(folder))] = p.read_bytes() if p.is_file() and not p.is_symlink() else None
    return out


def cli_in(folder, *argv, timeout: float = 60) -> subprocess.CompletedProcess:
    """The CLI in a child process (so that a regression that blocks on a pipe fails by timeout, not by hanging)."""
    code = "import sys; from seedprints.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *map(str, argv)], cwd=folder, capture_output=True, text=True,
                          timeout=timeout)


class TestOutputs:
    @pytest.mark.parametrize("argv, fragment", [
        (["compare", "base.fp", "suspect.fp", "--bundle", "suspect.fp"], "is the input suspect.fp itself"),
        (["identify", "suspect.fp", "--registry", "reg.db", "--bundle", "reg.db"], "is the input reg.db itself"),
        (["identify", "suspect.fp", "--registry", "reg.db", "--bundle", "reg.db-journal"], "is the input reg.db-journal"),
        (["fingerprint", "not-a-model", "-o", "base.fp", "--like", "base.fp"], "is the input base.fp itself"),
        (["fingerprint", "not-a-model", "-o", "not-a-model/model.safetensors"], "is inside the input folder not-a-model"),
        (["compare", "base.fp", "not-a-model", "--bundle", "not-a-model/config.json"], "is inside the input folder"),
    ])
    def test_an_output_never_overwrites_an_input(self, ws, capsys, monkeypatch, argv, fragment):
        before = snapshot(ws)
        monkeypatch.chdir(ws)
        assert_one_line_error(*run(capsys, *argv)[::2], fragment)
        assert snapshot(ws) == before

    def test_a_pipe_is_not_replaced_by_a_bundle(self, ws, capsys, monkeypatch):
        os.mkfifo(ws / "pipe-out")
        monkeypatch.chdir(ws)
        assert_one_line_error(*run(capsys, "compare", "base.fp", "suspect.fp", "--bundle", "pipe-out")[::2],
                              "not a regular file")
        assert (ws / "pipe-out").is_fifo()

    def test_force_never_deletes_what_a_report_does_not_hold(self, ws, capsys, monkeypatch):
        report = ws / "previous-report"
        report.mkdir()
        (report / "results.json").write_text("{}")
        (report / "precious.txt").write_text("mine")
        monkeypatch.chdir(ws)
        code, _, err = run(capsys, "compare", "base.fp", "suspect.fp", "--report", report.name, "--force")
        assert_one_line_error(code, err, "it holds precious.txt")
        assert (report / "precious.txt").read_text() == "mine"

    def test_extend_needs_an_existing_fingerprint_file(self, ws, capsys, monkeypatch):
        monkeypatch.chdir(ws)
        assert_one_line_error(*run(capsys, "fingerprint", "not-a-model", "--extend", "existing-dir")[::2],
                              "is not an existing fingerprint file")

    def test_a_folder_in_the_way_of_the_resume_file_is_refused_before_any_work(self, ws, capsys, monkeypatch):
        (ws / ".blocked.fp.partial").mkdir()
        monkeypatch.chdir(ws)
        assert_one_line_error(*run(capsys, "fingerprint", "not-a-model", "-o", "blocked.fp")[::2], "is in the way")
        assert not (ws / "blocked.fp").exists()

    @pytest.mark.parametrize("argv", [
        ["fingerprint", "not-a-model", "-o", "notes.txt"],
        ["compare", "base.fp", "suspect.fp", "--bundle", "notes.txt"],
        ["registry", "export", "notes.txt", "--registry", "reg.db"],
    ])
    def test_an_existing_output_file_is_replaced_only_with_force(self, ws, capsys, monkeypatch, argv):
        before = snapshot(ws)
        monkeypatch.chdir(ws)
        assert_one_line_error(*run(capsys, *argv)[::2], "notes.txt already exists", "pass --force to replace it")
        assert snapshot(ws) == before

    def test_force_replaces_an_existing_bundle(self, ws, capsys, monkeypatch, tmp_path):
        monkeypatch.chdir(ws)
        (tmp_path / "ev.json").write_text("old")
        assert run(capsys, "compare", "base.fp", "suspect.fp", "--bundle", tmp_path / "ev.json", "--force")[0] == 0
        assert json.loads((tmp_path / "ev.json").read_text())["kind"] == "compare"

    def test_reports_and_bundles_create_their_folders_and_say_what_they_wrote(self, ws, capsys, monkeypatch, tmp_path):
        monkeypatch.chdir(ws)
        bundle, report = tmp_path / "new" / "deeper" / "ev.json", tmp_path / "reports" / "r1"
        code, out, err = run(capsys, "compare", "base.fp", "suspect.fp", "--bundle", bundle, "--report", report)
        assert code == 0, err
        assert err.splitlines() == [f"wrote evidence bundle {bundle}", f"wrote report {report / 'index.html'}"]
        assert bundle.is_file() and (report / "index.html").is_file()
        code, out, err = run(capsys, "identify", "suspect.fp", "--registry", "reg.db", "--report", tmp_path / "i" / "r")
        assert code == 0 and f"wrote report {tmp_path / 'i' / 'r' / 'index.html'}" in err.splitlines(), err


class TestIgnoredOptions:
    @pytest.mark.parametrize("argv, fragment", [
        (["compare", "base.fp", "suspect.fp", "--length", "999", "--device", "cuda"],
         "--length, --device would be ignored: every input is a fingerprint file"),
        (["compare", "base.fp", "not-a-model", "--probe-seed", "7"], "a fingerprint file carries its own probes"),
        (["fingerprint", "not-a-model", "-o", "x.fp", "--like", "base.fp", "--n", "50"], "the probes come from the --like file"),
        (["fingerprint", "not-a-model", "--extend", "base.fp", "--probe", "token"], "the probes come from --extend FILE"),
        (["fingerprint", "not-a-model", "-o", "x.fp", "--probe-seed", "-1"], "must be 0 or a positive integer"),
        (["fingerprint", "not-a-model", "-o", "x.fp", "--n", "1000000000"], "at most 10000000 probes"),
        (["keygen", ""], "names no file"),
        (["matrix", "base.fp", "suspect.fp", "--out", "m", "--n", "50"], "--n would be ignored"),
        (["identify", "suspect.fp", "--registry", "reg.db", "--batch-size", "7"], "--batch-size would be ignored"),
    ])
    def test_usage_errors(self, ws, capsys, monkeypatch, argv, fragment):
        monkeypatch.chdir(ws)
        code, _, err = run(capsys, *argv)
        assert code == 2 and fragment in err, err


class TestPipesAsInputs:
    @pytest.mark.parametrize("argv, fragment", [
        (["compare", "base.fp", "pipe-in"], "pipe-in is not a regular file"),
        (["verify", "pipe-in"], "pipe-in is not a regular file"),
        (["verify", "signed.json", "--public-key", "pipe-in"], "public key pipe-in is not a regular file"),
        (["compare", "base.fp", "suspect.fp", "--bundle", "e.json", "--sign", "pipe-in"], "not a regular file"),
        (["fingerprint", "not-a-model", "-o", "x.fp", "--like", "pipe-in"], "pipe-in is not a regular file"),
        (["fingerprint", "MODEL", "-o", "x.fp", "--probe-file", "pipe-in"], "probe file pipe-in is not a regular file"),
    ])
    def test_a_pipe_gets_one_line_and_no_wait(self, ws, tiny_llama_dir, argv, fragment):
        if not (ws / "pipe-in").exists():
            os.mkfifo(ws / "pipe-in")
        done = cli_in(ws, *(tiny_llama_dir if a == "MODEL" else a for a in argv))
        assert done.returncode == 1 and done.stderr.count("\n") == 1 and fragment in done.stderr, done.stderr


class TestEditedBundles:
    @pytest.mark.parametrize("change, fragment", [
        (lambda d: d["seal"].update(algorithm="md5"), "is sealed with 'md5'"),
        (lambda d: d.update(bundle_format=1), "bundle_format is not text"),
        (lambda d: d["fingerprints"].update({"ref\n  signed by key x": d["fingerprints"]["reference"]}), "control characters"),
        (lambda d: d["tests"][0]["settings"].update(n_permutations=10**9), "n_permutations = 1000000000"),
        (lambda d: d["tests"][0]["settings"].update(seed=-1), "seed = -1"),
        (lambda d: d["tests"][0]["result"].update(z=10**400), "z is an integer beyond any float"),
    ])
    def test_refused_with_one_line(self, ws, tmp_path, capsys, change, fragment):
        data = json.loads((ws / "evidence.json").read_text())
        change(data)
        data["seal"]["digest"] = bl.seal(data)
        path = tmp_path / "edited.json"
        path.write_text(json.dumps(data))
        assert_one_line_error(*run(capsys, "verify", path)[::2], fragment)

    def test_an_integer_too_long_for_json_is_one_line(self, ws, tmp_path, capsys):
        path = tmp_path / "long.json"
        path.write_text('{"bundle_format": ' + "9" * 5000 + "}")
        assert_one_line_error(*run(capsys, "verify", path)[::2], "integer too long")

    def test_a_failing_bundle_prints_its_error_without_the_recomputations_warnings(self, tmp_path, capsys):
        from .test_bundle import pair, write

        with pytest.warns(LowPowerWarning, match="paper mode"):  # the recorded run warns as the verification will
            path = write(tmp_path / "paper.json", *pair(), method="paper", buffer_k=4, identity_mode="coset")
        code, _, err = run(capsys, "verify", path)
        assert code == 0 and "Warning: paper mode" in err  # a verified bundle shows the warning
        data = json.loads(path.read_text())
        data["tests"][0]["result"]["z"] += 1.0
        data["seal"]["digest"] = bl.seal(data)
        path.write_text(json.dumps(data))
        assert_one_line_error(*run(capsys, "verify", path)[::2], "does not recompute")


class TestDemoRefusesEarly:
    @pytest.mark.parametrize("argv, fragment", [
        (["demo", "--out", "notes.txt"], "is a file"),
        (["demo", "--length", "100000"], "longer than the demo models'"),
        (["demo", "--out", "no-folder/demo"], "does not exist; create it first"),
    ])
    def test_before_any_training(self, ws, capsys, monkeypatch, argv, fragment):
        monkeypatch.chdir(ws)
        assert_one_line_error(*run(capsys, *argv)[::2], fragment)


def test_probes_need_a_vocabulary_of_two(tiny_llama_dir, tmp_path, capsys):
    code, _, err = run(capsys, "fingerprint", tiny_llama_dir, "-o", tmp_path / "x.fp", "--n", "30", "--length", "8",
                       "--vocab-bound", "1")
    assert_one_line_error(code, err, "vocab_bound >= 2")


def test_matrix_sees_a_link_to_an_input_as_the_same_input(ws, capsys, monkeypatch):
    (ws / "link-to-base.fp").symlink_to("base.fp")
    monkeypatch.chdir(ws)
    assert_one_line_error(*run(capsys, "matrix", "base.fp", "link-to-base.fp", "--out", "m")[::2],
                          "link-to-base.fp is given more than once (as base.fp)")
