"""Default probes: made from the vocabulary alone, so fingerprints made apart compare, and a vocab part that
scores only rows no model trained (padding past the tokenizer), so trained tokens cannot fake a lineage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import seedprints
from seedprints import api
from seedprints.fingerprint import Fingerprint
from seedprints.probes import ProbeSpec
from seedprints.stats.methods import lineage_method
from tests.conftest import _save, build_tokenizer, compare_json

ROWS = 160  # embedding rows; the word-level test tokenizer has about 70 tokens, the rest is padding
WIDTH = 48
N, LENGTH = 300, 24


def _model(seed: int):
    import torch
    import transformers

    torch.manual_seed(seed)
    config = transformers.LlamaConfig(hidden_size=WIDTH, num_hidden_layers=2, num_attention_heads=2, intermediate_size=96,
                                      vocab_size=ROWS, max_position_embeddings=128)
    return transformers.LlamaForCausalLM(config)


def _train(model, tokens: int, steps: int, data_seed: int):
    """AdamW with weight decay on sequences that count up modulo ``tokens``: every id below ``tokens`` is an
    input and a target, ids past it never are (as for rows past a tokenizer)."""
    import torch

    generator = torch.Generator().manual_seed(data_seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    model.train()
    for _ in range(steps):
        starts = torch.randint(0, tokens, (8, 1), generator=generator)
        ids = (starts + torch.arange(32)) % tokens
        loss = model(input_ids=ids, labels=ids).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def models(tmp_path_factory, tokenizer) -> dict[str, Path]:
    """Two lineages pretrained on the same data in the same order, a fine-tune of the first, and its permuted copy."""
    from seedprints.zoo.derive import permute_hidden

    known = len(tokenizer)
    root = tmp_path_factory.mktemp("default-probes")
    base = _train(_model(1), known, 60, data_seed=0)
    other = _train(_model(2), known, 60, data_seed=0)
    import copy

    tuned = _train(copy.deepcopy(base), known, 30, data_seed=5)
    made = {"base": base, "other": other, "finetune": tuned, "permuted": permute_hidden(tuned, seed=3)}
    return {name: _save(model, tokenizer, root / name) for name, model in made.items()}


def _fingerprint(model: Path, out: Path) -> Path:
    """``seedprints fingerprint MODEL -o OUT`` with the default probes (fewer and shorter, for speed)."""
    from seedprints.cli import main

    assert main(["fingerprint", str(model), "-o", str(out), "--n", str(N), "--length", str(LENGTH), "--json"]) == 0
    return out


@pytest.fixture(scope="module")
def files(models, tmp_path_factory) -> dict[str, Path]:
    """Each model fingerprinted on its own with the default probes."""
    out = tmp_path_factory.mktemp("fps")
    return {name: _fingerprint(path, out / f"{name}.fp") for name, path in models.items()}


@pytest.fixture(scope="module")
def legacy_pair(tokenizer) -> list[Fingerprint]:
    """Two independent models trained on the same data, fingerprinted on legacy probes whose scored tokens were all
    trained (ids below the tokenizer's length)."""
    known = len(tokenizer)
    legacy = ProbeSpec(kind="token", n=N, length=LENGTH, vocab_bound=ROWS,
                       input_tokens=tuple(range(0, known, 2)), output_tokens=tuple(range(1, known, 2)))
    return [seedprints.fingerprint_model(_train(_model(seed), known, 60, data_seed=0), legacy) for seed in (1, 2)]


class TestMadeApartTheyCompare:
    """Two people fingerprint two models of one vocabulary with the defaults: the files compare directly."""

    def test_the_specs_are_the_same(self, files):
        specs = {seedprints.load_fingerprint(path).spec for path in files.values()}
        assert len(specs) == 1 and next(iter(specs)).scores_untrained_logits

    def test_a_fine_tune_is_same_lineage(self, capsys, files):
        assert compare_json(capsys, files["base"], files["finetune"])["verdict"] == "same-lineage"

    def test_another_seed_is_independent(self, capsys, files):
        result = compare_json(capsys, files["base"], files["other"])
        assert result["verdict"] == "independent"
        assert abs(result["details"]["vocab_z"]) < 4 and abs(result["details"]["hidden_z"]) < 4

    def test_a_permuted_copy_is_seen_by_the_vocab_part(self, capsys, files):
        result = compare_json(capsys, files["base"], files["permuted"])
        assert result["verdict"] == "same-lineage" and result["details"]["vocab_z"] > 5

    def test_two_directories_get_the_spec_each_gets_alone(self, models, files):
        alone = seedprints.load_fingerprint(files["base"]).spec
        assert api.shared_default_spec([models["base"], models["other"]], api.ProbeOptions(n=N, length=LENGTH)) == alone


class TestTrainedTokensAreNotScored:
    """Logits of tokens a model trained carry what it learnt; models trained on similar data agree on them. A spec
    that scores such tokens (older "rare" probes: a reference's lowest-logit tokens) must not give a vocab part."""

    def test_legacy_logits_are_not_scored(self, legacy_pair):
        result = lineage_method(*legacy_pair)
        assert "vocab_z" not in result.details and "older seedprints" in result.details["vocab_note"]
        assert result.verdict == "independent"

    def test_the_same_logits_certified_untrained_would_be_scored(self, legacy_pair):
        """The gate is the spec alone: the test scores logits only when the spec certifies them untrained."""
        certified = [Fingerprint(hidden=fp.hidden, spec=_certified(fp.spec), model_id=fp.model_id, logits=fp.logits)
                     for fp in legacy_pair]
        assert "vocab_z" in lineage_method(*certified).details

    def test_no_padding_says_what_it_cannot_see(self):
        rng = np.random.default_rng(0)
        spec = api.ProbeOptions(n=40, length=4).spec_for([100], 16, 100)
        fps = [Fingerprint(hidden=rng.standard_normal((40, 16)).astype(np.float32), spec=spec, model_id=f"m{i}")
               for i in range(2)]
        note = lineage_method(*fps).details["vocab_note"]
        assert "permuted hidden dimensions is not recognised" in note


def _certified(spec: ProbeSpec) -> ProbeSpec:
    """The legacy spec with its outputs moved past a pretend tokenizer end (the logits stay as they are)."""
    import dataclasses

    outputs = tuple(range(ROWS - len(spec.output_tokens), ROWS))
    return dataclasses.replace(spec, output_tokens=outputs, untrained_from=outputs[0])
