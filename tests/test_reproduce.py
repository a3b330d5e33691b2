"""The command a bundle or report records reruns verbatim, in a copy of its inputs, and gives the same numbers."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest

from .conftest import run

PROBES = ("--n", "60", "--length", "8", "--rare-tokens", "8")


@pytest.fixture()
def models(tmp_path, tiny_llama_dir, tiny_llama_derived_dir, tiny_llama_other_dir, monkeypatch) -> Path:
    """A work folder holding three model directories (base, derived, other), made the current folder."""
    work = tmp_path / "work"
    for name, source in (("base", tiny_llama_dir), ("derived", tiny_llama_derived_dir), ("other", tiny_llama_other_dir)):
        shutil.copytree(source, work / name)
    monkeypatch.chdir(work)
    return work


@pytest.fixture()
def files(capsys, models) -> Path:
    """The work folder with fingerprint files of its three models, made with the base model's probes."""
    assert run(capsys, "fingerprint", "base", "-o", "base.fp.safetensors", *PROBES)[0] == 0
    for name in ("derived", "other"):
        assert run(capsys, "fingerprint", name, "-o", f"{name}.fp.safetensors", "--like", "base.fp.safetensors")[0] == 0
    return models


def rerun(capsys, work: Path, command: str, monkeypatch) -> dict:
    """Run ``command`` (as recorded) in a fresh copy of ``work`` without its outputs; return its JSON output."""
    words = shlex.split(command)
    assert words[0] == "seedprints", command
    copy = work.parent / f"copy-{len(list(work.parent.glob('copy-*')))}"
    shutil.copytree(work, copy, ignore=shutil.ignore_patterns("ev.json", "report"))
    monkeypatch.chdir(copy)
    code, out, err = run(capsys, *words[1:], *([] if "--json" in words else ["--json"]))
    assert code == 0, f"{command}: {err}"
    return json.loads(out)


def numbers(result: dict) -> tuple:
    return result["verdict"], result["log10_p"], result["z"], result["n"], result["probe_hash"]


@pytest.mark.slow
@pytest.mark.parametrize("inputs", ["files", "models"])
@pytest.mark.parametrize("output", ["--bundle", "--report"])
def test_compare(capsys, request, monkeypatch, inputs, output):
    work = request.getfixturevalue(inputs)
    sides = ["base.fp.safetensors", "derived.fp.safetensors"] if inputs == "files" else ["base", "derived", *PROBES]
    target = "ev.json" if output == "--bundle" else "report"
    code, out, err = run(capsys, "compare", *sides, output, target, "--json")
    assert code == 0, err
    first = json.loads(out)
    recorded = (json.loads((work / "ev.json").read_text()) if output == "--bundle"
                else json.loads((work / "report" / "results.json").read_text()))["command"]
    assert ("--n" in recorded) == (inputs == "models") and ("--device" in recorded) == (inputs == "models"), recorded
    assert numbers(rerun(capsys, work, recorded, monkeypatch)) == numbers(first)


@pytest.mark.slow
@pytest.mark.parametrize("inputs", ["files", "models"])
def test_identify(capsys, files, monkeypatch, inputs):
    for name in ("base", "other"):
        assert run(capsys, "registry", "add", f"{name}.fp.safetensors", "--name", name, "--registry", "registry.db")[0] == 0
    suspect = "derived.fp.safetensors" if inputs == "files" else "derived"
    code, out, err = run(capsys, "identify", suspect, "--registry", "registry.db", "--bundle", "ev.json",
                         "--report", "report", "--json")
    assert code == 0, err
    first = json.loads(out)
    for recorded in (json.loads((files / name).read_text())["command"] for name in ("ev.json", "report/results.json")):
        assert ("--device" in recorded) == (inputs == "models"), recorded
        again = rerun(capsys, files, recorded, monkeypatch)
        assert [(c["name"], c["log10_p"], c["log10_p_holm"]) for c in again["candidates"]] == [
            (c["name"], c["log10_p"], c["log10_p_holm"]) for c in first["candidates"]]


@pytest.mark.slow
@pytest.mark.parametrize("inputs", ["files", "models"])
def test_matrix(capsys, request, monkeypatch, inputs):
    work = request.getfixturevalue(inputs)
    names = ["base", "derived", "other"]
    args = [f"{name}.fp.safetensors" for name in names] if inputs == "files" else [*names, *PROBES]
    code, out, err = run(capsys, "matrix", *args, "--out", "report", "--json")
    assert code == 0, err
    first = json.loads(out)
    assert ("--n" in first["command"]) == (inputs == "models"), first["command"]
    again = rerun(capsys, work, first["command"], monkeypatch)
    assert [(p["reference"], p["suspect"], p["log10_p"]) for p in again["pairs"]] == [
        (p["reference"], p["suspect"], p["log10_p"]) for p in first["pairs"]]
