"""The default lineage test: per-dimension rank correlations over all dimensions, with permutation nulls.

Why the null holds: a model's hidden (residual-stream) dimensions are exchangeable. Its init draws
every dimension from the same distribution, and training (AdamW is coordinate-wise, the data does
not know the dimension labels) commutes with relabelling them. So when two models were initialised
independently, relabelling the suspect's dimensions by a uniformly random permutation leaves the
joint distribution of the two fingerprints unchanged, *whatever* the models learnt from shared
data. The statistic is the sum of same-index correlations; its null distribution is that of the
sum along a random permutation, whose mean and variance are known exactly (Hoeffding 1951).

A second statistic, built the same way on the logits of tokens no model with this tokenizer ever
trained (embedding rows past the tokenizer's length, whose labels are exchangeable), sees through a
relabelling of hidden dimensions, which leaves logits unchanged. It runs only for probe specs that
certify their scored tokens so (:attr:`seedprints.probes.ProbeSpec.scores_untrained_logits`).

A third part, given both models' weights (:mod:`seedprints.stats.units`), sees through a relabelling or rotation of
the hidden dimensions on every model: it aligns the hidden dimensions on the input embeddings and tests on MLP
neurons and value channels, whose labels are exchangeable. The parts that ran are combined with a Bonferroni
correction, and ``details["permutation_note"]`` says whether a relabelling of hidden dimensions could have been seen.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from seedprints.errors import (
    IncompatibleFingerprintsError,
    InsufficientDataError,
    NonFiniteHiddenStatesError,
    UsageError,
)
from seedprints.naming import setting
from seedprints.stats.defaults import MIN_DIMS, MIN_PROBES
from seedprints.stats.moments import (  # noqa: F401 (permutation_moments and the floor re-exported: callers import them here)
    NULL_RESIDUAL_FLOOR,
    _null_variance,
    log10_upper_tail,
    permutation_moments,
)
from seedprints.stats.notes import VOCAB_ABSTAINED, permutation_note, units_not_given, with_left_out_notes, with_vocab_note
from seedprints.stats.ranks import grouped_ranks, row_standardized, scores_from_ranks, standardized_ranks
from seedprints.stats.result import LineageResult, verdict_for
from seedprints.stats.units import units_abstains, units_test

DEFAULT_PERMUTATIONS = 999


def _as_matrix(h: Any, name: str) -> np.ndarray:
    """float32/64 numpy view of a numpy array or torch tensor (torch is not imported here)."""
    if hasattr(h, "detach"):
        h = h.detach().cpu().float().numpy()
    array = np.asarray(h, dtype=np.float64)
    if array.ndim != 2:
        raise IncompatibleFingerprintsError(f"{name} must be a 2-D [N, d] matrix, got shape {array.shape}")
    return array


UNTRAINED_INPUT_FLOOR = 0.02
"""The padding-row probes are left out of a fingerprint when their hidden states spread (median over dimensions of
the standard deviation over probes, after row standardisation) less than this share of the trained-token probes':
in long-trained real models those rows are one vector, so every such probe is the same sequence (measured: 0.003
on Qwen2.5-0.5B); in briefly trained models they spread like the others (about 1)."""

LOGIT_FLOOR = 0.01
"""Scored logits carry no per-row information when the variance of each logit about the probe's mean over the
scored tokens is below this share of the variance, over probes, of that mean. Rows drawn i.i.d. give a ratio of at
least the number of scored tokens (the mean row is that much smaller than one row); rows collapsed onto one vector
give about 1e-6 (measured on Qwen2.5-0.5B)."""


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A fingerprint's matrices as the lineage test ranks them, with what was left out and why.

    ``hidden``: the row-standardised states, the padding-row probes' rows set to zero when they carry
    nothing; ``logits``: the raw logits, all zero when they carry no per-row information. Both
    decisions read one fingerprint alone and treat every column alike, so the permutation nulls hold
    given them.
    """

    hidden: np.ndarray
    logits: np.ndarray | None
    groups: np.ndarray | None
    untrained_inputs_left_out: bool
    logits_left_out: bool


