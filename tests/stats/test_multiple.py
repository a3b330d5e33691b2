"""Tests of seedprints.stats.multiple: Holm and Benjamini-Hochberg adjustments in log10 space."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seedprints.errors import UsageError
from seedprints.stats.multiple import adjusted_from_smallest, bh_log10, holm_log10

P = [0.01, 0.04, 0.03, 0.005]


def brute_force(p: list[float], procedure: str) -> list[float]:
    """Adjusted p = the smallest level at which the procedure rejects the hypothesis, found by running the
    procedure at every level where its decisions can change (each p times each possible factor)."""
    m = len(p)
    factors = [k for k in range(1, m + 1)] + [m / j for j in range(1, m + 1)]  # Holm's (m - j + 1), BH's m / j
    levels = sorted({min(1.0, p_i * f) for p_i in p for f in factors} | {1.0})
    ranked = sorted(range(m), key=lambda i: p[i])
    adjusted = [1.0] * m
    for level in reversed(levels):
        if procedure == "holm":  # step down: reject while p_(j) <= level / (m - j + 1)
            rejected = []
            for j, i in enumerate(ranked):
                if p[i] > level / (m - j) * (1 + 1e-12):
                    break
                rejected.append(i)
        else:  # step up: reject the j smallest for the largest j with p_(j) <= j level / m
            count = max([j + 1 for j, i in enumerate(ranked) if p[i] <= (j + 1) * level / m * (1 + 1e-12)], default=0)
            rejected = ranked[:count]
        for i in rejected:
            adjusted[i] = level
    return adjusted


class TestHolm:
    def test_hand_computed(self):
        # Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04; running max: 0.02, 0.03, 0.06, 0.06
        # (the values statsmodels' multipletests(method="holm") gives).
        np.testing.assert_allclose(10 ** holm_log10(np.log10(P)), [0.03, 0.06, 0.06, 0.02], rtol=1e-12)

    def test_far_below_float_range(self):
        # p = 1e-5000, 1e-3000, 0.5: factors 3, 2, 1 added as log10; the last is capped at 1.
        got = holm_log10([-3000.0, -5000.0, math.log10(0.5)])
        np.testing.assert_allclose(got, [-3000 + math.log10(2), -5000 + math.log10(3), math.log10(0.5)], rtol=1e-15)

    def test_capped_at_one_and_zero_p(self):
        np.testing.assert_array_equal(holm_log10([-0.1, -0.2, -np.inf]), [0.0, 0.0, -np.inf])


class TestBenjaminiHochberg:
    def test_hand_computed(self):
        # Sorted 0.005, 0.01, 0.03, 0.04 times 4/1, 4/2, 4/3, 4/4 = 0.02, 0.02, 0.04, 0.04; running min from the top.
        np.testing.assert_allclose(10 ** bh_log10(np.log10(P)), [0.02, 0.04, 0.04, 0.02], rtol=1e-12)

    def test_far_below_float_range(self):
        got = bh_log10([-3000.0, -5000.0, -1.0])
        np.testing.assert_allclose(got, [-3000 + math.log10(3 / 2), -5000 + math.log10(3), -1.0], rtol=1e-15)

    def test_ties_get_equal_values(self):
        got = bh_log10(np.log10([0.02, 0.02, 0.5]))
        assert got[0] == got[1] == pytest.approx(math.log10(0.03))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=1e-12, max_value=1.0), min_size=1, max_size=12))
def test_match_brute_force(p):
    for procedure, adjust in (("holm", holm_log10), ("bh", bh_log10)):
        np.testing.assert_allclose(10 ** adjust(np.log10(p)), brute_force(p, procedure), rtol=1e-9, err_msg=procedure)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=-1e5, max_value=0.0), min_size=1, max_size=30))
def test_order_and_bounds(log10_p):
    # Adjusting never lowers a p-value, Holm is never below BH, and the ranking of the raw p-values is kept.
    values = np.array(log10_p)
    holm, bh = holm_log10(values), bh_log10(values)
    assert (holm >= values - 1e-9).all() and (bh >= values - 1e-9).all() and (holm >= bh - 1e-9).all()
    assert (holm <= 0).all() and (bh <= 0).all()
    order = np.argsort(values, kind="stable")
    assert (np.diff(holm[order]) >= 0).all() and (np.diff(bh[order]) >= 0).all()


@pytest.mark.parametrize("bad", [[0.5], [np.nan], [[-1.0, -2.0]]])
def test_bad_input(bad):
    for adjust in (holm_log10, bh_log10):
        with pytest.raises(UsageError, match="log10 p"):
            adjust(bad)


def test_empty():
    assert holm_log10([]).shape == (0,) and bh_log10([]).shape == (0,)


@pytest.mark.parametrize("k", [1, 3, 10, 40])
def test_adjusted_from_smallest_matches_the_whole_family(k):
    rng = np.random.default_rng(k)
    log10_p = np.sort(np.concatenate([np.log10(rng.random(37)), [-300.0, -4000.0, -2.5]]))  # m = 40, some far below 1e-300
    holm, low, high = adjusted_from_smallest(log10_p[:k], log10_p.size)
    full_bh = bh_log10(log10_p)[:k]
    assert np.array_equal(holm, holm_log10(log10_p)[:k])
    assert np.all(low <= full_bh) and np.all(full_bh <= high)
    if k == log10_p.size:
        assert np.array_equal(low, high) and np.allclose(high, full_bh, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("values", "m", "message"), [
    ([-2.0, -3.0], 5, "ascending"),
    ([-3.0, -2.0], 1, "fewer than"),
    ([0.5], 3, "<= 0"),
])
def test_adjusted_from_smallest_refuses_what_is_not_a_top_k(values, m, message):
    with pytest.raises(UsageError, match=message):
        adjusted_from_smallest(values, m)
