"""Stage 1 of a registry scan: the exact lineage test on the first probes, from data stored at registration.

On ``n`` probes with standardised rank scores ``A`` (reference) and ``B`` (suspect), every number the
permutation null reads has a form cheaper than the ``w x w`` matrix ``C = A^T B / n``:

- ``sum(C^2) = <A A^T, B B^T> / n^2``, the inner product of the two ``n x n`` probe Gram matrices;
- the squared row sums of ``C`` add up to ``u^T (A A^T) u / n^2`` with ``u = B 1``, the column sums'
  to ``v^T (B B^T) v / n^2`` with ``v = A 1``, and ``sum(C) = v . u / n``;
- ``trace(C)`` is a column-wise dot product of the two rank matrices (exact in integers).

So a pair costs ``O(n w + n^2)`` instead of ``O(n w^2)``. A registry stores, per entry and per tested
matrix (hidden states, and untrained-token logits), the doubled average ranks of the first ``n``
probes re-ranked among themselves (uint8), each column's scale, the upper triangle of the Gram
matrix and its row sums: a :class:`Screen`. :func:`screen_tests` gives, for many entries at once, the
same numbers as :func:`seedprints.stats.lineage.lineage_test_ranked` on the entries' ``n``-probe
prefixes (to rounding).
"""

from __future__ import annotations

import dataclasses
import struct

import numpy as np

from seedprints.encoding import RankedFingerprint
from seedprints.errors import FingerprintFormatError
from seedprints.stats.lineage import MIN_DIMS, MIN_PROBES, combined_result, sums_test
from seedprints.stats.ranks import rank_columns
from seedprints.stats.result import LineageResult

SCREEN_PROBES = 128  # doubled 0-based average ranks of 128 probes fit a uint8 (at most 254)
_HEADER = struct.Struct("<8sIIII")  # magic, version, n, d, m: 24 bytes, so the float arrays after it stay 8-byte aligned
_MAGIC = b"SPSCREEN"
_VERSION = 1


@dataclasses.dataclass(frozen=True)
class ScreenPart:
    """One matrix (hidden states or logits) on the prefix: what stage 1 reads of it.

    ``ranks2`` are the doubled 0-based average ranks ``[n, w]`` (uint8), ``scale`` each column's
    ``1 / sd`` of its ranks (0 for a constant column), ``gram`` the upper triangle of ``A A^T`` of the
    standardised scores ``A`` and ``rowsum`` is ``A 1``.
    """

    ranks2: np.ndarray
    scale: np.ndarray
    gram: np.ndarray
    rowsum: np.ndarray

    def scores(self) -> np.ndarray:
        """The standardised rank scores ``A`` ``[n, w]``."""
        n = self.ranks2.shape[0]
        return (self.ranks2 / 2.0 - (n - 1) / 2.0) * self.scale


@dataclasses.dataclass(frozen=True)
class Screen:
    """Stage-1 data of one fingerprint: its hidden part and, when logits were recorded, its logit part."""

    hidden: ScreenPart
    logits: ScreenPart | None

    @property
    def n(self) -> int:
        """Probes of the prefix."""
        return int(self.hidden.ranks2.shape[0])


def _part(ranks: np.ndarray, n: int) -> ScreenPart:
    """The screen part of the first ``n`` rows of a min-rank matrix, re-ranked among themselves."""
    ranks2 = np.ascontiguousarray(2 * (rank_columns(ranks[:n], "average") - 1), dtype=np.uint8)  # row-major
    centred = ranks2 / 2.0 - (n - 1) / 2.0
    sd = np.sqrt((centred**2).mean(axis=0))
    scale = np.divide(1.0, sd, out=np.zeros_like(sd), where=sd > 0)
    scores = centred * scale
    return ScreenPart(ranks2=ranks2, scale=scale, gram=(scores @ scores.T)[np.triu_indices(n)], rowsum=scores.sum(axis=1))


def make_screen(ranked: RankedFingerprint, n: int = SCREEN_PROBES) -> Screen | None:
    """The stage-1 data of ``ranked`` on its first ``n`` probes; None when it holds no more than ``n`` probes."""
    if ranked.n <= n or ranked.hidden_size < MIN_DIMS:
        return None
    logits = None if ranked.logit_ranks is None or ranked.logit_ranks.shape[1] < MIN_DIMS else _part(ranked.logit_ranks, n)
    return Screen(hidden=_part(ranked.hidden_ranks, n), logits=logits)