def prepare(hidden: np.ndarray, logits: np.ndarray | None, groups: np.ndarray | None) -> Prepared:
    """Row-standardise ``hidden`` and leave out the parts of one fingerprint that carry nothing (see :class:`Prepared`)."""
    states = row_standardized(np.asarray(hidden, dtype=np.float64))
    left_out = groups is not None and _spread(states[groups == 1]) < UNTRAINED_INPUT_FLOOR * _spread(states[groups == 0])
    if left_out:
        states[groups == 1] = 0.0
    kept = slice(None) if not left_out else groups == 0
    silent = False
    if logits is not None:
        logits = np.asarray(logits, dtype=np.float64)
        silent = logits_carry_nothing(logits[kept])
        if silent or left_out:
            logits = logits.copy()
            logits[slice(None) if silent else groups == 1] = 0.0
    return Prepared(hidden=states, logits=logits, groups=groups, untrained_inputs_left_out=bool(left_out),
                    logits_left_out=silent)


def _spread(rows: np.ndarray) -> float:
    """Median over columns of the standard deviation over rows."""
    return float(np.median(rows.std(axis=0))) if rows.shape[0] > 1 else 0.0


def logits_carry_nothing(logits: np.ndarray) -> bool:
    """True when each scored token's logit differs from the probe's mean over the scored tokens by next to nothing.

    Collapsed, zero or duplicate rows give every scored token the same logit up to rounding, so their
    ranks are noise; see :data:`LOGIT_FLOOR`.
    """
    mean = logits.mean(axis=1, keepdims=True)
    own = float(((logits - mean) ** 2).mean())
    shared = float(mean.var())
    return not own > LOGIT_FLOOR * shared or own == 0.0


def exchangeable_columns_test(a: np.ndarray, b: np.ndarray, *, n_permutations: int, seed: int) -> dict[str, float]:
    """z of the same-index rank-correlation sum of two [N, m] matrices whose columns are exchangeable under H0.

    Returns the statistic, its exact permutation mean and sd, z, the one-sided normal-tail log10 p,
    the mean same-index correlation and (when ``n_permutations``) a Monte Carlo permutation p-value.
    """
    return scores_columns_test(standardized_ranks(a), standardized_ranks(b), n_permutations=n_permutations, seed=seed)


def scores_columns_test(a: np.ndarray, b: np.ndarray, *, n_permutations: int, seed: int) -> dict[str, float]:
    """:func:`exchangeable_columns_test` on matrices already turned into :func:`standardized_ranks`."""
    return correlation_matrix_test(a.T @ b / a.shape[0], n_permutations=n_permutations, seed=seed)


def correlation_matrix_test(c: np.ndarray, *, n_permutations: int, seed: int) -> dict[str, float]:
    """:func:`scores_columns_test` from the ``m x m`` rank-correlation matrix ``C = A^T B / N`` itself.

    The batched scan (:mod:`seedprints.scan`) computes many ``C`` in one product and finishes each here.
    """
    m = c.shape[0]
    statistic = float(np.trace(c))
    mean, var = permutation_moments(c)
    sd = math.sqrt(var)
    z = (statistic - mean) / sd if sd > 0 else 0.0
    out = {"statistic": statistic, "null_mean": mean, "null_sd": sd, "z": z,
           "log10_p": log10_upper_tail(z), "mean_correlation": float(np.mean(np.diag(c)))}
    if n_permutations:
        perms = np.argsort(np.random.default_rng(seed).random((n_permutations, m)), axis=1)
        null = c[np.arange(m), perms].sum(axis=1)
        out["p_permutation"] = float((1 + np.count_nonzero(null >= statistic)) / (n_permutations + 1))
    return out


def sums_test(trace: float, total: float, sum_sq: float, row_sq: float, col_sq: float, m: int) -> dict[str, float]:
    """:func:`correlation_matrix_test`'s numbers (no Monte Carlo check) from the sums its null reads of ``C``.

    ``trace`` is ``trace(C)``, ``total`` ``sum(C)``, ``sum_sq`` ``sum(C^2)``, ``row_sq`` and ``col_sq`` the sums of
    the squared row and column sums of the ``m x m`` matrix ``C``: the residual sum of squares in
    :func:`permutation_moments` is ``sum_sq - row_sq / m - col_sq / m + total^2 / m^2``. Callers that get these
    sums without forming ``C`` (from probe Gram matrices) finish here.
    """
    resid = sum_sq - row_sq / m - col_sq / m + total**2 / m**2
    sd = math.sqrt(_null_variance(max(resid, 0.0), sum_sq, m))
    mean = total / m
    z = (trace - mean) / sd if sd > 0 else 0.0
    return {"statistic": trace, "null_mean": mean, "null_sd": sd, "z": z,
            "log10_p": log10_upper_tail(z), "mean_correlation": trace / m}


