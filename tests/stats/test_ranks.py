"""rank_columns against scipy's rankdata: the same ranks, ties included, for both methods."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.stats import rankdata

from seedprints.stats.ranks import rank_columns

# few distinct values, so that ties are common; -0.0 and 0.0 count as equal, as they do for scipy
VALUES = st.sampled_from([-2.5, -1.0, -0.0, 0.0, 0.5, 1.0, 3.0, 7.25])


@pytest.mark.parametrize("method", ["average", "min"])
@settings(max_examples=60, deadline=None)
@given(matrix=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=7), elements=VALUES))
def test_matches_scipy_with_ties(method, matrix):
    np.testing.assert_array_equal(rank_columns(matrix, method), rankdata(matrix, method=method, axis=0))


@pytest.mark.parametrize("method", ["average", "min"])
def test_matches_scipy_on_float32_states(method):
    states = np.random.default_rng(0).standard_normal((300, 40)).astype(np.float32)
    states[::7] = states[3]  # tied rows, as collapsed padding rows give
    got = rank_columns(states, method)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, rankdata(states, method=method, axis=0))


def test_empty_and_unknown_method():
    assert rank_columns(np.empty((0, 3))).shape == (0, 3)
    with pytest.raises(ValueError, match="unknown rank method 'max'"):
        rank_columns(np.ones((2, 2)), "max")
