"""The exact moments of a sum along a uniform random permutation (Hoeffding 1951), and the normal tail in log10.

Every part of the default test (:mod:`seedprints.stats.lineage`, :mod:`seedprints.stats.units`) standardises its
statistic with these.
"""

from __future__ import annotations

import math

import numpy as np


def permutation_moments(c: np.ndarray) -> tuple[float, float]:
    """Exact mean and variance of ``sum_i c[i, pi(i)]`` over uniform random permutations pi.

    Hoeffding's combinatorial formulas: mean = sum(c) / d, variance = sum(r_ij^2) / (d - 1) with
    r_ij = c_ij - rowmean_i - colmean_j + grandmean.
    """
    d = c.shape[0]
    row = c.mean(axis=1, keepdims=True)
    col = c.mean(axis=0, keepdims=True)
    grand = c.mean()
    resid = c - row - col + grand
    return float(c.sum() / d), _null_variance(float((resid**2).sum()), float((c**2).sum()), d)


def _null_variance(resid_ss: float, total_ss: float, d: int) -> float:
    """Hoeffding's variance ``resid_ss / (d - 1)``, or 0 when ``C`` is constant up to rounding.

    A part left out of a fingerprint (:func:`seedprints.stats.lineage.prepare`) makes every entry of ``C`` the same number where scores
    are centred over all probes (the stage-1 screen), and rounding would otherwise leave a variance of 1e-30
    that turns noise into a z.
    """
    return resid_ss / (d - 1) if d > 1 and resid_ss > NULL_RESIDUAL_FLOOR * total_ss else 0.0


NULL_RESIDUAL_FLOOR = 1e-12  # far below any real correlation structure (1e-3 of sum(C^2) at N = 1000), far above rounding


def log10_upper_tail(z: float) -> float:
    """log10 of the standard normal's upper tail at ``z`` (0 at most), exact far into the tail.

    scipy.special is imported here, on the first test, not with this module: registry verbs import this module and
    would pay 0.2 s of start-up for a function they never call.
    """
    from scipy.special import log_ndtr

    return min(0.0, float(log_ndtr(-z)) / math.log(10))
