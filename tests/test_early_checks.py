"""A model that cannot be compared with a reference (another width, too few token embeddings, too few positions) is
refused by its config alone, on every verb, before any weight is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TINY_VOCAB, _save, assert_one_line_error, build_tokenizer, run

N, LENGTH = 40, 32


def _llama(path: Path, *, width: int = 32, vocab: int = TINY_VOCAB, positions: int = 256) -> Path:
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(hidden_size=width, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                      vocab_size=vocab, max_position_embeddings=positions)
    return _save(transformers.LlamaForCausalLM(config), build_tokenizer(), path)


@pytest.fixture(scope="module")
def odd_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("odd")
    return {"wide": _llama(root / "wide", width=48), "few-tokens": _llama(root / "few-tokens", vocab=60),
            "short": _llama(root / "short", positions=16)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_llama_dir) -> Path:
    from seedprints.cli import main

    path = tmp_path_factory.mktemp("ref") / "ref.fp"
    assert main(["fingerprint", str(tiny_llama_dir), "-o", str(path), "--n", str(N), "--length", str(LENGTH),
                 "--json"]) == 0
    return path


@pytest.fixture
def no_weights(monkeypatch):
    """Any attempt to read weights fails the test: the refusal must come from the config."""
    from seedprints.model import load as extract

    def refuse(*_args, **_kwargs):
        raise AssertionError("weights were loaded before the mismatch was found")

    monkeypatch.setattr(extract, "_load_weights", refuse)


def _verbs(ref: Path, model: Path, tmp: Path) -> dict[str, list]:
    registry = tmp / "reg.db"
    return {
        "compare file dir": ["compare", ref, model],
        "compare dir file": ["compare", model, ref],
        "compare early stop": ["compare", ref, model, "--early-stop"],
        "fingerprint --like": ["fingerprint", model, "-o", tmp / "x.fp", "--like", ref],
        "fingerprint --like --early-stop": ["fingerprint", model, "-o", tmp / "y.fp", "--like", ref, "--early-stop"],
        "registry add --like": ["registry", "add", model, "--like", ref, "--registry", registry],
        "matrix": ["matrix", ref, model, "--out", tmp / "m"],
    }


@pytest.mark.parametrize("verb", list(_verbs(Path("r"), Path("m"), Path("t"))))
@pytest.mark.parametrize(("model", "fragment"), [
    ("wide", "hidden sizes differ"), ("few-tokens", "token embeddings"), ("short", "exceed the 16 positions"),
])
def test_refused_by_config_on_every_verb(verb, model, fragment, odd_models, reference, tmp_path, capsys, no_weights):
    argv = _verbs(reference, odd_models[model], tmp_path)[verb]
    assert_one_line_error(*run(capsys, *argv)[::2], fragment)
    assert not (tmp_path / "x.fp").exists() and not (tmp_path / "reg.db").exists()


def test_two_directories_of_different_widths(odd_models, tiny_llama_dir, capsys, no_weights):
    assert_one_line_error(*run(capsys, "compare", tiny_llama_dir, odd_models["wide"])[::2], "hidden sizes differ")


def test_identify_skips_entries_of_another_width_by_config(odd_models, reference, tmp_path, capsys, no_weights):
    registry = tmp_path / "reg.db"
    assert run(capsys, "registry", "add", reference, "--registry", registry)[0] == 0
    assert_one_line_error(*run(capsys, "identify", odd_models["wide"], "--registry", registry)[::2],
                          "register references of the suspect's hidden size")
