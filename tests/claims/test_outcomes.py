"""Outcomes from test results: confirmed only at the family-wise level, not-supported with its power statement,
cannot-tell where the test is blind or short of probes; and the zoo reference the statement quotes."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np
import pytest

from seedprints.claims import outcomes, power
from seedprints.claims.zoo_reference import ZOO_REFERENCE
from seedprints.stats.notes import VOCAB_ABSTAINED
from seedprints.stats.multiple import holm_log10
from seedprints.stats.result import LineageResult

ROOT = Path(__file__).resolve().parents[2]


def result(z: float, log10_p: float, n: int = 1000, vocab: bool = True) -> LineageResult:
    details = {"hidden_z": z, "vocab_z": z} if vocab else {"hidden_z": z, "vocab_note": VOCAB_ABSTAINED}
    return LineageResult(verdict="independent", p_value=10**log10_p, log10_p=log10_p, z=z, tau_mean=0.0, k=32, n=n,
                         alpha=0.01, method="lineage", details=details)


def decide(r: LineageResult, log10_adjusted: float, tests: int = 4, relation: str | None = "finetune",
           correction: str = "holm") -> tuple[str, str]:
    return outcomes.decide(r, log10_adjusted, alpha=0.01, correction=correction, tests=tests, relation=relation,
                           base="org/base")


class TestDecide:
    def test_confirmed_reads_the_adjusted_p(self):
        outcome, reason = decide(result(40.0, -300.0), -299.4)
        assert outcome == "confirmed"
        assert reason == ("shares the initialisation of org/base: z = 40.0, p = 1e-300 (Holm-adjusted over 4 claims: "
                          "4e-300) < alpha = 0.01")

    def test_a_raw_p_below_alpha_is_not_enough(self):
        """p = 0.004 passes alone, not after Holm over 4 claims (0.016): not-supported, both p-values quoted."""
        outcome, reason = decide(result(2.9, math.log10(0.004)), math.log10(0.016))
        assert outcome == "not-supported"
        assert "p = 0.004 (Holm-adjusted over 4 claims: 0.016) >= alpha = 0.01" in reason

    def test_not_supported_says_what_it_would_have_taken(self):
        outcome, reason = decide(result(0.3, -0.1, n=250), 0.0, tests=5, relation="quantized")
        need = statistics.NormalDist().inv_cdf(1 - 0.01 / 10)
        row = ZOO_REFERENCE["relations"]["quantized"]
        assert outcome == "not-supported" and f"a z of {need:.1f} would have confirmed it" in reason
        assert f"the zoo's quantised copies reach z {row['z_min']:.1f}" in reason
        assert f"so about {row['z_min'] * math.sqrt(250 / ZOO_REFERENCE['n']):.1f} at this run's N = 250" in reason
        assert reason.endswith("not a proof of independence")

    def test_an_unknown_relation_quotes_every_derivative(self):
        _, reason = decide(result(0.3, -0.1), 0.0, relation="distillation")
        assert f"the zoo's derivatives reach z {ZOO_REFERENCE['relations']['any']['z_min']:.1f}" in reason
        assert "at this run's N" not in reason  # N equals the zoo's

    def test_a_vocab_part_that_did_not_run_cannot_tell(self):
        outcome, reason = decide(result(0.5, -0.2, vocab=False), 0.0)
        assert outcome == "cannot-tell" and "permuted hidden dimensions would look independent" in reason
        assert "the vocab part did not run: the scored rows past the tokenizer carry no per-row information" in reason

    def test_even_a_true_derivative_would_be_missed_with_too_few_probes(self):
        outcome, reason = decide(result(0.5, -0.2, n=20), 0.0, tests=100_000)
        assert outcome == "cannot-tell" and reason.startswith("too few probes: the zoo's fine-tunes reach")
        assert power.expected_z("finetune", 20) < power.needed_z(0.01, 100_000)

    def test_bh_is_named(self):
        _, reason = decide(result(40.0, -300.0), -299.4, correction="bh")
        assert "Benjamini-Hochberg-adjusted over 4 claims" in reason

    def test_adjusted_is_holm_or_bh(self):
        log10_p = [-5.0, -1.0, -3.0]
        assert np.allclose(outcomes.adjusted(log10_p, "holm"), holm_log10(np.array(log10_p)))
        assert outcomes.adjusted(log10_p, "bh")[1] == pytest.approx(-1.0)
        assert len(outcomes.adjusted([], "holm")) == 0


class TestPower:
    def test_needed_z_is_bonferronis_bound(self):
        # one-sided normal tail at alpha / (2 tests x 2 parts) = 0.0025: z = 2.807 (R: qnorm(0.0025, lower = FALSE))
        assert power.needed_z(0.01, 2, parts=2) == pytest.approx(2.807034, abs=1e-6)
        assert power.needed_z(0.01, 1, parts=1) == pytest.approx(2.326348, abs=1e-6)

    def test_the_shipped_reference_is_what_its_source_gives(self):
        """zoo_reference.py is written by a command, not typed: recomputing it from its results file gives it back."""
        source = ZOO_REFERENCE["source"]
        table = power.reference_from_zoo_eval(json.loads((ROOT / source).read_text()), source=source)
        assert table == ZOO_REFERENCE
        assert set(table["relations"]) == {"finetune", "adapter", "quantized", "merge", "any"}

    def test_the_reference_reads_only_same_lineage_pairs_of_its_categories(self):
        pairs = [{"truth": "same-lineage", "category": "int8", "hidden_size": 8, "results": {"lineage": {"z": 5.0}}},
                 {"truth": "same-lineage", "category": "int4", "hidden_size": 8, "results": {"lineage": {"z": 3.0}}},
                 {"truth": "independent", "category": "int8", "hidden_size": 8, "results": {"lineage": {"z": 0.1}}},
                 {"truth": "same-lineage", "category": "init\u2192int8", "hidden_size": 8,
                  "results": {"lineage": {"z": 1.0}}}]
        settings = {"command": "seedprints zoo eval z", "probe": {"n": 100, "length": 16}}
        table = power.reference_from_zoo_eval({"settings": settings, "pairs": pairs}, source="x")
        assert table["relations"] == {
            "quantized": {"categories": ["int8", "int4"], "pairs": 2, "z_min": 3.0, "z_median": 4.0},
            "any": {"categories": ["int8", "int4"], "pairs": 2, "z_min": 3.0, "z_median": 4.0}}
        assert power.expected_z("finetune", 100, table) is None
        assert power.expected_z("quantized", 400, table) == pytest.approx(6.0)
        assert power.zoo_statement("merge", 100, table) == "the zoo measured no derivative of this kind"
