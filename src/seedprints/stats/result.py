"""The result object every lineage test returns, in the manner of ``scipy.stats`` results."""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Literal

Verdict = Literal["same-lineage", "independent"]


def plain_json(value: Any) -> Any:
    """Plain JSON types, recursively: numpy scalars unwrapped, paths as strings, NaN and Inf as None."""
    if isinstance(value, dict):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclasses.dataclass(frozen=True)
class LineageResult:
    """Outcome of one lineage test between a reference and a suspect.

    Attributes
    ----------
    verdict : {"same-lineage", "independent"}
        ``"same-lineage"`` when ``p_value < alpha``.
    p_value : float
        p-value for H0 "reference and suspect were initialised independently". Underflows to 0.0
        for strong evidence; use ``log10_p`` then.
    log10_p : float
        log10 of the p-value, exact far below 1e-300.
    z : float
        Standardised statistic (large and positive means shared lineage).
    tau_mean : float or None
        Mean per-dimension Kendall tau the statistic is built on (None where a method has none).
    k : int
        Number of dimensions the statistic used.
    n : int
        Number of probes (rows) the statistic used.
    alpha : float
        Significance level of the verdict.
    method : str
        Name of the test (``"paper"``, ...).
    settings : dict
        The method's settings, enough to rerun it.
    details : dict
        Extra diagnostics of the method (e.g. the aggregate signal's z).
    probe_hash : str or None
        Hash of the probe spec both fingerprints share (None for plain arrays).
    """

    verdict: Verdict
    p_value: float
    log10_p: float
    z: float
    tau_mean: float | None
    k: int
    n: int
    alpha: float
    method: str
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    probe_hash: str | None = None

    @property
    def statistic(self) -> float:
        """scipy-style alias of ``z``."""
        return self.z

    @property
    def pvalue(self) -> float:
        """scipy-style alias of ``p_value``."""
        return self.p_value

    def __iter__(self):
        """Unpack as ``statistic, pvalue`` like scipy's result objects."""
        return iter((self.statistic, self.pvalue))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; undefined values become None, never NaN."""
        return plain_json(dataclasses.asdict(self))


def verdict_for(log10_p: float, alpha: float) -> Verdict:
    """Same-lineage when p < alpha, decided on the log scale so underflow cannot flip it."""
    return "same-lineage" if log10_p < math.log10(alpha) else "independent"
