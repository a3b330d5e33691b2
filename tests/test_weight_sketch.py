"""Fingerprints that carry a weight sketch (``--weight-sketch``): the file keeps it whole, and comparing two such
fingerprints runs the units part, so a copy with relabelled hidden dimensions is seen from the CLI and the API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seedprints import api
from seedprints.fingerprint import Fingerprint, load
from seedprints.options import RunOptions
from seedprints.stats.units import FILE_SKETCH, WeightSketch
from seedprints.zoo.permute import permute_hidden
from tests.conftest import (
    TINY_WIDTH, _save, assert_one_line_error, build_tokenizer, compare_json, run, tiny_llama,
)


@pytest.fixture(scope="module")
def permuted_dir(tmp_path_factory) -> Path:
    """The seed-0 tiny Llama of ``tiny_llama_dir`` with its hidden dimensions relabelled: the same function."""
    return _save(permute_hidden(tiny_llama(0), seed=7), build_tokenizer(), tmp_path_factory.mktemp("tiny-llama-permuted"))


@pytest.fixture(scope="module")
def sketched(tmp_path_factory, tiny_llama_dir: Path, permuted_dir: Path, tiny_llama_other_dir: Path) -> dict[str, Path]:
    """Fingerprint files with a weight sketch of the base model, its permuted copy and an independent model."""
    folder = tmp_path_factory.mktemp("sketched")
    out = {}
    for name, model in (("base", tiny_llama_dir), ("copy", permuted_dir), ("other", tiny_llama_other_dir)):
        out[name] = folder / f"{name}.fp"
        api.fingerprint_model(model, options=api.ProbeOptions(n=60, length=8), run=RunOptions(weight_sketch=True)).save(out[name])
    return out


class TestFile:
    def test_the_sketch_survives_the_file(self, sketched):
        fp = load(sketched["base"])
        assert isinstance(fp.weights, WeightSketch) and fp.weights.head_dim == TINY_WIDTH // 2
        assert fp.weights.embedding.shape[0] <= FILE_SKETCH.rows_per_dim * TINY_WIDTH
        assert all(block.shape[0] == FILE_SKETCH.units for block in fp.weights.mlp)
        again = load(fp.save(sketched["base"].with_name("again.fp")))
        np.testing.assert_array_equal(again.weights.mlp[1], fp.weights.mlp[1])
        assert "weights_head_dim" not in fp.metadata and fp.prefix(30).weights is fp.weights

    def test_a_fingerprint_without_a_sketch_reads_as_before(self, tmp_path):
        fp = Fingerprint(np.ones((25, 8), np.float32), api.ProbeOptions(n=25, length=4).spec_for([100], 8), "m")
        assert load(fp.save(tmp_path / "plain.fp")).weights is None

    def test_fingerprint_reports_the_sketch(self, capsys, tiny_llama_dir, tmp_path):
        code, out, err = run(capsys, "fingerprint", tiny_llama_dir, "-o", tmp_path / "a.fp", "--n", 30, "--length", 8,
                             "--weight-sketch", "--json")
        assert code == 0, err
        assert json.loads(out)["weight_sketch"] == {"embedding_rows": 64, "layers": 2, "mlp_units": 64,
                                                    "value_channels": 64}
        code, out, _ = run(capsys, "fingerprint", tiny_llama_dir, "-o", tmp_path / "b.fp", "--n", 30, "--length", 8, "--json")
        assert json.loads(out)["weight_sketch"] is None


class TestCompare:
    def test_a_relabelled_copy_is_seen_through_its_sketch(self, capsys, sketched):
        result = compare_json(capsys, sketched["base"], sketched["copy"])
        details = result["details"]
        assert result["verdict"] == "same-lineage" and details["units_z"] > 20
        assert details["permutation_note"].startswith("a relabelling or rotation of the hidden dimensions could have been")

    def test_the_report_shows_the_units_part(self, capsys, sketched):
        code, out, err = run(capsys, "compare", sketched["base"], sketched["copy"])
        assert code == 0 and "weight units part z = " in out, err

    def test_an_independent_model_is_not_flagged(self, capsys, sketched):
        result = compare_json(capsys, sketched["base"], sketched["other"])
        assert result["verdict"] == "independent" and abs(result["details"]["units_z"]) < 4

    def test_one_side_without_a_sketch_says_how_to_give_it(self, capsys, tiny_llama_dir, tiny_llama_other_dir, tmp_path):
        # Uniform token probes score no untrained logits, so only the units part could have seen a relabelling.
        made = [run(capsys, "fingerprint", model, "-o", tmp_path / f"{name}.fp", "--probe", "token", "--n", 40, "--length", 8,
                    *flags)[0] for name, model, flags in (("ref", tiny_llama_dir, ["--weight-sketch"]),
                                                          ("plain", tiny_llama_other_dir, []))]
        assert made == [0, 0]
        details = compare_json(capsys, tmp_path / "ref.fp", tmp_path / "plain.fp")["details"]
        assert "units_z" not in details and "fingerprint files made with --weight-sketch" in details["permutation_note"]

    def test_two_models_compared_with_the_flag(self, capsys, tiny_llama_dir, permuted_dir):
        code, out, err = run(capsys, "compare", tiny_llama_dir, permuted_dir, "--n", 40, "--length", 8, "--weight-sketch",
                             "--json")
        assert code == 0, err
        assert json.loads(out)["details"]["units_z"] > 20

    def test_early_stopping_carries_the_sketch(self, tiny_llama_dir, permuted_dir):
        result = api.compare(tiny_llama_dir, permuted_dir, early_stop=True, options=api.ProbeOptions(n=100, length=8),
                             run=RunOptions(weight_sketch=True))
        assert result.verdict == "same-lineage" and result.details["units_z"] > 20

    def test_same_numbers_from_files_and_from_models(self, sketched, tiny_llama_dir, permuted_dir):
        from_models = api.compare(tiny_llama_dir, permuted_dir, options=api.ProbeOptions(n=60, length=8),
                                  run=RunOptions(weight_sketch=True))
        from_files = api.compare(sketched["base"], sketched["copy"])
        assert from_models.details["units_z"] == pytest.approx(from_files.details["units_z"], rel=1e-9)


class TestRefusals:
    def test_a_model_without_llama_blocks_is_refused_before_its_forward_pass(self, capsys, tiny_gpt2_dir, tmp_path):
        code, _, err = run(capsys, "fingerprint", tiny_gpt2_dir, "-o", tmp_path / "g.fp", "--n", 30, "--length", 8,
                           "--weight-sketch")
        assert_one_line_error(code, err, "has no weight sketch to record", "llama-style", "drop --weight-sketch")
        assert not list(tmp_path.iterdir())

    def test_extending_keeps_the_sketch(self, capsys, tiny_llama_dir, tmp_path):
        path = tmp_path / "grow.fp"
        assert run(capsys, "fingerprint", tiny_llama_dir, "-o", path, "--n", 30, "--length", 8, "--weight-sketch")[0] == 0
        before = load(path).weights
        code, _, err = run(capsys, "fingerprint", tiny_llama_dir, "--extend", path, "--n", 50)
        assert code == 0, err
        after = load(path)
        assert after.n == 50 and np.array_equal(after.weights.embedding, before.embedding)
