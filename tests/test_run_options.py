"""Every verb path that loads a model honours the model options: a pickle-only model loads with --allow-pickle on
each of them, and is refused without it (options once reached only some paths, and were dropped on the others)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import run

TOKEN_PROBES = ("--probe", "token", "--n", "60", "--length", "8")


def _pickle_only(source: Path, target: Path) -> Path:
    """A copy of a model directory whose weights are pytorch_model.bin only (its tokenizer files kept)."""
    import safetensors.torch
    import torch

    shutil.copytree(source, target)
    weights = target / "model.safetensors"
    torch.save(safetensors.torch.load_file(weights), target / "pytorch_model.bin")
    weights.unlink()
    return target


@pytest.fixture(scope="module")
def models(tiny_llama_dir, tiny_llama_derived_dir, tmp_path_factory) -> dict[str, Path]:
    """A reference fingerprint (safetensors model) and two pickle-only models, one of them derived from it."""
    root = tmp_path_factory.mktemp("pickle-only")
    base = root / "base.fp.safetensors"
    from seedprints.cli import main

    assert main(["fingerprint", str(tiny_llama_dir), "-o", str(base), *TOKEN_PROBES, "--quiet"]) == 0
    return {"base": base, "derived": _pickle_only(tiny_llama_derived_dir, root / "derived"),
            "own": _pickle_only(tiny_llama_dir, root / "own")}


def _registry(models: dict[str, Path], tmp: Path) -> Path:
    from seedprints.cli import main

    registry = tmp / "reg.db"
    assert main(["registry", "add", str(models["base"]), "--name", "base", "--registry", str(registry), "--json"]) == 0
    return registry


def _made_from_pickle(models: dict[str, Path], tmp: Path) -> Path:
    from seedprints.cli import main

    made = tmp / "made.fp.safetensors"
    assert main(["fingerprint", str(models["derived"]), "-o", str(made), "--like", str(models["base"]), "--allow-pickle",
                 "--quiet"]) == 0
    return made


PATHS = {
    "fingerprint": lambda m, t: ["fingerprint", m["derived"], "-o", t / "out.fp.safetensors", *TOKEN_PROBES],
    "fingerprint --like": lambda m, t: ["fingerprint", m["derived"], "-o", t / "out.fp.safetensors", "--like", m["base"]],
    "fingerprint --early-stop": lambda m, t: ["fingerprint", m["derived"], "-o", t / "out.fp.safetensors", "--like",
                                              m["base"], "--early-stop"],
    "fingerprint --extend": lambda m, t: ["fingerprint", m["derived"], "--extend", _made_from_pickle(m, t), "--n", "80"],
    "compare": lambda m, t: ["compare", m["base"], m["derived"]],
    "compare --early-stop": lambda m, t: ["compare", m["base"], m["derived"], "--early-stop"],
    "compare --early-stop --bundle": lambda m, t: ["compare", m["base"], m["derived"], "--early-stop", "--bundle",
                                                   t / "evidence.json"],
    "compare two models": lambda m, t: ["compare", m["own"], m["derived"], *TOKEN_PROBES],
    "registry add": lambda m, t: ["registry", "add", m["derived"], "--registry", t / "reg.db", *TOKEN_PROBES],
    "identify": lambda m, t: ["identify", m["derived"], "--registry", _registry(m, t)],
    "identify --early-stop": lambda m, t: ["identify", m["derived"], "--registry", _registry(m, t), "--early-stop"],
    "matrix": lambda m, t: ["matrix", m["base"], m["derived"], "--out", t / "matrix"],
}


@pytest.mark.parametrize("path", PATHS)
def test_allow_pickle_reaches_every_path(path, models, tmp_path, capsys):
    argv = [str(a) for a in PATHS[path](models, tmp_path)]
    code, _, err = run(capsys, *argv, "--allow-pickle", "--json")
    assert code == 0, err


@pytest.mark.parametrize("path", [p for p in PATHS if p != "fingerprint --extend"])  # its setup itself needs the flag
def test_without_allow_pickle_every_path_refuses(path, models, tmp_path, capsys):
    argv = [str(a) for a in PATHS[path](models, tmp_path)]
    code, _, err = run(capsys, *argv, "--json")
    assert code == 1 and "--allow-pickle" in err, err


def test_an_early_stopped_bundle_verifies(models, tmp_path, capsys):
    bundle = tmp_path / "evidence.json"
    code, out, err = run(capsys, "compare", models["base"], models["derived"], "--early-stop", "--bundle", bundle,
                         "--allow-pickle", "--json")
    assert code == 0, err
    code, out, err = run(capsys, "verify", bundle, "--json")
    assert code == 0, err