def _checked_pair(ref: np.ndarray, sus: np.ndarray, what: str, min_columns: int) -> None:
    if ref.shape != sus.shape:
        raise IncompatibleFingerprintsError(
            f"{what} have different shapes {ref.shape} and {sus.shape}; the lineage test compares the same probes "
            "(rows) and equal widths (columns)"
        )
    n, m = ref.shape
    if n < MIN_PROBES:
        raise InsufficientDataError(f"only {n} probes; the lineage test needs at least {MIN_PROBES} (use {setting('n', 1000)} or more)")
    if m < min_columns:
        raise InsufficientDataError(f"only {m} columns in the {what}; the lineage test needs at least {min_columns}")
    for name, h in (("reference", ref), ("suspect", sus)):
        if not np.isfinite(h).all():
            raise NonFiniteHiddenStatesError(
                f"the {name} {what} contain NaN/Inf; re-extract with {setting('dtype', 'float32')} (or bfloat16 for fp16 "
                "checkpoints)"
            )


def lineage_test(
    h_ref: Any,
    h_suspect: Any,
    alpha: float = 0.01,
    *,
    logits_ref: Any = None,
    logits_suspect: Any = None,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    row_groups: Any = None,
    weights_ref: Any = None,
    weights_suspect: Any = None,
) -> LineageResult:
    """Test H0 "independently initialised" with a null that holds for models trained on the same data.

    Parameters
    ----------
    h_ref, h_suspect : array_like or torch.Tensor, shape (N, d)
        Final hidden states of the two models on the same token probes, row i = probe i.
    alpha : float
        Significance level of the verdict.
    logits_ref, logits_suspect : array_like, shape (N, m), optional
        Logits of tokens neither model trained (the default probes' ``output_tokens``: rows past
        the tokenizer). When given, a second statistic runs in vocabulary space, which a
        relabelling of hidden dimensions cannot touch, and the two are combined with a Bonferroni
        correction. Pass only logits of such tokens: the null assumes their labels exchangeable.
    n_permutations : int
        Random relabellings used for the Monte Carlo checks in ``details`` (0 to skip).
    seed : int
        Seed of those relabellings.
    row_groups : array_like of int, shape (N,), optional
        Group of each probe (:meth:`seedprints.probes.ProbeSpec.row_groups`: 0 for trained-token
        inputs, 1 for padding-row inputs). Each group is ranked on its own, and the padding-row group
        is left out of a fingerprint whose states it does not spread (collapsed or zeroed rows).
    weights_ref, weights_suspect : seedprints.stats.units.WeightSketch, optional
        Both models' weights (:func:`seedprints.stats.units.weight_sketch`). When given, the units part runs
        (:func:`seedprints.stats.units.units_test`): it sees through a relabelling or rotation of the hidden
        dimensions on any llama-style model, padded rows or not, and joins the Bonferroni correction.

    Returns
    -------
    LineageResult
        ``method="lineage"``; ``z`` the larger of the hidden and vocabulary z's, ``p_value`` the
        one-sided normal tail (doubled when both statistics ran; ``log10_p`` stays exact far below
        1e-300), ``tau_mean`` the mean same-index Spearman correlation of hidden dimensions,
        ``k = d`` dimensions, ``n`` probes. ``details`` holds each statistic, its null mean and sd,
        its z and log10 p, and Monte Carlo permutation p-values.

    Raises
    ------
    IncompatibleFingerprintsError
        Shapes differ or are not 2-D, or logits are given for one side only.
    InsufficientDataError
        Fewer than 20 probes or 8 dimensions (or logit tokens).
    NonFiniteHiddenStatesError
        NaN or Inf in either matrix.

    Notes
    -----
    With ``A`` and ``B`` the standardised ranks (:func:`standardized_ranks`) and
    ``C = A^T B / N`` the ``d x d`` matrix of Spearman correlations between every dimension of the
    reference and every dimension of the suspect, the hidden statistic is ``T = trace(C)``. Under H0
    the suspect's dimension labels are exchangeable, so ``T`` is distributed like
    ``sum_i C[i, pi(i)]`` for a uniform permutation ``pi``, with mean and variance given by
    :func:`permutation_moments`; ``z = (T - mean) / sd``, and the normal tail is Hoeffding's
    combinatorial central limit theorem. The null needs token probes: embedding probes put
    identical values on identical dimension indices of unrelated models.

    The vocabulary statistic is the same construction on the logits of ``m`` output tokens. Rows
    past the tokenizer are never an input or a target, so training treats them all alike (their
    init rows are i.i.d., and every update is equivariant under relabelling them); under H0 one
    model's columns are exchangeable, and independence of the two models makes that enough. A
    hidden-dimension permutation leaves logits unchanged, so a permuted copy stays detectable; the
    output tokens are never fed as inputs, so no token links an input to an output column.

    References
    ----------
    .. [1] W. Hoeffding, "A combinatorial central limit theorem", Ann. Math. Statist. 22 (1951).
    .. [2] SeedPrints, ICLR 2026, arXiv:2509.26404 (the per-dimension correlation idea).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.standard_normal((200, 64))
    >>> lineage_test(a, a + rng.standard_normal((200, 64))).verdict
    'same-lineage'
    >>> lineage_test(a, rng.standard_normal((200, 64))).verdict
    'independent'
    """
    _check_settings(alpha, n_permutations)
    ref, sus = _as_matrix(h_ref, "h_ref"), _as_matrix(h_suspect, "h_suspect")
    _checked_pair(ref, sus, "fingerprints", MIN_DIMS)
    if (logits_ref is None) != (logits_suspect is None):
        raise IncompatibleFingerprintsError(
            "logits are recorded for one fingerprint only; make both with the same probe spec"
        )
    if (weights_ref is None) != (weights_suspect is None):
        raise IncompatibleFingerprintsError("weights are given for one model only; give both or neither")
    lref = lsus = None
    if logits_ref is not None:
        lref, lsus = _as_matrix(logits_ref, "logits_ref"), _as_matrix(logits_suspect, "logits_suspect")
        _checked_pair(lref, lsus, "logits", MIN_DIMS)
        if lref.shape[0] != ref.shape[0]:
            raise IncompatibleFingerprintsError(f"logits have {lref.shape[0]} rows but the hidden states {ref.shape[0]}")
    groups = None if row_groups is None else np.asarray(row_groups, dtype=np.int64)
    if groups is not None and groups.shape != (ref.shape[0],):
        raise IncompatibleFingerprintsError(f"row_groups has shape {groups.shape}; give one group per probe ({ref.shape[0]})")
    sides = (prepare(ref, lref, groups), prepare(sus, lsus, groups))
    hidden_scores = tuple(scores_from_ranks(grouped_ranks(side.hidden, groups, "average"), groups) for side in sides)
    logit_scores = None if lref is None else tuple(standardized_ranks(side.logits, groups) for side in sides)
    units, units_note = _units_part(weights_ref, weights_suspect)
    result = scores_lineage_test(hidden_scores, logit_scores, alpha, n_permutations=n_permutations, seed=seed,  # type: ignore[arg-type]
                                 units=units, units_note=units_note)
    return with_left_out_notes(result, [name for name, side in zip(("reference", "suspect"), sides)
                                        if side.untrained_inputs_left_out],
                               [name for name, side in zip(("reference", "suspect"), sides) if side.logits_left_out])


