"""The ranks the lineage test reads: each hidden vector standardised across its dimensions, then each column ranked
over the probes (per row group) and standardised.

Ranks give ties their average or their lowest rank as scipy's ``rankdata(values, method, axis=0)`` does for finite
values, in numpy alone, so that importing the lineage test does not import scipy.stats (half a second of every verb's
start)."""

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


def standardized_ranks(h: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Row-standardise each hidden vector, then rank each dimension over the probes and standardise it.

    Row standardisation removes what every dimension of a probe shares (its overall scale and
    offset, large for trained models); ranks make one dimension with huge activations count like any
    other. Both steps treat every dimension alike, so the permutation null stays exact. Constant
    columns become zeros. With row ``groups``, each group is ranked on its own (:func:`grouped_ranks`).
    """
    return scores_from_ranks(grouped_ranks(row_standardized(h), groups, "average"), groups)


def grouped_ranks(values: np.ndarray, groups: np.ndarray | None, method: str) -> np.ndarray:
    """Ranks over the rows of each column, each group of rows ranked on its own and placed after the earlier groups.

    The result is what ranking the whole column gives when every value of group g lies above every
    value of the groups before it, so standardising it sums each group's same-index correlations
    (weighted by its rows) into one matrix: the product of two such score matrices carries no
    term between groups, only a constant that the permutation null's moments cancel.
    """
    if groups is None:
        return rank_columns(values, method)
    ranks = np.empty(values.shape, dtype=np.float64)
    offset = 0
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        ranks[rows] = rank_columns(values[rows], method) + offset
        offset += rows.size
    return ranks


def row_standardized(h: np.ndarray) -> np.ndarray:
    """Each row minus its mean, divided by its standard deviation (constant rows become zeros)."""
    centred = h - h.mean(axis=1, keepdims=True)
    scale = centred.std(axis=1, keepdims=True)
    return np.divide(centred, scale, out=np.zeros_like(centred), where=scale > 0)


def scores_from_ranks(ranks: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Centre and scale each column of (average) ranks to mean 0 and variance 1; constant columns become zeros.

    With row ``groups``, each group's rows are standardised on their own, so ``A^T B / N`` is the sum of
    the groups' Spearman matrices weighted by their rows, and a group left out (all ties) adds exactly nothing.
    """
    if groups is not None:
        out = np.empty(ranks.shape, dtype=np.float64)
        for group in np.unique(groups):
            rows = groups == group
            out[rows] = scores_from_ranks(ranks[rows])
        return out
    ranks = ranks - ranks.mean(axis=0, keepdims=True)
    sd = ranks.std(axis=0, keepdims=True)
    return np.divide(ranks, sd, out=np.zeros_like(ranks), where=sd > 0)
