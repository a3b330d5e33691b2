"""The published SeedPrints test ("paper mode"), reproduced exactly on two hidden-state matrices.

``paper_test`` takes the final hidden states of a reference and a suspect model on the same
probes and returns the analytical p-value of the released code: identity dimensions with the
lowest mean activation, a row-wise softmax with temperature, per-dimension Kendall tau-b, and a
z-score from the closed-form null of tau. It is the baseline every other method is compared with.
"""

from __future__ import annotations

import math
import operator
import warnings
from typing import Any

import numpy as np
from scipy.special import log_ndtr

from seedprints.errors import (
    IncompatibleFingerprintsError,
    InsufficientDataError,
    LowPowerWarning,
    NonFiniteHiddenStatesError,
    UsageError,
)
from seedprints.naming import setting
from seedprints.stats.kendall import kendall_null_sd, kendall_tau_b_columns
from seedprints.stats.result import LineageResult, verdict_for

__all__ = ["paper_test", "MIN_PROBES", "IDENTITY_MODES"]

MIN_PROBES = 10
"""Fewest rows (probes) ``paper_test`` accepts."""

IDENTITY_MODES = ("coset", "base")
"""``coset``: dimensions in both models' identity sets; ``base``: the reference's set only."""

_LOW_POWER_K = 5
_LN10 = math.log(10.0)
_LN2 = math.log(2.0)