def encode_screen(screen: Screen) -> bytes:
    """The stored bytes of ``screen``: a header, then per part its ranks, scales, Gram triangle and row sums."""
    m = 0 if screen.logits is None else screen.logits.ranks2.shape[1]
    out = [_HEADER.pack(_MAGIC, _VERSION, screen.n, screen.hidden.ranks2.shape[1], m)]
    for part in (screen.hidden, screen.logits):
        if part is not None:
            out += [part.ranks2.tobytes(), part.scale.astype("<f8").tobytes(), part.gram.astype("<f8").tobytes(),
                    part.rowsum.astype("<f8").tobytes()]
    return b"".join(out)


def decode_screen(blob: bytes) -> Screen:
    """Parse :func:`encode_screen`'s bytes; FingerprintFormatError when they are not exactly that."""
    if len(blob) < _HEADER.size:
        raise FingerprintFormatError("stage-1 data is truncated")
    magic, version, n, d, m = _HEADER.unpack_from(blob)
    sizes = [_part_size(n, w) for w in (d, m) if w]
    if magic != _MAGIC or version != _VERSION or not MIN_PROBES <= n <= SCREEN_PROBES or len(blob) != _HEADER.size + sum(sizes):
        raise FingerprintFormatError("stage-1 data is damaged (bad header or length)")
    start = _HEADER.size
    parts = []
    for w, size in zip((d, m), sizes):
        parts.append(_read_part(memoryview(blob)[start:start + size], n, w))
        start += size
    return Screen(hidden=parts[0], logits=parts[1] if len(parts) > 1 else None)


def _part_size(n: int, w: int) -> int:
    return n * w + 8 * (w + n * (n + 1) // 2 + n)


def _read_part(data: memoryview, n: int, w: int) -> ScreenPart:
    ranks2 = np.frombuffer(data, np.uint8, n * w).reshape(n, w)
    floats = np.frombuffer(data, "<f8", offset=n * w)
    return ScreenPart(ranks2=ranks2, scale=floats[:w], gram=floats[w:w + n * (n + 1) // 2], rowsum=floats[-n:])


class _SuspectPart:
    """What a batch of pairs reads of the suspect's part: its ranks, scales, Gram and row sums, arranged for products."""

    def __init__(self, part: ScreenPart) -> None:
        n = part.ranks2.shape[0]
        upper = np.triu_indices(n)
        weights = np.where(upper[0] == upper[1], 1.0, 2.0)  # off-diagonal cells count twice in <G_A, G_B>
        gram = np.zeros((n, n))
        gram[upper] = part.gram
        gram = gram + np.triu(gram, 1).T
        u = part.rowsum
        self.n = n
        self.ranks2 = part.ranks2.astype(np.uint16)
        self.scale = part.scale
        self.gram = gram
        self.u = u
        self.against_gram = np.stack([part.gram * weights, np.outer(u, u)[upper] * weights], axis=1)


def _part_tests(refs: list[ScreenPart], sus: _SuspectPart) -> list[dict[str, float]]:
    """The :func:`~seedprints.stats.lineage.correlation_matrix_test` numbers of each reference part against the suspect's.

    The rank products are exact integers: doubled ranks are at most 254, so a product fits a uint16 and a
    column's 128 of them an int32.
    """
    n = sus.n
    w = sus.scale.shape[0]
    mu2 = n * ((n - 1) / 2.0) ** 2
    out = []
    for ref in refs:
        products = (ref.ranks2 * sus.ranks2).sum(axis=0, dtype=np.int32)  # each product fits uint16: 254^2 < 2^16
        statistic = float(ref.scale @ (sus.scale * (products / 4.0 - mu2))) / n
        sum_sq, row_sq = ref.gram @ sus.against_gram / n**2  # sum(C^2), squared row sums
        total = float(ref.rowsum @ sus.u) / n
        col_sq = float(ref.rowsum @ sus.gram @ ref.rowsum) / n**2
        out.append(sums_test(statistic, total, sum_sq, row_sq, col_sq, w))
    return out


def screen_tests(suspect: Screen, references: list[Screen], *, vocab: bool, alpha: float) -> list[LineageResult]:
    """Stage-1 lineage tests of each reference against the suspect (``vocab``: also the untrained-token logit part).

    Every screen must have the suspect's prefix length and widths (the caller picks entries of its spec and shape).
    """
    if not references:
        return []
    n, d = suspect.n, suspect.hidden.ranks2.shape[1]
    hidden = _part_tests([r.hidden for r in references], _SuspectPart(suspect.hidden))
    use_vocab = vocab and suspect.logits is not None
    logits = _part_tests([r.logits for r in references], _SuspectPart(suspect.logits)) if use_vocab else [None] * len(hidden)
    return [combined_result(h, v, n=n, d=d, alpha=alpha, n_permutations=0, seed=0) for h, v in zip(hidden, logits)]
