"""Padding rows that carry nothing: collapsed onto one vector (long-trained real models), zeroed or drawn afresh
(some exports, embedding resizes). The default test's hidden part must not depend on them, and the vocab part must
abstain rather than score rounding noise."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest

import seedprints
from seedprints.encoding import rank_fingerprint
from seedprints.fingerprint import Fingerprint
from seedprints.probes import generated, untrained_token_spec
from seedprints.stats.lineage import lineage_test, lineage_test_ranked
from seedprints.stats.methods import lineage_method
from tests.conftest import _save, build_tokenizer, compare_json, run
from tests.test_default_probes import LENGTH, N, _model, _train

pytestmark = pytest.mark.slow


class TestTheDefaultSpec:
    def test_even_probes_are_trained_tokens_and_odd_probes_padding_rows(self):
        spec = untrained_token_spec(40, 12, vocab_rows=4352, tokenizer_length=4096)
        ids = generated(spec).token_ids(0, 40)
        assert spec.trained_inputs_below == 4096 and list(spec.row_groups()[:4]) == [0, 1, 0, 1]
        assert all((row < 4096).all() for row in ids[0::2])
        assert all(set(row.tolist()) <= set(spec.input_tokens) for row in ids[1::2])

    def test_trained_inputs_stay_below_the_paper_bound(self):
        spec = untrained_token_spec(40, 12, vocab_rows=151936, tokenizer_length=151665)
        assert spec.trained_inputs_below == 32000
        assert max(int(row.max()) for row in generated(spec).token_ids(0, 40)[0::2]) < 32000

    def test_a_longer_spec_starts_with_the_shorter(self):
        short = untrained_token_spec(40, 12, vocab_rows=4352, tokenizer_length=4096)
        long = short.with_n(90)
        for a, b in zip(generated(short).token_ids(0, 40), generated(long).token_ids(0, 40)):
            np.testing.assert_array_equal(a, b)
        assert list(long.row_groups()[:40]) == list(short.row_groups())

    def test_a_spec_without_padding_is_unchanged(self):
        spec = untrained_token_spec(40, 12, vocab_rows=4096, tokenizer_length=4096)
        assert spec.trained_inputs_below is None and spec.row_groups() is None


class TestTheStatistic:
    """On plain arrays: what is left out, and that the null still holds."""

    rng = np.random.default_rng(7)
    groups = np.arange(300) % 2

    def test_independent_matrices_stay_null_with_groups(self):
        zs = [lineage_test(self.rng.standard_normal((300, 32)), self.rng.standard_normal((300, 32)),
                           row_groups=self.groups, n_permutations=0).z for _ in range(200)]
        assert abs(np.mean(zs)) < 0.25 and 0.8 < np.std(zs) < 1.2

    def test_a_collapsed_group_leaves_exactly_the_other_group(self):
        a = self.rng.standard_normal((300, 32))
        b = a + self.rng.standard_normal((300, 32))
        b[1::2] = b[1] + 1e-7 * self.rng.standard_normal((150, 32))  # every padding-row probe gives one state
        grouped = lineage_test(a, b, row_groups=self.groups, n_permutations=0)
        alone = lineage_test(a[0::2], b[0::2], n_permutations=0)
        assert grouped.details["hidden_z"] == pytest.approx(alone.details["hidden_z"], rel=1e-9)
        assert "left out of the hidden part: in the suspect" in grouped.details["hidden_note"]

    def test_silent_logits_abstain_without_a_bonferroni_factor(self):
        a = self.rng.standard_normal((300, 32))
        b = a + self.rng.standard_normal((300, 32))
        logits = self.rng.standard_normal((300, 16))
        collapsed = np.repeat(self.rng.standard_normal((300, 1)), 16, axis=1) + 1e-7 * self.rng.standard_normal((300, 16))
        result = lineage_test(a, b, logits_ref=logits, logits_suspect=collapsed, row_groups=self.groups)
        hidden_only = lineage_test(a, b, row_groups=self.groups)
        assert "vocab_z" not in result.details and "abstained" in result.details["vocab_note"]
        assert "in the suspect" in result.details["vocab_note"]
        assert result.log10_p == pytest.approx(hidden_only.log10_p, rel=1e-12)

    def test_healthy_logits_are_scored(self):
        a = self.rng.standard_normal((300, 32))
        logits = self.rng.standard_normal((300, 16))
        result = lineage_test(a, a, logits_ref=logits, logits_suspect=logits + 0.1, row_groups=self.groups)
        assert result.details["vocab_z"] > 5


def _padding(model) -> slice:
    """The rows past the test tokenizer."""
    return slice(len(build_tokenizer()), model.config.vocab_size)


def _edit_padding(model, how: str, seed: int = 0):
    """A copy of ``model`` whose padding rows (input embedding and LM head) are zeroed, drawn afresh, or collapsed
    onto their mean as long training leaves them (a shared push plus 1e-6 of what is left of the init)."""
    import torch

    edited = copy.deepcopy(model)
    rows = _padding(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for matrix in (edited.get_input_embeddings().weight, edited.get_output_embeddings().weight):
            block = matrix[rows]
            if how == "zero":
                block.zero_()
            elif how == "fresh":
                block.copy_(torch.randn(block.shape, generator=generator) * 0.02)
            else:
                shared = 0.3 * torch.randn(block.shape[1], generator=generator) / block.shape[1] ** 0.5
                block.copy_(shared + 1e-6 * (block - block.mean(dim=0)))
            matrix[rows] = block
    return edited


@pytest.fixture(scope="module")
def fingerprints(tmp_path_factory) -> dict[str, Path]:
    """A base model, its fine-tune, copies of the fine-tune with edited padding rows, and another seed: each
    fingerprinted on its own with the defaults (fewer and shorter probes, for speed)."""
    from seedprints.cli import main

    tokenizer = build_tokenizer()
    known = len(tokenizer)
    root = tmp_path_factory.mktemp("padding-rows")
    base = _train(_model(1), known, 60, data_seed=0)
    tuned = _train(copy.deepcopy(base), known, 30, data_seed=5)
    other = _train(_model(2), known, 60, data_seed=0)
    models = {"base": base, "finetune": tuned, "other": other,
              **{how: _edit_padding(tuned, how) for how in ("zero", "fresh", "collapsed")},
              "other-collapsed": _edit_padding(other, "collapsed", seed=1)}
    out = {}
    for name, model in models.items():
        path = _save(model, tokenizer, root / name)
        out[name] = root / f"{name}.fp"
        assert main(["fingerprint", str(path), "-o", str(out[name]), "--n", str(N), "--length", str(LENGTH)]) == 0
    return out


class TestEditedPaddingRows:
    def test_the_unchanged_fine_tune_uses_both_groups_and_the_vocab_part(self, capsys, fingerprints):
        result = compare_json(capsys, fingerprints["base"], fingerprints["finetune"])
        assert result["verdict"] == "same-lineage" and "hidden_note" not in result["details"]
        assert result["details"]["vocab_z"] > 3

    def test_zeroed_padding_leaves_the_hidden_part_strong(self, capsys, fingerprints):
        unchanged = compare_json(capsys, fingerprints["base"], fingerprints["finetune"])["details"]["hidden_z"]
        result = compare_json(capsys, fingerprints["base"], fingerprints["zero"])
        assert result["verdict"] == "same-lineage" and "in the suspect" in result["details"]["hidden_note"]
        assert result["details"]["hidden_z"] > 0.5 * unchanged
        assert "abstained" in result["details"]["vocab_note"]

    def test_fresh_padding_leaves_the_hidden_part_strong(self, capsys, fingerprints):
        unchanged = compare_json(capsys, fingerprints["base"], fingerprints["finetune"])["details"]["hidden_z"]
        result = compare_json(capsys, fingerprints["base"], fingerprints["fresh"])
        assert result["verdict"] == "same-lineage" and result["details"]["hidden_z"] > 0.5 * unchanged

    def test_collapsed_padding_abstains_in_the_vocab_part(self, capsys, fingerprints):
        result = compare_json(capsys, fingerprints["base"], fingerprints["collapsed"])
        assert result["verdict"] == "same-lineage"
        assert "vocab_z" not in result["details"] and "in the suspect" in result["details"]["vocab_note"]
        code, out, _ = run(capsys, "compare", fingerprints["base"], fingerprints["collapsed"])
        assert code == 0 and "abstained" in " ".join(out.split())

    def test_collapsed_copies_of_other_seeds_stay_independent(self, capsys, fingerprints):
        result = compare_json(capsys, fingerprints["collapsed"], fingerprints["other-collapsed"])
        assert result["verdict"] == "independent" and abs(result["details"]["hidden_z"]) < 4

    def test_registry_ranks_give_the_same_numbers(self, fingerprints):
        """What is left out is decided when a fingerprint is ranked, so registry entries test like the files."""
        for suspect in ("collapsed", "zero", "finetune"):
            ref, sus = (seedprints.load_fingerprint(fingerprints[name]) for name in ("base", suspect))
            direct = lineage_method(ref, sus, n_permutations=0)
            ranked = lineage_test_ranked(rank_fingerprint(ref), rank_fingerprint(sus), n_permutations=0)
            assert ranked.log10_p == pytest.approx(direct.log10_p, rel=1e-9)
            assert ("vocab_z" in ranked.details) == ("vocab_z" in direct.details)


def test_an_old_default_spec_still_compares():
    """Fingerprints made with the padding-only probes of seedprints 0.2 keep comparing (no row groups)."""
    spec = dataclasses.replace(untrained_token_spec(40, 4, 4352, 4096), trained_inputs_below=None)
    rng = np.random.default_rng(0)
    fps = [Fingerprint(hidden=rng.standard_normal((40, 16)).astype(np.float32), spec=spec, model_id=f"m{i}",
                       logits=rng.standard_normal((40, 128)).astype(np.float32)) for i in range(2)]
    assert spec.row_groups() is None and "vocab_z" in lineage_method(*fps).details