def _units_part(weights_ref: Any, weights_suspect: Any) -> tuple[dict[str, Any] | None, str]:
    """The units part's numbers, or None and why it did not run."""
    if weights_ref is None:
        return None, units_not_given()
    why = units_abstains(weights_ref, weights_suspect)
    if why is not None:
        return None, f"the units part did not run: {why}"
    return units_test(weights_ref, weights_suspect), ""


def lineage_test_ranked(
    ref: Any, suspect: Any, alpha: float = 0.01, *, n_permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0
) -> LineageResult:
    """:func:`lineage_test` on two :class:`~seedprints.encoding.RankedFingerprint` (e.g. registry entries).

    Gives the same numbers as :func:`seedprints.stats.methods.lineage_method` on the fingerprints
    they were ranked from, since the test reads nothing but those ranks: the logits form the vocab
    part when the reference's spec scores untrained tokens.
    """
    _check_settings(alpha, n_permutations)
    if ref.hidden_scores.shape != suspect.hidden_scores.shape:
        raise IncompatibleFingerprintsError(
            f"fingerprints have different shapes {ref.hidden_scores.shape} and {suspect.hidden_scores.shape}; "
            "the lineage test compares the same probes (rows) and equal widths (columns)"
        )
    n, d = ref.hidden_scores.shape
    if n < MIN_PROBES or d < MIN_DIMS:
        raise InsufficientDataError(
            f"{n} probes and {d} dimensions; the lineage test needs at least {MIN_PROBES} and {MIN_DIMS}"
        )
    if (ref.logit_scores is None) != (suspect.logit_scores is None) or (
        ref.logit_scores is not None and ref.logit_scores.shape != suspect.logit_scores.shape
    ):
        raise IncompatibleFingerprintsError("the two fingerprints record different logit tokens; use the same probe spec")
    scored = ref.logit_scores is not None and ref.spec.scores_untrained_logits
    logits = (ref.logit_scores, suspect.logit_scores) if scored else None
    result = scores_lineage_test(
        (ref.hidden_scores, suspect.hidden_scores), logits, alpha, n_permutations=n_permutations, seed=seed
    )
    return with_vocab_note(result, ref.spec)


