"""Sequential (early-stopping) lineage test: look at growing prefixes of the probes, stop once the verdict is decided.

The default test is run on the first ``n_1 < n_2 < ... < n_K`` probes (each look is a complete,
valid fixed-sample test on its prefix). Look k rejects H0 when its p-value is below ``w_k * alpha``
with ``sum(w_k) <= 1``; by the union bound the chance that *any* look rejects a true H0 is at most
``alpha``, whatever the dependence between looks (they share probes, so they are strongly
dependent). A group-sequential boundary (O'Brien-Fleming, Pocock) would spend less alpha, but it
needs the joint law of the looks' statistics, which for a re-ranked, two-part, max-combined statistic
is only asymptotic; Bonferroni needs nothing. Its price is small here: log p falls like ``-z^2``
and z grows like ``sqrt(n)``, so a strong lineage clears the stricter early levels on a small
prefix, and the final look keeps half of alpha for weak signals.

Probe specs draw row i from its own stream (:meth:`seedprints.probes.ProbeSpec.with_n`), so the
first n rows of a fingerprint are exactly the fingerprint of the same spec with N = n: looks on row
prefixes of an existing fingerprint are what extraction in rounds would have produced.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import numpy as np
from scipy.special import ndtri

from seedprints.errors import UsageError
from seedprints.stats.lineage import MIN_PROBES, lineage_test
from seedprints.stats.result import LineageResult, verdict_for

DEFAULT_FIRST_LOOK = 25
DEFAULT_FINAL_SHARE = 0.5
DEFAULT_FUTILITY_MARGIN = 2.0
STOP_SAME = "same-lineage"
STOP_FUTILITY = "futility"
STOP_BUDGET = "budget"


@dataclasses.dataclass(frozen=True)
class SequentialDesign:
    """When to look and how much of alpha each look may spend.

    Attributes
    ----------
    looks : tuple of int
        Probe counts of the looks, strictly increasing; the last one is the budget.
    alpha : float
        Total type-I error of the design.
    weights : tuple of float
        Share of alpha spent at each look (positive, summing to at most 1).
    futility_margin : float or None
        Stop for "independent" at look k when ``z_k < z_final * sqrt(n_k / N) - margin``, with
        ``z_final`` the z the last look needs; None never stops for futility.

    Notes
    -----
    Type I: reject at look k iff ``p_k < w_k * alpha``; ``P(any) <= sum_k w_k * alpha <= alpha`` by the
    union bound. Stopping for futility only removes chances to reject, so it can only lower the
    type-I error. Its cost in power, under the usual drift approximation
    ``z_n ~ theta * sqrt(n / N) + noise(1)``: a lineage whose final expected z is at least
    ``z_final`` (one the fixed-budget test detects at least half the time) is stopped at a given
    look with probability at most ``Phi(-margin)`` (2.3% for the default margin 2).
    """

    looks: tuple[int, ...]
    alpha: float
    weights: tuple[float, ...]
    futility_margin: float | None = DEFAULT_FUTILITY_MARGIN

    def __post_init__(self) -> None:
        looks = tuple(int(n) for n in self.looks)
        weights = tuple(float(w) for w in self.weights)
        object.__setattr__(self, "looks", looks)
        object.__setattr__(self, "weights", weights)
        if not 0 < self.alpha < 1:
            raise UsageError(f"alpha must be between 0 and 1 (got {self.alpha})")
        if not looks or looks[0] < 1 or any(b <= a for a, b in zip(looks, looks[1:])):
            raise UsageError(f"looks must be strictly increasing positive probe counts (got {list(looks)})")
        if len(weights) != len(looks) or min(weights) <= 0 or sum(weights) > 1 + 1e-12:
            raise UsageError(f"need one positive alpha share per look, summing to at most 1 (got {list(weights)})")
        if self.futility_margin is not None and not self.futility_margin >= 0:
            raise UsageError(f"futility margin must be >= 0 or None (got {self.futility_margin})")

    @classmethod
    def doubling(
        cls,
        budget: int,
        alpha: float = 0.01,
        *,
        first: int = DEFAULT_FIRST_LOOK,
        final_share: float = DEFAULT_FINAL_SHARE,
        futility_margin: float | None = DEFAULT_FUTILITY_MARGIN,
    ) -> "SequentialDesign":
        """Looks at ``first, 2 first, 4 first, ...`` below ``budget``, then at ``budget``.

        The last look gets ``final_share`` of alpha (weak signals need the full budget), the earlier
        looks share the rest equally. A budget of at most ``first`` probes gives one look: the fixed test.
        """
        if budget < MIN_PROBES:
            raise UsageError(f"budget of {budget} probes is too small; the lineage test needs at least {MIN_PROBES}")
        if first < MIN_PROBES:
            raise UsageError(f"first look of {first} probes is too small; the lineage test needs at least {MIN_PROBES}")
        if not 0 < final_share <= 1:
            raise UsageError(f"final_share must be in (0, 1] (got {final_share})")
        looks = []
        n = first
        while n < budget:
            looks.append(n)
            n *= 2
        looks.append(budget)
        if len(looks) == 1:
            return cls((budget,), alpha, (1.0,), futility_margin)
        early = (1.0 - final_share) / (len(looks) - 1)
        return cls(tuple(looks), alpha, (early,) * (len(looks) - 1) + (final_share,), futility_margin)

    @property
    def budget(self) -> int:
        """Probes of the last look."""
        return self.looks[-1]

    @property
    def log10_levels(self) -> tuple[float, ...]:
        """log10 of each look's significance level ``w_k * alpha``."""
        return tuple(math.log10(w * self.alpha) for w in self.weights)

    def futility_bound(self, index: int, parts: int) -> float | None:
        """z below which look ``index`` stops for futility (None at the last look or without a margin).

        ``parts`` is the number of Bonferroni-combined statistics in a look's p-value (2 with untrained-token logits).
        """
        if self.futility_margin is None or index == len(self.looks) - 1:
            return None
        z_final = float(-ndtri(10.0 ** self.log10_levels[-1] / parts))
        return z_final * math.sqrt(self.looks[index] / self.budget) - self.futility_margin

    def decide(self, index: int, result: LineageResult) -> str | None:
        """Stop reason after look ``index`` (``"same-lineage"``, ``"futility"``, ``"budget"``), or None to go on."""
        if result.log10_p < self.log10_levels[index]:
            return STOP_SAME
        if index == len(self.looks) - 1:
            return STOP_BUDGET
        bound = self.futility_bound(index, 2 if "vocab_z" in result.details else 1)
        if bound is not None and result.z < bound:
            return STOP_FUTILITY
        return None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON description (for ``settings``)."""
        return {"looks": list(self.looks), "alpha": self.alpha, "weights": list(self.weights),
                "futility_margin": self.futility_margin, "spending": "Bonferroni over a fixed look schedule"}


def run_sequential(
    design: SequentialDesign, result_at: Callable[[int], LineageResult], *, length: int | None = None
) -> LineageResult:
    """Run the looks of ``design`` in order, calling ``result_at(n)`` for the fixed test on the first n probes.

    ``result_at`` may extract more probes before testing (extraction in rounds), or test row prefixes.

    Returns
    -------
    LineageResult
        The stopping look's z, ``tau_mean``, ``k`` and ``n``, with ``log10_p`` the sequential p-value
        ``min_k (p_k / w_k)`` over the looks taken (valid: it is below alpha' with probability at
        most alpha' for every alpha'), so that ``verdict`` says whether some look crossed its level.
        ``details["sequential"]``: ``looks`` (n, z, log10_p and log10 level of each look taken),
        ``stop`` (``"same-lineage"``, ``"futility"`` or ``"budget"``), ``probes`` and
        ``probe_tokens`` spent (tokens None when ``length`` is unknown), ``budget``,
        ``budget_tokens``. ``settings["sequential"]`` is the design.
    """
    looks: list[dict[str, Any]] = []
    adjusted = 0.0
    result: LineageResult | None = None
    stop: str | None = None
    for index, n in enumerate(design.looks):
        result = result_at(n)
        level = design.log10_levels[index]
        adjusted = min(adjusted, result.log10_p - math.log10(design.weights[index]))
        looks.append({"n": n, "z": result.z, "log10_p": result.log10_p, "log10_level": level})
        stop = design.decide(index, result)
        if stop is not None:
            break
    assert result is not None and stop is not None  # the last look always decides
    log10_p = min(0.0, adjusted)
    spent = looks[-1]["n"]
    sequential = {
        "looks": looks, "stop": stop, "probes": spent, "budget": design.budget,
        "probe_tokens": spent * length if length else None,
        "budget_tokens": design.budget * length if length else None,
    }
    return dataclasses.replace(
        result, verdict=verdict_for(log10_p, design.alpha), p_value=10.0**log10_p, log10_p=log10_p, alpha=design.alpha,
        settings={**result.settings, "sequential": design.to_dict()}, details={**result.details, "sequential": sequential},
    )


def sequential_lineage_test(
    h_ref: Any,
    h_suspect: Any,
    alpha: float = 0.01,
    *,
    logits_ref: Any = None,
    logits_suspect: Any = None,
    design: SequentialDesign | None = None,
    length: int | None = None,
    n_permutations: int = 0,
    seed: int = 0,
) -> LineageResult:
    """The default lineage test with early stopping, its looks taken on row prefixes of two fingerprints.

    Parameters
    ----------
    h_ref, h_suspect : array_like, shape (N, d)
        Hidden states on the same probes; row order is probe order (prefixes are earlier probes).
    alpha : float
        Total type-I error; ignored when ``design`` is given (its own alpha counts).
    logits_ref, logits_suspect : array_like, shape (N, m), optional
        Rare-token logits, as in :func:`seedprints.stats.lineage.lineage_test`.
    design : SequentialDesign, optional
        Default: :meth:`SequentialDesign.doubling` over all N rows.
    length : int, optional
        Tokens per probe, to report probe tokens spent.
    n_permutations, seed
        Monte Carlo checks of each look (off by default: they do not change the verdict).

    Returns
    -------
    LineageResult
        See :func:`run_sequential`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.standard_normal((800, 64))
    >>> r = sequential_lineage_test(a, a + rng.standard_normal((800, 64)))
    >>> r.verdict, r.details["sequential"]["probes"], r.details["sequential"]["stop"]
    ('same-lineage', 25, 'same-lineage')
    """
    ref, sus = np.asarray(h_ref), np.asarray(h_suspect)
    if ref.ndim != 2 or sus.ndim != 2 or ref.shape[0] != sus.shape[0]:
        raise UsageError(f"need two [N, d] matrices with the same N (got {ref.shape} and {sus.shape})")
    design = design or SequentialDesign.doubling(ref.shape[0], alpha)
    if design.budget > ref.shape[0]:
        raise UsageError(f"the design looks at {design.budget} probes but the fingerprints have {ref.shape[0]} rows")
    lref = None if logits_ref is None else np.asarray(logits_ref)
    lsus = None if logits_suspect is None else np.asarray(logits_suspect)

    def result_at(n: int) -> LineageResult:
        return lineage_test(
            ref[:n], sus[:n], design.alpha, logits_ref=None if lref is None else lref[:n],
            logits_suspect=None if lsus is None else lsus[:n], n_permutations=n_permutations, seed=seed,
        )

    return run_sequential(design, result_at, length=length)
