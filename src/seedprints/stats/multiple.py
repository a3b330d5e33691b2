"""Multiple-testing control over many lineage tests, in log10 space.

Scanning a suspect against a registry runs one test per entry, so the chance of some false
"same-lineage" grows with the number of entries. Holm's step-down procedure controls the
family-wise error rate (the chance of any false positive), Benjamini-Hochberg the false discovery
rate (the expected share of false positives among the positives). Both are computed on log10
p-values, since the p-values of related models lie far below the smallest float (1e-300).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from seedprints.errors import UsageError


def _checked(log10_p: ArrayLike) -> np.ndarray:
    values = np.asarray(log10_p, dtype=np.float64)
    if values.ndim != 1:
        raise UsageError(f"log10 p-values must be a 1-D array, got shape {values.shape}")
    if np.isnan(values).any() or (values > 0).any():
        raise UsageError("log10 p-values must be <= 0 and not NaN (a p-value lies in [0, 1])")
    return values


def holm_log10(log10_p: ArrayLike) -> np.ndarray:
    """Holm-adjusted p-values (family-wise error rate), as log10, in the input's order.

    Parameters
    ----------
    log10_p : array_like, shape (m,)
        log10 of the m raw p-values (``-inf`` for p = 0).

    Returns
    -------
    numpy.ndarray
        log10 of the adjusted p-values: rejecting every hypothesis whose adjusted p is below alpha
        keeps the chance of any false rejection below alpha, whatever the dependence between tests.

    Raises
    ------
    UsageError
        Not 1-D, NaN, or a value above 0.

    Notes
    -----
    With the p-values sorted, ``p_(1) <= ... <= p_(m)``, the adjusted value of ``p_(i)`` is
    ``max_{j <= i} min(1, (m - j + 1) p_(j))``; here every product is a sum of logarithms.

    References
    ----------
    .. [1] S. Holm, "A simple sequentially rejective multiple test procedure", Scand. J. Statist. 6 (1979).

    Examples
    --------
    >>> import numpy as np
    >>> np.round(10 ** holm_log10(np.log10([0.01, 0.04, 0.03, 0.005])), 6)
    array([0.03, 0.06, 0.06, 0.02])
    >>> [round(float(v), 3) for v in holm_log10([-5000.0, -1.0])]  # p = 1e-5000 and 0.1, m = 2
    [-4999.699, -1.0]
    """
    values = _checked(log10_p)
    m = values.size
    order = np.argsort(values, kind="stable")
    factors = np.log10(np.arange(m, 0, -1, dtype=np.float64))  # m - j + 1 for j = 1..m
    out = np.empty(m)
    out[order] = np.maximum.accumulate(np.minimum(0.0, values[order] + factors))
    return out


def bh_log10(log10_p: ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg-adjusted p-values (false discovery rate), as log10, in the input's order.

    Parameters
    ----------
    log10_p : array_like, shape (m,)
        log10 of the m raw p-values (``-inf`` for p = 0).

    Returns
    -------
    numpy.ndarray
        log10 of the adjusted p-values ("q-values"): rejecting every hypothesis whose adjusted p is
        below alpha keeps the expected share of false rejections below alpha for independent or
        positively dependent tests.

    Raises
    ------
    UsageError
        Not 1-D, NaN, or a value above 0.

    Notes
    -----
    With the p-values sorted, the adjusted value of ``p_(i)`` is ``min_{j >= i} min(1, m p_(j) / j)``.

    References
    ----------
    .. [1] Y. Benjamini and Y. Hochberg, "Controlling the false discovery rate", J. R. Statist. Soc. B 57 (1995).

    Examples
    --------
    >>> import numpy as np
    >>> np.round(10 ** bh_log10(np.log10([0.01, 0.04, 0.03, 0.005])), 6)
    array([0.02, 0.04, 0.04, 0.02])
    """
    values = _checked(log10_p)
    m = values.size
    order = np.argsort(values, kind="stable")
    factors = np.log10(m / np.arange(1, m + 1, dtype=np.float64))  # m / j for j = 1..m
    out = np.empty(m)
    out[order] = np.minimum.accumulate(np.minimum(0.0, values[order] + factors)[::-1])[::-1]
    return out


def adjusted_from_smallest(log10_p_smallest: ArrayLike, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Holm-adjusted p-values of the K smallest of ``m`` p-values, and bounds on their BH-adjusted ones (log10).

    What a verifier can recompute from the top-K candidates of a scan alone: Holm's value for
    ``p_(k)`` reads only ``p_(1..k)`` and ``m``, so it is exact. BH's also reads every larger
    p-value, but each unseen ``p_(j)``, ``j > K``, is at least ``p_(K)`` and ``j <= m``, so
    ``m p_(j) / j >= p_(K)``: the adjusted value lies between ``min(U_k, p_(K))`` and
    ``U_k = min_{k <= j <= K} m p_(j) / j``, and equals ``U_k`` when ``K = m``.

    Parameters
    ----------
    log10_p_smallest : array_like, shape (K,)
        log10 of the K smallest p-values, ascending.
    m : int
        The number of tests in the whole family (at least K).

    Returns
    -------
    holm, bh_low, bh_high : numpy.ndarray
        log10 of the Holm-adjusted p-values, and of the lower and upper bounds on the BH-adjusted ones.

    Raises
    ------
    UsageError
        Not 1-D and ascending, NaN or above 0, or ``m`` smaller than K.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.log10([0.001, 0.004, 0.02, 0.5])
    >>> holm, low, high = adjusted_from_smallest(p[:2], 4)
    >>> bool(np.allclose(holm, holm_log10(p)[:2])), bool(np.all((low <= bh_log10(p)[:2]) & (bh_log10(p)[:2] <= high)))
    (True, True)
    """
    values = _checked(log10_p_smallest)
    k = values.size
    if not isinstance(m, (int, np.integer)) or m < k:
        raise UsageError(f"the family has {m} tests, fewer than the {k} p-values given")
    if k and (np.diff(values) < 0).any():
        raise UsageError("the p-values must be given in ascending order")
    j = np.arange(1, k + 1, dtype=np.float64)
    holm = np.maximum.accumulate(np.minimum(0.0, values + np.log10(m - j + 1)))
    high = np.minimum.accumulate(np.minimum(0.0, values + np.log10(m / j))[::-1])[::-1]
    low = high if k == m or k == 0 else np.minimum(high, values[-1])
    return holm, low, high
