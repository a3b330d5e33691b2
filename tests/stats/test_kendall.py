"""Tests of seedprints.stats.kendall against scipy.stats.kendalltau and Kendall's closed form."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from seedprints.stats import kendall as kendall_module
from seedprints.stats.kendall import kendall_null_sd, kendall_tau_b_columns


def scipy_columns(a, b):
    """Reference: scipy.stats.kendalltau (tau-b) column by column."""
    return np.array([stats.kendalltau(a[:, j], b[:, j]).statistic for j in range(a.shape[1])])


def assert_same(actual, expected):
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-13, equal_nan=True)


class TestKendallTauB:
    def test_continuous_float64(self):
        rng = np.random.default_rng(0)
        a = rng.standard_normal((300, 25))
        b = 0.5 * a + rng.standard_normal((300, 25))
        assert_same(kendall_tau_b_columns(a, b), scipy_columns(a, b))

    def test_float32_related(self):
        rng = np.random.default_rng(1)
        a = rng.standard_normal((1000, 12)).astype(np.float32)
        b = (a + 0.3 * rng.standard_normal((1000, 12))).astype(np.float32)
        assert_same(kendall_tau_b_columns(a, b), scipy_columns(a, b))

    @pytest.mark.parametrize("levels", [(2, 2), (3, 4), (5, 50)])
    def test_heavy_ties_integers(self, levels):
        rng = np.random.default_rng(2)
        a = rng.integers(0, levels[0], (400, 20))
        b = rng.integers(0, levels[1], (400, 20))
        b[:, ::2] += a[:, ::2]  # some dependence in every other column
        assert_same(kendall_tau_b_columns(a, b), scipy_columns(a, b))

    def test_ties_on_one_side(self):
        rng = np.random.default_rng(3)
        a = np.round(rng.standard_normal((250, 10)), 1)
        b = rng.standard_normal((250, 10)) + a
        assert_same(kendall_tau_b_columns(a, b), scipy_columns(a, b))
        assert_same(kendall_tau_b_columns(b, a), scipy_columns(b, a))

    def test_wide_integers_and_float64_use_dense_ranks(self):
        rng = np.random.default_rng(4)
        a = rng.integers(-(2**50), 2**50, (300, 6))
        b = a // 2**45 + rng.integers(0, 3, (300, 6))
        assert_same(kendall_tau_b_columns(a, b), scipy_columns(a, b))
        x = rng.standard_normal((300, 6)) * 1e-30  # not representable in float32
        assert_same(kendall_tau_b_columns(x, b), scipy_columns(x, b))

    def test_constant_columns_are_nan(self):
        rng = np.random.default_rng(5)
        a = rng.standard_normal((50, 4))
        b = rng.standard_normal((50, 4))
        a[:, 1] = 3.0
        b[:, 2] = -1.0
        tau = kendall_tau_b_columns(a, b)
        assert np.isnan(tau[[1, 2]]).all()
        assert np.isfinite(tau[[0, 3]]).all()
        assert_same(tau, scipy_columns(a, b))

    def test_nan_input_gives_nan_column(self):
        rng = np.random.default_rng(6)
        a = rng.standard_normal((40, 3))
        b = rng.standard_normal((40, 3))
        a[7, 0] = np.nan
        tau = kendall_tau_b_columns(a, b)
        assert np.isnan(tau[0]) and np.isfinite(tau[1:]).all()
        assert_same(tau, scipy_columns(a, b))

    @pytest.mark.parametrize("n", [2, 3])
    def test_tiny_samples(self, n):
        # every pattern of ranks with ties for n = 2, 3 observations
        values = list(itertools.product(range(n), repeat=n))
        cols = np.array(list(itertools.product(values, values)))  # [pairs, 2, n]
        a = cols[:, 0, :].T.astype(float)
        b = cols[:, 1, :].T.astype(float)
        assert_same(kendall_tau_b_columns(a, b), scipy_columns(a, b))

    def test_single_observation_and_empty(self):
        assert np.isnan(kendall_tau_b_columns(np.ones((1, 3)), np.ones((1, 3)))).all()
        assert kendall_tau_b_columns(np.ones((5, 0)), np.ones((5, 0))).shape == (0,)

    @pytest.mark.parametrize("n", [5, 17, 64, 65, 255, 1023, 1025, 2049])
    def test_lengths_around_block_edges(self, n):
        rng = np.random.default_rng(n)
        a = rng.standard_normal((n, 5))
        b = rng.standard_normal((n, 5)) + 0.5 * a
        b[:, 4] = rng.integers(0, 7, n)  # one tied column
        assert_same(kendall_tau_b_columns(a, b), scipy_columns(a, b))

    def test_many_chunks(self, monkeypatch):
        monkeypatch.setattr(kendall_module, "_CHUNK_ELEMENTS", 1000)
        rng = np.random.default_rng(7)
        a = rng.standard_normal((120, 37))
        b = rng.integers(0, 9, (120, 37)) + a
        assert_same(kendall_tau_b_columns(a, b), scipy_columns(a, b))

    @pytest.mark.parametrize("block", [2, 7, 300])
    def test_any_block_size(self, monkeypatch, block):
        monkeypatch.setattr(kendall_module, "_block_size", lambda n: min(n, block))
        rng = np.random.default_rng(block)
        a = rng.standard_normal((701, 4))
        b = rng.integers(0, 50, (701, 4)) + 10 * a
        assert_same(kendall_tau_b_columns(a, b), scipy_columns(a, b))

    def test_perfect_agreement_and_reversal(self):
        x = np.arange(100.0)[:, None] * np.ones((1, 2))
        tau = kendall_tau_b_columns(x, np.column_stack([x[:, 0] ** 3, -x[:, 1]]))
        np.testing.assert_array_equal(tau, [1.0, -1.0])

    def test_signed_zeros_tie(self):
        a = np.array([[-0.0], [0.0], [1.0], [2.0]], dtype=np.float32)
        b = np.array([[1.0], [2.0], [3.0], [0.0]], dtype=np.float32)
        assert_same(kendall_tau_b_columns(a, b), scipy_columns(a, b))

    @pytest.mark.parametrize("shapes", [((5, 3), (5, 4)), ((5,), (5,)), ((2, 2, 2), (2, 2, 2))])
    def test_bad_shapes(self, shapes):
        with pytest.raises(ValueError, match="same shape"):
            kendall_tau_b_columns(np.zeros(shapes[0]), np.zeros(shapes[1]))


class TestKendallNullSd:
    @pytest.mark.parametrize("n", [4, 5, 6])
    def test_equals_exact_permutation_variance(self, n):
        # Kendall (1938): under independence (all n! orders equally likely, no ties),
        # Var(tau) = 2 (2n + 5) / (9 n (n - 1)) exactly. Enumerate every order.
        base = np.arange(n, dtype=float)
        perms = np.array(list(itertools.permutations(range(n))), dtype=float).T
        taus = kendall_tau_b_columns(np.repeat(base[:, None], perms.shape[1], axis=1), perms)
        assert math.isclose(taus.mean(), 0.0, abs_tol=1e-12)
        assert math.isclose(math.sqrt((taus**2).mean()), kendall_null_sd(n), rel_tol=1e-12)

    def test_formula(self):
        assert kendall_null_sd(10000) == math.sqrt(2 * (2 * 10000 + 5) / (9 * 10000 * 9999))

    def test_needs_two(self):
        with pytest.raises(ValueError, match="n >= 2"):
            kendall_null_sd(1)
