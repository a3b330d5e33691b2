"""Tests of seedprints.stats.lineage_test: exact permutation moments, calibration, power, bad input."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from seedprints.errors import IncompatibleFingerprintsError, InsufficientDataError, NonFiniteHiddenStatesError, UsageError
from seedprints.stats import lineage_test
from seedprints.stats.lineage import permutation_moments, standardized_ranks


def shared_feature_pair(rng, n=300, d=64, factors=8):
    """Two unrelated 'models' that learnt the same features, each in its own random basis, one with a massive dimension."""
    latent = rng.standard_normal((n, factors))
    a = latent @ rng.standard_normal((factors, d)) + rng.standard_normal((n, d))
    b = latent @ rng.standard_normal((factors, d)) + rng.standard_normal((n, d))
    a[:, rng.integers(d)] *= 50
    return a, b


class TestPermutationMoments:
    def test_match_enumeration(self):
        # Brute force over all 5! permutations: the closed form must be exact (Hoeffding 1951).
        c = np.random.default_rng(0).standard_normal((5, 5))
        sums = [sum(c[i, p[i]] for i in range(5)) for p in itertools.permutations(range(5))]
        mean, var = permutation_moments(c)
        assert mean == pytest.approx(np.mean(sums), rel=1e-12)
        assert var == pytest.approx(np.var(sums), rel=1e-12)


class TestStandardizedRanks:
    def test_columns_standardised_and_rows_invariant_to_scale(self):
        h = np.random.default_rng(1).standard_normal((50, 10))
        x = standardized_ranks(h)
        np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-12)
        np.testing.assert_allclose(x.std(axis=0), 1, atol=1e-12)
        np.testing.assert_allclose(standardized_ranks(3 * h + 7), x)

    def test_constant_input_becomes_zero(self):
        # Identical probes give constant columns: no information, and no division by zero.
        h = np.tile(np.random.default_rng(2).standard_normal(6), (30, 1))
        np.testing.assert_array_equal(standardized_ranks(h), 0.0)


class TestLineageTest:
    def test_detects_a_noisy_copy(self):
        rng = np.random.default_rng(3)
        a, _ = shared_feature_pair(rng)
        res = lineage_test(a, a + 2 * rng.standard_normal(a.shape))
        assert res.verdict == "same-lineage" and res.log10_p < -20 and res.method == "lineage"
        assert res.k == 64 and res.n == 300

    def test_calibrated_when_models_share_learned_features(self):
        # The case the paper's null gets wrong: unrelated models that learnt the same features.
        rng = np.random.default_rng(4)
        results = [lineage_test(*shared_feature_pair(rng), n_permutations=0) for _ in range(300)]
        z = np.array([r.z for r in results])
        p = np.array([r.p_value for r in results])
        assert abs(z.mean()) < 0.2 and 0.85 < z.std() < 1.15
        assert (p < 0.05).mean() < 0.09  # nominal 5%; binomial sd 1.3% over 300 pairs

    def test_monte_carlo_p_agrees_with_normal_tail(self):
        rng = np.random.default_rng(5)
        a, b = shared_feature_pair(rng)
        b = b + 0.15 * a / a.std()
        res = lineage_test(a, b, n_permutations=4999)
        assert res.details["hidden_p_permutation"] == pytest.approx(res.p_value, abs=0.02)

    def test_far_tail_stays_finite(self):
        rng = np.random.default_rng(6)
        a = rng.standard_normal((2000, 128))
        res = lineage_test(a, a + 0.01 * rng.standard_normal(a.shape))
        assert res.p_value == 0.0 and math.isfinite(res.log10_p) and res.log10_p < -300

    def test_torch_input_and_json(self):
        torch = pytest.importorskip("torch")
        rng = np.random.default_rng(7)
        a, b = shared_feature_pair(rng)
        res_np = lineage_test(a.astype(np.float32), b.astype(np.float32))
        res_t = lineage_test(torch.from_numpy(a.astype(np.float32)), torch.from_numpy(b.astype(np.float32)))
        assert res_t.z == pytest.approx(res_np.z, rel=1e-9)
        json.dumps(res_np.to_dict(), allow_nan=False)

    @pytest.mark.parametrize(
        ("a_shape", "b_shape", "error", "message"),
        [
            ((100, 16), (100, 17), IncompatibleFingerprintsError, "different shapes"),
            ((100,), (100,), IncompatibleFingerprintsError, "2-D"),
            ((10, 16), (10, 16), InsufficientDataError, "at least 20"),
            ((100, 4), (100, 4), InsufficientDataError, "at least 8"),
        ],
    )
    def test_bad_shapes(self, a_shape, b_shape, error, message):
        rng = np.random.default_rng(8)
        with pytest.raises(error, match=message):
            lineage_test(rng.standard_normal(a_shape), rng.standard_normal(b_shape))

    def test_non_finite(self):
        a = np.random.default_rng(9).standard_normal((50, 16))
        b = a.copy()
        b[3, 3] = np.inf
        with pytest.raises(NonFiniteHiddenStatesError, match="float32"):
            lineage_test(a, b)

    @pytest.mark.parametrize("kwargs", [{"alpha": 0.0}, {"alpha": 1.5}, {"n_permutations": -1}])
    def test_bad_settings(self, kwargs):
        a = np.random.default_rng(10).standard_normal((50, 16))
        with pytest.raises(UsageError):
            lineage_test(a, a, **kwargs)


class TestVocabularyStatistic:
    def test_combined_with_bonferroni(self):
        rng = np.random.default_rng(11)
        a, b = shared_feature_pair(rng)
        logits = rng.standard_normal((300, 32))
        res = lineage_test(a, b, logits_ref=logits, logits_suspect=logits + rng.standard_normal((300, 32)))
        assert res.details["vocab_z"] > 5 and res.verdict == "same-lineage"
        best = min(res.details["hidden_log10_p"], res.details["vocab_log10_p"])
        assert res.log10_p == pytest.approx(best + math.log10(2))

    def test_null_holds_for_exchangeable_logits(self):
        rng = np.random.default_rng(12)
        zs = []
        for _ in range(200):
            a, b = shared_feature_pair(rng, n=200, d=16)
            common = rng.standard_normal((200, 1))  # a drift every untrained token shares, in both models
            la = common + rng.standard_normal((200, 24))
            lb = common * 2 + rng.standard_normal((200, 24))
            zs.append(lineage_test(a, b, logits_ref=la, logits_suspect=lb, n_permutations=0).details["vocab_z"])
        assert abs(np.mean(zs)) < 0.25 and 0.8 < np.std(zs) < 1.2

    def test_logits_on_one_side_only(self):
        a = np.random.default_rng(13).standard_normal((50, 16))
        with pytest.raises(IncompatibleFingerprintsError, match="one fingerprint only"):
            lineage_test(a, a, logits_ref=a)
