"""Exact Kendall tau-b for many column pairs at once, vectorised in numpy.

``kendall_tau_b_columns(a, b)`` gives, for every column ``j`` of two ``[n, k]`` arrays, the value
``scipy.stats.kendalltau(a[:, j], b[:, j]).statistic`` (tau-b, ties handled), without a Python loop
over columns.

How it works, per chunk of columns (each column is one row of a ``[c, n]`` work array):

1. Each input is mapped to unsigned 32-bit *order keys* that sort exactly like the values (float32
   bit patterns made monotone; other dtypes cast losslessly or replaced by dense ranks).
2. One sort of ``(key_a << 32) | key_b`` orders the observations by ``(a, b)``; ties in ``a`` and
   joint ties are runs of equal high bits / equal keys. The low halves form the sequence ``s`` of
   ``b`` keys in that order; the discordant pairs are its strict inversions.
3. A second sort of ``(s << 32) | position`` lists the positions in order of ``b`` (ties broken by
   position, which never creates an inversion) and gives the ties in ``b``.
4. Strict inversions are counted exactly on a two-level grid: positions and value ranks are cut
   into blocks of ``B`` (about ``(80 n)^(1/3)``). Pairs inside one position block, and pairs
   inside one value block but in different position blocks, are compared directly (branch-free
   SIMD compares over a ``[B, blocks]`` array); all remaining pairs are counted from the
   ``[blocks, blocks]`` histogram with two prefix sums.

The cost per column is two sorts plus ``O(n B + (n / B)^2)`` simple operations, i.e.
``O(n^(4/3))``. For the sizes this project meets (``n`` up to about 10^5) that is several times
faster in numpy than an ``O(n log n)`` merge count, whose ``log2 n`` passes each cost a random
gather or scatter.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["kendall_tau_b_columns", "kendall_null_sd"]

# Work-array budget (elements) of one chunk of columns; keeps peak memory near 100 MB.
_CHUNK_ELEMENTS = 1 << 20
_U32_MAX = np.uint32(0xFFFFFFFF)
_SIGN32 = np.uint32(0x80000000)


def kendall_null_sd(n: int) -> float:
    """Standard deviation of Kendall's tau between two independent samples of size ``n``.

    Parameters
    ----------
    n : int
        Number of paired observations (at least 2).

    Returns
    -------
    float
        ``sqrt(2 (2n + 5) / (9 n (n - 1)))``.

    Raises
    ------
    ValueError
        If ``n < 2``.

    Notes
    -----
    Exact for continuous data under independence (no ties); the sampling distribution of tau
    is asymptotically normal with mean 0 and this standard deviation [1]_.

    References
    ----------
    .. [1] M. G. Kendall, "A new measure of rank correlation", Biometrika 30 (1938), 81-93.

    Examples
    --------
    >>> round(kendall_null_sd(10000), 6)
    0.006668
    """
    n = int(n)
    if n < 2:
        raise ValueError(f"kendall_null_sd needs n >= 2 observations, got n={n}")
    return math.sqrt(2.0 * (2 * n + 5) / (9.0 * n * (n - 1)))


def kendall_tau_b_columns(a, b) -> np.ndarray:
    """Kendall tau-b between each column of ``a`` and the same column of ``b``.

    Parameters
    ----------
    a, b : array_like, shape (n, k)
        Paired observations; column ``j`` of ``a`` is compared with column ``j`` of ``b``.
        Any real dtype; ties are allowed.

    Returns
    -------
    tau : ndarray of float64, shape (k,)
        ``tau[j]`` equals ``scipy.stats.kendalltau(a[:, j], b[:, j]).statistic``. NaN where either
        column is constant, contains NaN, or ``n < 2``.

    Raises
    ------
    ValueError
        If ``a`` and ``b`` are not 2-D arrays of the same shape.

    See Also
    --------
    scipy.stats.kendalltau : the same statistic for one pair of vectors.
    kendall_null_sd : standard deviation of tau under independence.

    Notes
    -----
    With ``n0 = n (n - 1) / 2`` pairs, ``n1`` pairs tied in ``a``, ``n2`` pairs tied in ``b``,
    ``n3`` pairs tied in both and ``D`` discordant pairs,

    .. math:: \\tau_b = \\frac{n_0 - n_1 - n_2 + n_3 - 2D}{\\sqrt{(n_0 - n_1)(n_0 - n_2)}},

    clipped to ``[-1, 1]`` exactly as scipy does. All pair counts are exact 64-bit integers.
    Columns are processed in chunks so memory stays near 100 MB whatever ``k`` is.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 2.0], [4.0, 2.0]])
    >>> b = np.array([[1.0, 3.0], [3.0, 2.0], [2.0, 2.0], [4.0, 1.0]])
    >>> kendall_tau_b_columns(a, b).round(4)
    array([ 0.6667, -0.6708])
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"kendall_tau_b_columns needs two 2-D arrays of the same shape, got {a.shape} and "
            f"{b.shape}"
        )
    n, k = a.shape
    tau = np.full(k, np.nan)
    if n < 2 or k == 0:
        return tau
    if n >= 1 << 31:
        raise ValueError(f"kendall_tau_b_columns supports fewer than 2**31 rows, got {n}")

    bad = _nan_columns(a) | _nan_columns(b)
    block = _block_size(n)
    blocks = -(-n // block)
    per_column = max(n, blocks * blocks)
    chunk = max(1, _CHUNK_ELEMENTS // per_column)
    tot = n * (n - 1) // 2
    for start in range(0, k, chunk):
        stop = min(k, start + chunk)
        ka = _order_keys(a[:, start:stop])
        kb = _order_keys(b[:, start:stop])
        xtie, ytie, ntie, dis = _pair_counts(ka, kb, block)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = (tot - xtie - ytie + ntie - 2 * dis) / np.sqrt(tot - xtie) / np.sqrt(tot - ytie)
        t = np.clip(t, -1.0, 1.0)
        t[(xtie == tot) | (ytie == tot)] = np.nan
        tau[start:stop] = t
    tau[bad] = np.nan
    return tau


def _block_size(n: int) -> int:
    """Block edge of the counting grid: balances direct compares (n B) against cells ((n/B)^2)."""
    return int(min(n, 4095, max(8, round((80.0 * n) ** (1.0 / 3.0)))))


def _nan_columns(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind in "fc":
        return np.isnan(x).any(axis=0)
    return np.zeros(x.shape[1], dtype=bool)


def _order_keys(x: np.ndarray) -> np.ndarray:
    """uint32 keys of shape [c, n] (columns become rows) that sort and tie exactly like ``x``."""
    kind, size = x.dtype.kind, x.dtype.itemsize
    if kind == "b" or (kind == "u" and size <= 4):
        return np.ascontiguousarray(x.T, dtype=np.uint32)
    if kind == "i" and size <= 4:
        return np.ascontiguousarray(x.T, dtype=np.int32).view(np.uint32) ^ _SIGN32
    if kind in "iu":
        if x.size and x.min() >= np.iinfo(np.int32).min and x.max() <= np.iinfo(np.int32).max:
            return np.ascontiguousarray(x.T, dtype=np.int32).view(np.uint32) ^ _SIGN32
        return _dense_rank_keys(np.ascontiguousarray(x.T))
    if kind == "f" and size <= 4:
        return _float32_keys(np.ascontiguousarray(x.T, dtype=np.float32))
    if kind == "f":
        x32 = np.ascontiguousarray(x.T, dtype=np.float32)
        if np.array_equal(x32, x.T, equal_nan=True):  # lossless: float32 order is the same order
            return _float32_keys(x32)
        return _dense_rank_keys(np.ascontiguousarray(x.T))
    raise ValueError(f"kendall_tau_b_columns needs real-valued arrays, got dtype {x.dtype}")


def _float32_keys(x: np.ndarray) -> np.ndarray:
    """Map float32 bit patterns to uint32 so that unsigned order equals float order."""
    x = x + np.float32(0.0)  # -0.0 becomes +0.0 so the two zeros tie, as they compare equal
    u = x.view(np.uint32)
    flip = (u >> np.uint32(31)) * _U32_MAX | _SIGN32  # negatives: invert all bits; else set sign
    return u ^ flip


def _dense_rank_keys(x: np.ndarray) -> np.ndarray:
    """Dense ranks along each row (for dtypes whose values do not fit 32 bits)."""
    order = np.argsort(x, axis=1)
    xs = np.take_along_axis(x, order, axis=1)
    step = np.empty(xs.shape, dtype=np.uint32)
    step[:, 0] = 0
    np.not_equal(xs[:, 1:], xs[:, :-1], out=step[:, 1:], casting="unsafe")
    dense = np.cumsum(step, axis=1, dtype=np.uint32)
    keys = np.empty_like(dense)
    np.put_along_axis(keys, order, dense, axis=1)
    return keys


def _tie_pairs(eq: np.ndarray) -> np.ndarray:
    """Number of tied pairs per row, from ``eq[:, i]`` = "sorted element i+1 ties element i"."""
    c, m = eq.shape
    out = np.zeros(c, dtype=np.int64)
    rows = np.flatnonzero(eq.any(axis=1))
    if rows.size == 0:
        return out
    n = m + 1
    starts = np.ones((rows.size, n), dtype=bool)
    starts[:, 1:] = ~eq[rows]
    first = np.flatnonzero(starts.ravel())
    length = np.diff(np.append(first, rows.size * n)).astype(np.int64)
    pairs = length * (length - 1) // 2
    row_first = np.searchsorted(first, np.arange(rows.size) * n)
    out[rows] = np.add.reduceat(pairs, row_first)
    return out


def _high_ties(s: np.ndarray) -> np.ndarray:
    """Ties of the high 32 bits between neighbours of a row-wise sorted uint64 array."""
    return (s[:, 1:] ^ s[:, :-1]) < np.uint64(1 << 32)


def _pair_counts(ka: np.ndarray, kb: np.ndarray, block: int):
    """Ties in a, ties in b, joint ties and discordant pairs per row of two [c, n] key arrays."""
    c, n = ka.shape
    joint = (ka.astype(np.uint64) << np.uint64(32)) | kb
    joint.sort(axis=1)
    xtie = _tie_pairs(_high_ties(joint))
    ntie = _tie_pairs(joint[:, 1:] == joint[:, :-1]) if xtie.any() else xtie
    seq = joint.astype(np.uint32)  # b keys in (a, b) order
    del joint
    by_b = (seq.astype(np.uint64) << np.uint64(32)) | np.arange(n, dtype=np.uint64)
    by_b.sort(axis=1)
    ytie = _tie_pairs(_high_ties(by_b))
    where = by_b.astype(np.uint32)  # position of each observation, in order of b
    del by_b
    dis = _strict_inversions(seq, where, block)
    return xtie, ytie, ntie, dis


def _within_block_pairs(x: np.ndarray, block: int, pad) -> np.ndarray:
    """Per row of x [c, n]: pairs i < j inside one block of ``block`` positions with x_i > x_j."""
    c, n = x.shape
    blocks = -(-n // block)
    padded = np.full((c, blocks * block), pad, dtype=x.dtype)
    padded[:, :n] = x
    t = np.ascontiguousarray(padded.reshape(c * blocks, block).T)  # [block, c * blocks]
    greater = np.empty(t.shape, dtype=bool)
    small = np.uint8 if block <= 255 else np.uint16  # holds one offset's count (< block)
    part = np.empty(c * blocks, dtype=small)
    acc = np.zeros(c * blocks, dtype=np.int64)
    for d in range(1, block):  # pairs at offset d inside every block of every row at once
        np.greater(t[: block - d], t[d:], out=greater[: block - d])
        np.add.reduce(greater[: block - d], axis=0, dtype=small, out=part)
        acc += part
    return acc.reshape(c, blocks).sum(axis=1)


def _strict_inversions(seq: np.ndarray, where: np.ndarray, block: int) -> np.ndarray:
    """Pairs i < j with seq_i > seq_j, per row; ``where`` lists positions in order of (seq, pos)."""
    c, n = seq.shape
    blocks = -(-n // block)
    # 1. both observations in the same position block
    same_pos = _within_block_pairs(seq, block, _U32_MAX)
    # 2. same value block (consecutive in b order), different position blocks
    pos_block = where // np.uint32(block)
    if blocks < 1 << 16:
        pos_block = pos_block.astype(np.uint16)
    same_val = _within_block_pairs(pos_block, block, np.iinfo(pos_block.dtype).max)
    if blocks == 1:
        return same_pos + same_val
    # 3. different position and value blocks, from the [value block, position block] histogram
    val_block = np.arange(n, dtype=np.int64) // block
    cell = (np.arange(c, dtype=np.int64)[:, None] * blocks + val_block) * blocks + pos_block
    hist = np.bincount(cell.ravel(), minlength=c * blocks * blocks).reshape(c, blocks, blocks)
    above = hist.sum(axis=1, keepdims=True) - np.cumsum(hist, axis=1)  # strictly larger value block
    left = np.cumsum(above, axis=2) - above  # and strictly earlier position block
    cross = np.einsum("rij,rij->r", hist, left)
    return same_pos + same_val + cross