def _check_settings(alpha: float, n_permutations: int) -> None:
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1 (got {alpha})")
    if n_permutations < 0:
        raise UsageError(f"n_permutations must be >= 0 (got {n_permutations})")


def scores_lineage_test(
    hidden_scores: tuple[np.ndarray, np.ndarray],
    logit_scores: tuple[np.ndarray, np.ndarray] | None,
    alpha: float,
    *,
    n_permutations: int,
    seed: int,
    units: dict[str, Any] | None = None,
    units_note: str | None = None,
) -> LineageResult:
    """The lineage test from (reference, suspect) standardised ranks of hidden states and, optionally, logits (and
    the units part's numbers, :func:`seedprints.stats.units.units_test`, when the weights were compared)."""
    hidden = scores_columns_test(*hidden_scores, n_permutations=n_permutations, seed=seed)
    vocab = None if logit_scores is None else scores_columns_test(*logit_scores, n_permutations=n_permutations, seed=seed + 1)
    n, d = hidden_scores[0].shape
    return combined_result(hidden, vocab, n=n, d=d, alpha=alpha, n_permutations=n_permutations, seed=seed, units=units,
                           units_note=units_note)


def combined_result(
    hidden: dict[str, float], vocab: dict[str, float] | None, *, n: int, d: int, alpha: float, n_permutations: int, seed: int,
    units: dict[str, Any] | None = None, units_note: str | None = None,
) -> LineageResult:
    """The LineageResult of the hidden part and, when logits were recorded, the vocab part, and, when both models'
    weights were compared, the units part: Bonferroni over the parts that ran. Every path to a lineage result (pairwise,
    ranked, scan, screen) comes through here, so each carries the same ``permutation_note``; ``units_note`` says why
    the units part did not run."""
    details: dict[str, Any] = {f"hidden_{k}": v for k, v in hidden.items()}
    if vocab is not None and not vocab["null_sd"] > 0:  # logits of at least one side left out: nothing to test
        details["vocab_note"] = VOCAB_ABSTAINED
        vocab = None
    parts = [hidden]
    if vocab is not None:
        details.update({f"vocab_{k}": v for k, v in vocab.items()})
        parts.append(vocab)
    if units is not None:
        details.update({f"units_{k}": v for k, v in units.items()})
        parts.append(units)
    details["permutation_note"] = permutation_note(vocab is not None, units is not None, units_note)
    z = max(part["z"] for part in parts)
    log10_p = min(part["log10_p"] for part in parts)
    if len(parts) > 1:
        log10_p = min(0.0, math.log10(len(parts)) + log10_p)  # Bonferroni over the parts that ran
    return LineageResult(
        verdict=verdict_for(log10_p, alpha),
        p_value=10.0**log10_p,
        log10_p=log10_p,
        z=z,
        tau_mean=hidden["mean_correlation"],
        k=d,
        n=n,
        alpha=alpha,
        method="lineage",
        settings={"statistic": "sum of same-index Spearman correlations of row-standardised states"
                               + (" and of untrained-token logits" if vocab is not None else "")
                               + (" and of MLP-neuron and value-channel cosines after aligning hidden dimensions on the "
                                  "embeddings" if units is not None else "")
                               + (" (Bonferroni)" if len(parts) > 1 else ""),
                  "null": "permutation of exchangeable columns (exact moments, normal tail)",
                  "n_permutations": n_permutations, "seed": seed},
        details=details,
    )
