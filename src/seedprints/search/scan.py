"""The lineage test of one suspect against many references at once (a registry scan).

Each pair's exact permutation moments read the ``d x d`` matrix of rank correlations ``C = A^T B / N``
between every reference dimension and every suspect dimension, but only through its trace, its sum,
its row and column sums and ``sum(C^2)``. The scan builds every reference's standardised ranks
straight from its stored min-ranks (no re-ranking, no decoding to full matrices) and gets those
numbers in the cheaper of two exact ways: with more probes than twice the width, it stacks a batch of
references side by side and forms all their ``C`` in one matrix product with the suspect (``2 N d^2``
operations per pair); with fewer, it forms the reference's ``N x N`` probe Gram matrix ``A A^T`` as a
symmetric product (``N^2 d``), since ``sum(C^2) = <A A^T, B B^T> / N^2`` and the row and column sums
follow from the Gram matrices too. Either way every number equals
:func:`seedprints.stats.lineage.lineage_test_ranked` on that pair (to rounding).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Callable, Iterable, Iterator

import numpy as np

from seedprints.encoding import RankedFingerprint
from seedprints.errors import IncompatibleFingerprintsError, InsufficientDataError, UsageError
from seedprints.stats.lineage import MIN_DIMS, MIN_PROBES, combined_result, correlation_matrix_test, sums_test
from seedprints.stats.notes import with_vocab_note
from seedprints.stats.result import LineageResult

DEFAULT_BATCH_SIZE = 8
FORMS = ("auto", "product")


def _scores_into(out: np.ndarray, item: RankedFingerprint, logits: bool) -> None:
    """Write the standardised ranks of ``item``'s hidden states (or logits) into ``out``.

    A column without ties holds each 0-based rank 0..N-1 once (its min-ranks then sum to
    N(N-1)/2; any tie makes the sum smaller), so its standardised ranks are
    ``(2 r - (N - 1)) / sqrt((N^2 - 1) / 3)``, with nothing to sort or count. Matrices with ties
    take the encoding's exact reconstruction instead, as do probes in row groups (standardised group by group).
    """
    ranks = item.logit_ranks if logits else item.hidden_ranks
    n = ranks.shape[0]
    if item.spec.row_groups() is None and (ranks.sum(axis=0, dtype=np.int64) == n * (n - 1) // 2).all():
        sd = math.sqrt((n * n - 1) / 3.0)
        np.multiply(ranks, 2.0 / sd, out=out)
        out -= (n - 1) / sd
    else:
        out[...] = item.logit_scores if logits else item.hidden_scores


def _standardised(item: RankedFingerprint, logits: bool) -> np.ndarray:
    out = np.empty((item.logit_ranks if logits else item.hidden_ranks).shape)
    _scores_into(out, item, logits)
    return out


def _correlations(batch: list[RankedFingerprint], suspect_scores: np.ndarray, logits: bool) -> list[np.ndarray]:
    """``C = A^T B / N`` for every reference in ``batch`` against the suspect, from one matrix product.

    float64 throughout: on the benchmark's data (N=2000, d=768) a float32 product was about 2.5x
    faster but moved log10 p by up to 1.4e-5 relative, more than the scan may differ from the pairwise test.
    """
    n, width = suspect_scores.shape
    stacked = np.empty((n, width * len(batch)))
    for k, item in enumerate(batch):
        _scores_into(stacked[:, k * width:(k + 1) * width], item, logits)
    product = stacked.T @ suspect_scores
    product /= n
    return [product[k * width:(k + 1) * width] for k in range(len(batch))]


def _gram_tests(batch: list[RankedFingerprint], suspect_scores: np.ndarray, suspect_gram: np.ndarray,
                logits: bool) -> list[dict[str, float]]:
    """Each reference's test numbers from its probe Gram matrix and the suspect's, never forming ``C``."""
    n, width = suspect_scores.shape
    u = suspect_scores.sum(axis=1)
    out = []
    for item in batch:
        a = _standardised(item, logits)
        gram = a @ a.T  # numpy computes a product with its own transpose as a symmetric rank-k update
        v = a.sum(axis=1)
        out.append(sums_test(float(np.vdot(a, suspect_scores)) / n, float(v @ u) / n, float(np.vdot(gram, suspect_gram)) / n**2,
                             float(u @ gram @ u) / n**2, float(v @ suspect_gram @ v) / n**2, width))
    return out


def _part_tests(batch: list[RankedFingerprint], suspect_scores: np.ndarray, suspect_gram: np.ndarray | None,
                logits: bool, n_permutations: int, seed: int) -> list[dict[str, float]]:
    """The correlation-matrix test of one part (hidden or logits) of every reference, by Gram matrices when given."""
    if suspect_gram is not None:
        return _gram_tests(batch, suspect_scores, suspect_gram, logits)
    return [correlation_matrix_test(c, n_permutations=n_permutations, seed=seed)
            for c in _correlations(batch, suspect_scores, logits)]


def _suspect_gram(scores: np.ndarray, form: str, n_permutations: int) -> np.ndarray | None:
    """The suspect's Gram matrix when the Gram form is the cheaper one (and no Monte Carlo check needs ``C``)."""
    n, width = scores.shape
    return scores @ scores.T if form == "auto" and not n_permutations and n < 2 * width else None


