"""Sequential lineage test: the spending rule, type-I error under a simulated null, early stops both ways."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seedprints.errors import UsageError
from seedprints.stats.lineage import lineage_test
from seedprints.stats.sequential import SequentialDesign, sequential_lineage_test


class TestSequentialDesign:
    def test_doubling_schedule_ends_at_the_budget(self):
        design = SequentialDesign.doubling(1000, 0.01)
        assert design.looks == (25, 50, 100, 200, 400, 800, 1000)
        assert design.weights[-1] == 0.5

    @pytest.mark.parametrize("budget", [20, 25, 26, 333, 1000, 2000, 100_000])
    @pytest.mark.parametrize("alpha", [0.05, 0.01, 1e-6])
    def test_total_spent_alpha_is_at_most_alpha(self, budget, alpha):
        design = SequentialDesign.doubling(budget, alpha)
        spent = sum(10.0**level for level in design.log10_levels)
        assert spent <= alpha * (1 + 1e-12)
        assert math.isclose(spent, alpha, rel_tol=1e-9)  # Bonferroni spends all of it, no more

    def test_small_budget_is_the_fixed_test(self):
        assert SequentialDesign.doubling(25, 0.01).looks == (25,)
        assert SequentialDesign.doubling(25, 0.01).weights == (1.0,)

    @pytest.mark.parametrize(
        "looks, weights, message",
        [((50, 25), (0.5, 0.5), "increasing"), ((25, 50), (0.5, 0.6), "at most 1"), ((25,), (0.0,), "positive"),
         ((25, 50), (1.0,), "one positive")],
    )
    def test_bad_designs_are_refused(self, looks, weights, message):
        with pytest.raises(UsageError, match=message):
            SequentialDesign(looks, 0.01, weights)

    def test_budget_below_the_test_minimum(self):
        with pytest.raises(UsageError, match="at least 20"):
            SequentialDesign.doubling(10)

    def test_futility_bound_never_at_the_last_look(self):
        design = SequentialDesign.doubling(400, 0.01)
        assert design.futility_bound(len(design.looks) - 1, 2) is None
        bounds = [design.futility_bound(i, 2) for i in range(len(design.looks) - 1)]
        assert bounds == sorted(bounds)  # the bar rises with the share of the budget seen


def _null_rejections(replicates: int, alpha: float, margin: float | None, seed: int) -> int:
    rng = np.random.default_rng(seed)
    design = SequentialDesign.doubling(200, alpha, futility_margin=margin)
    hits = 0
    for _ in range(replicates):
        a, b = rng.standard_normal((200, 16)), rng.standard_normal((200, 16))
        la, lb = rng.standard_normal((200, 8)), rng.standard_normal((200, 8))
        result = sequential_lineage_test(a, b, logits_ref=la, logits_suspect=lb, design=design)
        hits += result.verdict == "same-lineage"
    return hits


class TestTypeOneError:
    @pytest.mark.parametrize("margin", [None, 2.0])
    def test_simulated_null_stays_below_alpha(self, margin):
        # 300 independent pairs at alpha = 0.1: at most alpha plus three Monte Carlo standard errors
        replicates, alpha = 300, 0.1
        hits = _null_rejections(replicates, alpha, margin, seed=11)
        assert hits / replicates <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / replicates)


class TestStopping:
    def test_strong_signal_stops_at_the_first_look(self):
        rng = np.random.default_rng(0)
        a = rng.standard_normal((1000, 64))
        result = sequential_lineage_test(a, a + 0.5 * rng.standard_normal((1000, 64)), 0.01, length=64)
        seq = result.details["sequential"]
        assert result.verdict == "same-lineage" and seq["stop"] == "same-lineage"
        assert seq["probes"] == 25 and result.n == 25 and seq["probe_tokens"] == 25 * 64
        assert seq["budget"] == 1000 and seq["budget_tokens"] == 64000

    def test_hopeless_evidence_stops_for_futility(self):
        rng = np.random.default_rng(1)
        a = rng.standard_normal((1000, 64))
        result = sequential_lineage_test(a, -a, 0.01)  # every dimension anti-correlated: z far below 0
        assert result.verdict == "independent" and result.details["sequential"]["stop"] == "futility"
        assert result.details["sequential"]["probes"] == 25

    def test_without_futility_an_independent_pair_runs_to_the_budget(self):
        rng = np.random.default_rng(2)
        a = rng.standard_normal((200, 32))
        design = SequentialDesign.doubling(200, 0.01, futility_margin=None)
        result = sequential_lineage_test(a, -a, design=design)
        assert result.details["sequential"]["stop"] == "budget" and result.n == 200

    def test_p_value_is_the_smallest_weighted_look_p(self):
        rng = np.random.default_rng(3)
        a = rng.standard_normal((400, 32))
        b = 0.15 * a + rng.standard_normal((400, 32))
        design = SequentialDesign.doubling(400, 0.01, futility_margin=None)
        result = sequential_lineage_test(a, b, design=design)
        looks = result.details["sequential"]["looks"]
        expected = min(0.0, min(look["log10_p"] - math.log10(w) for look, w in zip(looks, design.weights)))
        assert result.log10_p == pytest.approx(expected)
        assert (result.verdict == "same-lineage") == (result.log10_p < math.log10(0.01))

    def test_one_look_equals_the_fixed_test(self):
        rng = np.random.default_rng(4)
        a, b = rng.standard_normal((25, 16)), rng.standard_normal((25, 16))
        fixed = lineage_test(a, b, 0.01, n_permutations=0)
        seq = sequential_lineage_test(a, b, 0.01)
        assert seq.log10_p == fixed.log10_p and seq.z == fixed.z

    def test_mismatched_rows_are_refused(self):
        with pytest.raises(UsageError, match="same N"):
            sequential_lineage_test(np.zeros((30, 8)), np.zeros((40, 8)))

    def test_design_longer_than_the_data_is_refused(self):
        with pytest.raises(UsageError, match="800"):
            sequential_lineage_test(np.zeros((30, 8)), np.zeros((30, 8)), design=SequentialDesign.doubling(800))