def paper_test(
    h_ref,
    h_suspect,
    buffer_k: int = 400,
    identity_mode: str = "coset",
    use_agg: bool = False,
    temperature: float = 10.0,
    alpha: float = 0.01,
) -> LineageResult:
    """SeedPrints lineage test of the paper, on two ``[N, d]`` hidden-state matrices.

    Parameters
    ----------
    h_ref : array_like or torch.Tensor, shape (N, d)
        Final hidden states of the reference model (row ``i``: last position of probe ``i``).
    h_suspect : array_like or torch.Tensor, shape (N, d)
        Final hidden states of the suspect model on the same ``N`` probes.
    buffer_k : int, default 400
        Size ``m`` of each model's identity set: the ``m`` dimensions with the smallest mean over
        the probes. The released code's default is 400; the paper uses 10% of ``d``.
    identity_mode : {"coset", "base"}, default "coset"
        ``"coset"`` keeps the dimensions in both models' identity sets; ``"base"`` keeps the
        reference's set only.
    use_agg : bool, default False
        Also use Kendall tau between the per-probe means of the raw selected dimensions, take the
        larger of the two z-scores and double the p-value (Bonferroni).
    temperature : float, default 10.0
        Temperature of the row-wise softmax over the selected dimensions.
    alpha : float, default 0.01
        Significance level of the verdict.

    Returns
    -------
    LineageResult
        ``method="paper"``. ``p_value`` and ``log10_p`` test H0 "initialised independently";
        ``p_value`` underflows to 0.0 below about 1e-308 while ``log10_p`` stays exact. ``z`` is the
        per-dimension z-score (with ``use_agg``, the larger of it and the aggregate z-score).
        ``tau_mean`` is the mean per-dimension tau-b (None when no dimension is left), ``k`` the
        number of dimensions averaged, ``n`` the number of probes. ``settings`` holds
        ``buffer_k``, ``identity_mode``, ``use_agg``, ``temperature``. ``details`` holds
        ``k_requested`` (``buffer_k``), ``k_selected`` (identity dimensions selected),
        ``identity_overlap`` (dimensions shared by both models' identity sets, in either mode),
        ``k_constant_dropped`` (selected dimensions whose tau is undefined because a normalised
        column is constant; they are left out of the mean), ``null_sd`` (s(n)), ``z_perdim``, and
        with ``use_agg`` also ``agg_tau``, ``z_agg`` and ``z_max``.

    Raises
    ------
    IncompatibleFingerprintsError
        If the inputs are not 2-D or their shapes differ (different probes or hidden sizes).
    NonFiniteHiddenStatesError
        If either input contains NaN or Inf.
    InsufficientDataError
        If there are fewer than 10 probes (rows).
    UsageError
        If ``buffer_k`` is not an integer in ``[1, d]``, ``identity_mode`` is unknown,
        ``temperature`` is not positive, or ``alpha`` is not in ``(0, 1)``.

    Warns
    -----
    LowPowerWarning
        If fewer than 5 dimensions are left. With none left the test returns ``p_value=1.0``,
        ``log10_p=0.0``, ``z=0.0`` and the verdict ``"independent"``.

    See Also
    --------
    seedprints.stats.kendall_tau_b_columns : the per-dimension statistic.

    Notes
    -----
    Let ``I`` be the selected dimensions (sorted), ``k = |I|``. Each model's ``H[:, I]`` is
    normalised row-wise with ``softmax(x / T)`` in float32. For each ``j`` in ``I``, Kendall's
    tau-b between the two normalised columns over the ``N`` probes is

    .. math:: \\tau_b = \\frac{n_0 - n_1 - n_2 + n_3 - 2D}{\\sqrt{(n_0 - n_1)(n_0 - n_2)}}

    with ``n0 = N(N-1)/2`` pairs, ``n1``/``n2`` pairs tied in either column, ``n3`` pairs tied in
    both and ``D`` discordant pairs. Under independence one tau has mean 0 and standard deviation

    .. math:: s(N) = \\sqrt{\\frac{2 (2N + 5)}{9 N (N - 1)}},

    and the taus are treated as independent, so ``z = mean(tau) * sqrt(k) / s(N)`` and
    ``p = min(1, 2 * (1 - Phi(z)))``, computed as ``log 2 + log(1 - Phi(z))`` so that ``log10_p``
    is exact far below 1e-300. With ``use_agg``, ``z_agg = tau(mean_j H_ref[:, I],
    mean_j H_suspect[:, I]) / s(N)`` and ``p = min(1, 4 * (1 - Phi(max(z, z_agg))))``.

    This reproduces ``run_test(..., method="analytical")`` of the released code: the column means
    and the softmax run in torch float32 exactly as there (a numpy softmax differs by about one ulp
    in half the values, which swaps near-tied probes). Two documented differences: identity sets are
    picked by a stable sort (ties go to the lower index; ``torch.topk`` leaves ties unspecified),
    and dimensions with an undefined tau are dropped from the mean instead of making it NaN.
    Positive dependence only: a negative ``z`` gives ``p = 1``.

    References
    ----------
    .. [1] SeedPrints: Fingerprints Can Even Tell Which Seed Your Large Language Model Was
       Trained From. ICLR 2026. arXiv:2509.26404.
    .. [2] M. G. Kendall, "A new measure of rank correlation", Biometrika 30 (1938), 81-93.

    Examples
    --------
    >>> import numpy as np
    >>> from seedprints.stats import paper_test
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.standard_normal((500, 64)).astype(np.float32)
    >>> tuned = ref + 0.5 * rng.standard_normal((500, 64)).astype(np.float32)
    >>> res = paper_test(ref, tuned, buffer_k=32)
    >>> res.verdict, res.k, res.log10_p < -100
    ('same-lineage', 26, True)
    >>> other = rng.standard_normal((500, 64)).astype(np.float32)
    >>> paper_test(ref, other, buffer_k=32).verdict
    'independent'
    """
    if identity_mode not in IDENTITY_MODES:
        raise UsageError(
            f"identity_mode must be 'coset' or 'base', got {identity_mode!r}; use 'coset' (the "
            "paper's default) to keep dimensions both models select"
        )
    temperature = _positive_float(temperature, "temperature", "the paper uses 10")
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        alpha = math.nan
    if not 0.0 < alpha < 1.0:
        raise UsageError(
            f"alpha must be strictly between 0 and 1, got {alpha}; the paper uses 0.01"
        )

    ref = _as_float32(h_ref)
    sus = _as_float32(h_suspect)
    _check_shapes(ref.shape, sus.shape)
    _check_finite(ref, "reference")
    _check_finite(sus, "suspect")
    n, d = ref.shape
    if n < MIN_PROBES:
        raise InsufficientDataError(
            f"paper_test needs at least {MIN_PROBES} probes (rows), got {n}; extract hidden "
            "states on more probes (the paper uses 2000-10000)"
        )
    buffer_k = _check_buffer_k(buffer_k, d)

    ref_ids = _identity_dims(ref, buffer_k)
    sus_ids = _identity_dims(sus, buffer_k)
    shared = np.intersect1d(ref_ids, sus_ids)
    dims = shared if identity_mode == "coset" else np.sort(ref_ids)
    s_n = kendall_null_sd(n)
    settings = {
        "buffer_k": buffer_k,
        "identity_mode": identity_mode,
        "use_agg": bool(use_agg),
        "temperature": temperature,
    }
    details: dict[str, Any] = {
        "k_requested": buffer_k,
        "k_selected": int(dims.size),
        "identity_overlap": int(shared.size),
        "k_constant_dropped": 0,
        "null_sd": s_n,
    }

    taus = np.empty(0)
    if dims.size:
        taus = kendall_tau_b_columns(
            _softmax_rows(ref[:, dims], temperature), _softmax_rows(sus[:, dims], temperature)
        )
    defined = ~np.isnan(taus)
    k = int(defined.sum())
    details["k_constant_dropped"] = int(taus.size - k)

    if k == 0:
        warnings.warn(
            f"paper mode: no usable identity dimension (selected {dims.size} of buffer k "
            f"{buffer_k}, overlap {shared.size}); reporting p=1. {_more_dimensions(identity_mode)}",
            LowPowerWarning,
            stacklevel=2,
        )
        details.update(z_perdim=0.0)
        if use_agg:
            details.update(agg_tau=None, z_agg=None, z_max=0.0)
        return LineageResult(
            verdict="independent",
            p_value=1.0,
            log10_p=0.0,
            z=0.0,
            tau_mean=None,
            k=0,
            n=n,
            alpha=alpha,
            method="paper",
            settings=settings,
            details=details,
        )
    if k < _LOW_POWER_K:
        warnings.warn(
            f"paper mode: only {k} identity dimension(s) left (buffer k {buffer_k}, overlap "
            f"{shared.size}); the test has little power. {_more_dimensions(identity_mode)}",
            LowPowerWarning,
            stacklevel=2,
        )

    tau_mean = float(taus[defined].mean())
    z_perdim = tau_mean / (s_n / math.sqrt(k))
    details["z_perdim"] = z_perdim
    z = z_perdim
    log_p = _LN2 + float(log_ndtr(-z_perdim))  # log of 2 * (1 - Phi(z)), exact in the far tail
    if use_agg:
        agg_ref, agg_sus = (_torch_mean(h[:, dims], axis=1) for h in (ref, sus))
        agg_tau = float(kendall_tau_b_columns(agg_ref[:, None], agg_sus[:, None])[0])
        z_agg = agg_tau / s_n
        z = z_perdim if math.isnan(z_agg) else max(z_perdim, z_agg)
        log_p = 2.0 * _LN2 + float(log_ndtr(-z))
        details.update(
            agg_tau=None if math.isnan(agg_tau) else agg_tau,
            z_agg=None if math.isnan(z_agg) else z_agg,
            z_max=z,
        )
    log10_p = min(0.0, log_p / _LN10)
    return LineageResult(
        verdict=verdict_for(log10_p, alpha),
        p_value=min(1.0, math.exp(log_p)),
        log10_p=log10_p,
        z=z,
        tau_mean=tau_mean,
        k=k,
        n=n,
        alpha=alpha,
        method="paper",
        settings=settings,
        details=details,
    )


