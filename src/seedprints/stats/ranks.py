"""Ranks over the rows of each column, ties given their average or their lowest rank: scipy's ``rankdata(values,
method, axis=0)`` for finite values, in numpy alone, so that importing the lineage test does not import
scipy.stats (half a second of every verb's start)."""

from __future__ import annotations

import numpy as np

METHODS = ("average", "min")


def rank_columns(values: np.ndarray, method: str = "average") -> np.ndarray:
    """1-based float64 ranks of ``values`` (finite, any shape) along axis 0; tied values share the average
    (``"average"``) or the lowest (``"min"``) of the ranks they span."""
    if method not in METHODS:
        raise ValueError(f"unknown rank method {method!r}; use one of {', '.join(METHODS)}")
    x = np.asarray(values)
    n = x.shape[0] if x.ndim else 0
    if x.ndim == 0 or n == 0:
        return np.empty(x.shape, dtype=np.float64)
    order = np.argsort(x, axis=0, kind="stable")
    ordered = np.take_along_axis(x, order, axis=0)
    position = np.arange(n).reshape((n,) + (1,) * (x.ndim - 1))
    starts = np.ones(ordered.shape, dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=0)
    if method == "min":
        sorted_ranks = first + 1.0
    else:
        ends = np.ones(ordered.shape, dtype=bool)
        ends[:-1] = starts[1:]
        last = np.flip(np.minimum.accumulate(np.flip(np.where(ends, position, n - 1), axis=0), axis=0), axis=0)
        sorted_ranks = (first + last) / 2.0 + 1.0
    ranks = np.empty(x.shape, dtype=np.float64)
    np.put_along_axis(ranks, order, sorted_ranks, axis=0)
    return ranks
