"""Paths, names and hashes print exactly as they are: no Rich markup or emoji codes are read in any verb's
human output; and long work shows plain progress lines on stderr when it is not a terminal."""

from __future__ import annotations

import shutil

import pytest

import seedprints
from seedprints import progress

from .conftest import run

ODD = "[bold]x[red] [abc] :smile:"  # in file names, where a closing tag's "/" would be a folder
TAG = "[bold]x[/bold]"
PROBES = ("--n", "30", "--length", "8", "--rare-tokens", "8")


def printed(capsys, *argv) -> str:
    """Stdout of a successful human (non --json) run, with table borders and line breaks as spaces."""
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return " ".join(out.replace("│", " ").replace("┃", " ").split())


def test_every_verb_prints_brackets_and_markup_exactly(capsys, tmp_path, tiny_llama_dir, tiny_llama_derived_dir,
                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    base, derived = f"{ODD} base", f"{ODD} derived"
    shutil.copytree(tiny_llama_dir, base)
    shutil.copytree(tiny_llama_derived_dir, derived)
    base_fp, derived_fp = f"[abc]{base}.fp.safetensors", f"[abc]{derived}.fp.safetensors"
    out = printed(capsys, "fingerprint", base, "-o", base_fp, *PROBES)
    assert base_fp in out and base in out
    assert derived_fp in printed(capsys, "fingerprint", derived, "-o", derived_fp, "--like", base_fp)
    out = printed(capsys, "compare", base_fp, derived_fp, "--bundle", f"{ODD}.json", "--report", f"{ODD} report")
    assert base_fp in out and derived_fp in out
    assert f"{ODD}.json" in printed(capsys, "verify", f"{ODD}.json")
    registry = f"{ODD}.db"
    assert ODD in printed(capsys, "registry", "add", base_fp, "--name", "[b1ea42ba16e808d9]", "--tag", f"k={TAG}",
                          "--registry", registry)
    shown = printed(capsys, "registry", "show", "[b1ea42ba16e808d9]", "--registry", registry)
    assert "[b1ea42ba16e808d9]" in shown and f"k={TAG}" in shown and base_fp in shown
    assert seedprints.load_fingerprint(base_fp).spec.describe() in shown  # its probe hash in brackets included
    assert "[b1ea42ba16e808d9]" in printed(capsys, "registry", "list", "--registry", registry)
    assert f"[abc]{ODD}.tar" in printed(capsys, "registry", "export", f"[abc]{ODD}.tar", "--registry", registry)
    assert f"[abc]{ODD}.tar" in printed(capsys, "registry", "import", f"[abc]{ODD}.tar", "--registry", f"[x]{registry}")
    assert "[b1ea42ba16e808d9]" in printed(capsys, "identify", derived_fp, "--registry", registry)
    assert "[b1ea42ba16e808d9]" in printed(capsys, "registry", "remove", "[b1ea42ba16e808d9]", "--registry", registry)
    out = printed(capsys, "matrix", base_fp, derived_fp, "--out", f"{ODD} matrix")
    assert f"{ODD} matrix" in out
    assert f"[abc]{ODD}.key" in printed(capsys, "keygen", f"[abc]{ODD}.key")


def test_probe_hashes_in_brackets_survive(capsys, tmp_path, tiny_llama_dir):
    """Every probe hash a fingerprint summary prints is the file's own (none swallowed as a markup tag)."""
    out_file = tmp_path / "fp.safetensors"
    out = printed(capsys, "fingerprint", tiny_llama_dir, "-o", out_file, *PROBES)
    assert seedprints.load_fingerprint(out_file).spec.describe() in out


@pytest.mark.parametrize("flag", [None, "--json", "--quiet"])
def test_progress_lines_when_stderr_is_not_a_terminal(capsys, tmp_path, tiny_llama_dir, monkeypatch, flag):
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)
    code, _, err = run(capsys, "fingerprint", tiny_llama_dir, "-o", tmp_path / "fp.safetensors", *PROBES,
                       "--batch-size", "10", *([flag] if flag else []))
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("extracting ")]
    if flag:
        assert lines == [], err
    else:
        assert lines and lines[-1].endswith("s elapsed") and "30/30 (100%)" in lines[-1], err


def test_plain_progress_shows_the_note_and_bytes(capsys, monkeypatch):
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    with progress.progress_bar(True, 4, "training") as advance:
        advance(1, "loss 2.500")
        advance(3)
    with progress.progress_bar(True, 3_000_000, "hashing", unit="bytes") as advance:
        advance(3_000_000)
    lines = capsys.readouterr().err.splitlines()
    assert lines[1].startswith("training: 4/4 (100%), loss 2.500, ") and lines[-1].startswith("hashing: 3/3 MB (100%), ")