def _as_float32(h) -> np.ndarray:
    """A float32 numpy view of a numpy array, array-like or torch tensor (torch not imported)."""
    if hasattr(h, "detach") and hasattr(h, "cpu"):
        h = h.detach().cpu().float().numpy()
    return np.asarray(h, dtype=np.float32)


def _check_shapes(ref_shape: tuple, sus_shape: tuple) -> None:
    shapes = f"reference {ref_shape}, suspect {sus_shape}"
    if len(ref_shape) != 2 or len(sus_shape) != 2:
        raise IncompatibleFingerprintsError(
            f"paper_test needs two 2-D [N probes, d] hidden-state matrices, got {shapes}; pass "
            "the final hidden states of each model, one row per probe"
        )
    if ref_shape[1] != sus_shape[1]:
        raise IncompatibleFingerprintsError(
            f"hidden sizes differ ({shapes}); paper mode needs equal widths, so compare models "
            "of the same hidden size"
        )
    if ref_shape[0] != sus_shape[0]:
        raise IncompatibleFingerprintsError(
            f"numbers of probes differ ({shapes}); both models must be run on the same probes, "
            "so re-extract the suspect with the reference's probe spec"
        )


def _check_finite(h: np.ndarray, which: str) -> None:
    bad = h.size - int(np.count_nonzero(np.isfinite(h)))
    if bad:
        raise NonFiniteHiddenStatesError(
            f"the {which} hidden states contain {bad} NaN/Inf value(s) (shape {h.shape}); "
            "re-extract them in float32 or bf16 (fp16 overflows on long random probes)"
        )


def _more_dimensions(identity_mode: str) -> str:
    """How to keep more identity dimensions, naming the settings as the caller writes them (Python or CLI)."""
    larger = f"a larger buffer k ({setting('buffer_k')})"
    if identity_mode == "base":
        return f"Try {larger}"
    return f"Try identity mode 'base' ({setting('identity_mode', 'base')}) or {larger}"


def _check_buffer_k(buffer_k, d: int) -> int:
    paper_k = max(1, round(0.1 * d))
    try:
        if isinstance(buffer_k, bool):
            raise TypeError
        value = operator.index(buffer_k)
    except TypeError:
        value = None
    if value is None or not 1 <= value <= d:
        raise UsageError(
            f"buffer_k must be an integer from 1 to d={d}, got {buffer_k!r}; the paper uses 10% "
            f"of d, buffer_k={paper_k}"
        )
    return value


def _positive_float(value, name: str, hint: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0.0):
        raise UsageError(f"{name} must be a positive finite number, got {value!r}; {hint}")
    return number


def _identity_dims(h: np.ndarray, buffer_k: int) -> np.ndarray:
    """Indices of the ``buffer_k`` columns with the smallest mean, the mean taken in float32 by torch
    as the published code does (so near-ties resolve the same way); ties go to the lower index."""
    return np.argsort(_torch_mean(h, axis=0), kind="stable")[:buffer_k]


def _torch_mean(h: np.ndarray, axis: int) -> np.ndarray:
    """float32 mean along ``axis`` computed by torch, as the published code computes it."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(h, dtype=np.float32)).mean(dim=axis).numpy()


def _softmax_rows(x: np.ndarray, temperature: float) -> np.ndarray:
    """Row-wise float32 softmax of ``x / temperature`` computed by torch, exactly as the published code.

    A numpy softmax differs from torch's in about half the values by one ulp, which swaps near-tied
    probes and moves z by up to ~5e-6 relative; torch keeps paper mode at the reference's numbers.
    """
    import torch

    scaled = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) / temperature
    return torch.softmax(scaled, dim=1).numpy()