def _check_reference(ref: RankedFingerprint, suspect: RankedFingerprint, position: int) -> None:
    if ref.spec != suspect.spec:
        raise IncompatibleFingerprintsError(
            f"reference {position} ({ref.model_id}) uses probes {ref.spec.describe()}, the suspect "
            f"{suspect.spec.describe()}; scan only references made with the suspect's probe spec"
        )
    if ref.hidden_ranks.shape != suspect.hidden_ranks.shape:
        raise IncompatibleFingerprintsError(
            f"reference {position} ({ref.model_id}) has shape {ref.hidden_ranks.shape}, the suspect "
            f"{suspect.hidden_ranks.shape}; the lineage test needs equal widths"
        )


def _batches(items: Iterable[RankedFingerprint], size: int) -> Iterator[list[RankedFingerprint]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def scan(
    suspect: RankedFingerprint,
    references: Iterable[RankedFingerprint],
    alpha: float = 0.01,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    n_permutations: int = 0,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    form: str = "auto",
) -> list[LineageResult]:
    """Run the lineage test of every reference against one suspect, batched.

    Parameters
    ----------
    suspect : RankedFingerprint
        The model under test.
    references : iterable of RankedFingerprint
        The candidates (e.g. registry entries), each made with the suspect's probe spec and width;
        consumed lazily, ``batch_size`` at a time, so a registry of any size fits in memory.
    alpha : float
        Significance level of each pair's verdict (not corrected for the number of references: see
        :mod:`seedprints.stats.multiple`).
    batch_size : int
        References per matrix product (memory grows as ``8 N d batch_size`` bytes).
    n_permutations, seed : int
        Monte Carlo relabellings per pair, as in :func:`~seedprints.stats.lineage.lineage_test`
        (default 0: the exact normal-tail p-value alone, which is what the verdict reads).
    progress : callable, optional
        Called with the number of references finished after each batch.
    form : {"auto", "product"}
        How each pair's sums are formed: "auto" takes the cheaper exact way (Gram matrices when N < 2 d and
        no Monte Carlo check runs), "product" always forms ``C`` (the engine before the Gram form, for benchmarks).

    Returns
    -------
    list of LineageResult
        One result per reference, in input order, equal to
        ``lineage_test_ranked(reference, suspect, alpha, n_permutations=..., seed=...)`` with the
        suspect's ``probe_hash`` filled in.

    Raises
    ------
    IncompatibleFingerprintsError
        A reference has another probe spec or shape than the suspect.
    InsufficientDataError
        Fewer than 20 probes or 8 dimensions.
    UsageError
        ``alpha`` outside (0, 1), negative ``n_permutations``, ``batch_size`` below 1 or an unknown ``form``.

    Examples
    --------
    >>> import numpy as np
    >>> from seedprints.encoding import RankedFingerprint
    >>> from seedprints.probes import token_spec
    >>> rng = np.random.default_rng(0)
    >>> def ranked(h):
    ...     ranks = np.argsort(np.argsort(h, axis=0), axis=0).astype(np.int32)
    ...     return RankedFingerprint(spec=token_spec(200, 8, 100), model_id="m", metadata={}, hidden_ranks=ranks)
    >>> base = rng.standard_normal((200, 32))
    >>> [r.verdict for r in scan(ranked(base + rng.standard_normal((200, 32))), [ranked(base), ranked(rng.standard_normal((200, 32)))])]
    ['same-lineage', 'independent']
    """
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1 (got {alpha})")
    if n_permutations < 0 or batch_size < 1:
        raise UsageError(f"n_permutations must be >= 0 and batch_size >= 1 (got {n_permutations} and {batch_size})")
    if form not in FORMS:
        raise UsageError(f"form must be one of {', '.join(FORMS)} (got {form!r})")
    n, d = suspect.hidden_ranks.shape
    if n < MIN_PROBES or d < MIN_DIMS:
        raise InsufficientDataError(f"{n} probes and {d} dimensions; the lineage test needs at least {MIN_PROBES} and {MIN_DIMS}")
    hidden_b = _standardised(suspect, logits=False)
    hidden_gram = _suspect_gram(hidden_b, form, n_permutations)
    scored = suspect.logit_ranks is not None and suspect.spec.scores_untrained_logits
    logits_b = _standardised(suspect, logits=True) if scored else None
    logits_gram = None if logits_b is None else _suspect_gram(logits_b, form, n_permutations)
    results: list[LineageResult] = []
    for batch in _batches(references, batch_size):
        for k, ref in enumerate(batch):
            _check_reference(ref, suspect, len(results) + k)
        hidden_parts = _part_tests(batch, hidden_b, hidden_gram, False, n_permutations, seed)
        vocab_parts = ([None] * len(batch) if logits_b is None else
                       _part_tests(batch, logits_b, logits_gram, True, n_permutations, seed + 1))
        for hidden, vocab in zip(hidden_parts, vocab_parts):
            result = combined_result(hidden, vocab, n=n, d=d, alpha=alpha, n_permutations=n_permutations, seed=seed)
            results.append(dataclasses.replace(with_vocab_note(result, suspect.spec), probe_hash=suspect.probe_hash))
        if progress is not None:
            progress(len(batch))
    return results
