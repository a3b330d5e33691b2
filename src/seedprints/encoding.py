"""Compact, lossless encoding of what the default lineage test reads from a fingerprint.

The ``lineage`` test sees a fingerprint only through the ranks, over probes, of each row-standardised
hidden dimension and of each recorded logit column (:func:`seedprints.stats.ranks.standardized_ranks`),
each group of probes ranked on its own after the parts that carry nothing were left out
(:func:`seedprints.stats.lineage.prepare`).
An encoded fingerprint stores exactly those ranks as bit-packed 0-based *min*-ranks
(``ceil(log2 N)`` bits each; a tie group's average rank is its min-rank plus half its size minus
one), so a decoded entry's rank scores equal the full matrix's bit for bit, and a test on it gives the
full test's numbers up to the order in which BLAS sums them (the last digits, on some CPUs).

Layout: ``b"SPRANKS1"``, a little-endian uint64 header length, a JSON header (sorted keys: format,
spec, model_id, metadata, n, d, m, bits, source_sha256), then the packed hidden ranks and the packed
logit ranks, each row-major. Paper mode reads raw values and cannot run on an encoded entry.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import struct
from typing import Any

import numpy as np

from seedprints.errors import FingerprintFormatError, NonFiniteHiddenStatesError, SeedprintsError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.naming import setting
from seedprints.probes import ProbeSpec
from seedprints.stats.lineage import prepare
from seedprints.stats.ranks import grouped_ranks, rank_columns, row_standardized, scores_from_ranks

MAGIC = b"SPRANKS1"
FORMAT = "seedprints-ranks/1"
MAX_HEADER_BYTES = 1 << 20
MAX_ROWS = 10_000_000
MAX_COLUMNS = 1_000_000
_PREFIX = struct.Struct("<8sQ")


@dataclasses.dataclass(frozen=True, eq=False)
class RankedFingerprint:
    """A fingerprint reduced to the ranks the lineage test reads.

    Attributes
    ----------
    spec : ProbeSpec
        The probes that produced the rows.
    model_id : str
        Where the model came from.
    metadata : dict of str to str
        The source fingerprint's other header fields.
    hidden_ranks : numpy.ndarray
        int32 ``[N, d]`` 0-based min-ranks over probes of the row-standardised hidden states.
    logit_ranks : numpy.ndarray or None
        int32 ``[N, m]`` 0-based min-ranks of the recorded logits.
    source_sha256 : str or None
        SHA-256 of the fingerprint file's bytes it was made from, when known.
    rank_counts : tuple of numpy.ndarray or None
        ``(hidden, logits)`` counts of each rank per column (``[d, N]``, ``[m, N]``), when already known:
        :func:`decode` counts them to validate the ranks, and the scores reuse them instead of recounting.
    """

    spec: ProbeSpec
    model_id: str
    metadata: dict[str, str]
    hidden_ranks: np.ndarray
    logit_ranks: np.ndarray | None = None
    source_sha256: str | None = None
    rank_counts: tuple[np.ndarray, np.ndarray | None] | None = dataclasses.field(default=None, repr=False)

    @property
    def n(self) -> int:
        """Number of probes (rows)."""
        return int(self.hidden_ranks.shape[0])

    @property
    def hidden_size(self) -> int:
        """Width d of the hidden states."""
        return int(self.hidden_ranks.shape[1])

    @property
    def probe_hash(self) -> str:
        """Hash of the probe spec."""
        return self.spec.hash

    @functools.cached_property
    def hidden_scores(self) -> np.ndarray:
        """float64 ``[N, d]`` standardised ranks, equal to ``standardized_ranks(fingerprint.hidden)``."""
        counts = None if self.rank_counts is None else self.rank_counts[0]
        return scores_from_ranks(_average_ranks(self.hidden_ranks, counts), self.spec.row_groups())

    @functools.cached_property
    def logit_scores(self) -> np.ndarray | None:
        """float64 ``[N, m]`` standardised ranks of the recorded logits, or None."""
        if self.logit_ranks is None:
            return None
        counts = None if self.rank_counts is None else self.rank_counts[1]
        return scores_from_ranks(_average_ranks(self.logit_ranks, counts), self.spec.row_groups())

    def prefix(self, n: int) -> "RankedFingerprint":
        """The entry of the first ``n`` probes, exactly as ranking the source fingerprint's first ``n`` rows gives.

        Row-standardisation is per row and ranking is monotone, so the min-ranks of a row prefix are
        the min-ranks of the stored ranks restricted to those rows. What :func:`seedprints.stats.lineage.prepare`
        left out was decided on all the rows held, and stays left out in the prefix. Raises UsageError when ``n``
        exceeds the rows held or the probes have no prefix property (file probes).
        """
        spec = self.spec.with_n(n)
        if not 1 <= n <= self.n:
            raise UsageError(f"cannot take {n} probes of an entry of {self.n}; use at most {self.n}")
        logits = None if self.logit_ranks is None else _min_ranks(self.logit_ranks[:n])
        return RankedFingerprint(spec=spec, model_id=self.model_id, metadata=dict(self.metadata),
                                 hidden_ranks=_min_ranks(self.hidden_ranks[:n]), logit_ranks=logits)


def rank_fingerprint(fp: Fingerprint, *, source_sha256: str | None = None) -> RankedFingerprint:
    """Reduce ``fp`` to its ranks; NaN or Inf anywhere is refused (ranks of NaN mean nothing)."""
    for name, matrix in (("hidden states", fp.hidden), ("logits", fp.logits)):
        if matrix is not None and not np.isfinite(matrix).all():
            raise NonFiniteHiddenStatesError(
                f"the {name} of {fp.model_id} contain NaN/Inf; re-extract with {setting('dtype', 'float32')} (or bfloat16)"
            )
    groups = fp.spec.row_groups()
    prepared = prepare(fp.hidden, fp.logits, groups)
    hidden = _grouped_min_ranks(prepared.hidden, groups)
    logits = None if prepared.logits is None else _grouped_min_ranks(row_standardized(prepared.logits), groups)
    return RankedFingerprint(
        spec=fp.spec, model_id=fp.model_id, metadata=dict(fp.metadata), hidden_ranks=hidden, logit_ranks=logits,
        source_sha256=source_sha256,
    )


def encode(item: Fingerprint | RankedFingerprint) -> bytes:
    """The compact bytes of ``item`` (deterministic: the same ranks always give the same bytes)."""
    ranked = item if isinstance(item, RankedFingerprint) else rank_fingerprint(item)
    n, d = ranked.hidden_ranks.shape
    m = 0 if ranked.logit_ranks is None else ranked.logit_ranks.shape[1]
    bits = bits_per_rank(n)
    header = {
        "format": FORMAT, "spec": ranked.spec.to_json(), "model_id": ranked.model_id,
        "metadata": dict(sorted(ranked.metadata.items())), "n": n, "d": d, "m": m, "bits": bits,
        "source_sha256": ranked.source_sha256,
    }
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    body = _pack(ranked.hidden_ranks, bits)
    if ranked.logit_ranks is not None:
        body += _pack(ranked.logit_ranks, bits)
    return _PREFIX.pack(MAGIC, len(text)) + text + body


def decode(blob: bytes, *, source: str = "registry entry") -> RankedFingerprint:
    """Parse bytes made by :func:`encode`, checking every field and length before unpacking anything."""
    header = _parse_header(blob, source)
    n, d, m, bits = header["n"], header["d"], header["m"], header["bits"]
    start = _PREFIX.size + header["_length"]
    hidden_bytes, logit_bytes = _packed_size(n * d, bits), _packed_size(n * m, bits)
    if len(blob) - start != hidden_bytes + logit_bytes:
        raise FingerprintFormatError(
            f"{source} is truncated or padded ({len(blob) - start} data bytes, expected {hidden_bytes + logit_bytes})"
        )
    hidden = _unpack(blob[start:start + hidden_bytes], n, d, bits)
    logits = _unpack(blob[start + hidden_bytes:], n, m, bits) if m else None
    counts = (_checked_counts(hidden, source), None if logits is None else _checked_counts(logits, source))
    return RankedFingerprint(
        spec=header["_spec"], model_id=header["model_id"], metadata=header["metadata"], hidden_ranks=hidden,
        logit_ranks=logits, source_sha256=header.get("source_sha256"), rank_counts=counts,
    )


def bits_per_rank(n: int) -> int:
    """Bits per stored 0-based rank for ``n`` probes."""
    return max(1, (n - 1).bit_length())


def encoded_size(n: int, d: int, m: int = 0) -> int:
    """Bytes of the packed ranks of an ``[n, d]`` fingerprint with ``m`` logit columns (header excluded)."""
    bits = bits_per_rank(n)
    return _packed_size(n * d, bits) + _packed_size(n * m, bits)


def _min_ranks(matrix: np.ndarray) -> np.ndarray:
    return (rank_columns(matrix, "min") - 1).astype(np.int32)


def _grouped_min_ranks(matrix: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """0-based min-ranks with each row group ranked on its own (:func:`seedprints.stats.ranks.grouped_ranks`)."""
    return (grouped_ranks(matrix, groups, "min") - 1).astype(np.int32)


def _average_ranks(min_ranks: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """1-based average ranks from 0-based min-ranks: a tie group's min-rank + 1 + (its size - 1) / 2.

    ``counts`` (from :func:`_column_counts`) is recounted when not given; without ties (the usual case
    for float32 states) every group has size 1 and the look-up of group sizes is skipped.
    """
    counts = _column_counts(min_ranks) if counts is None else counts
    if counts.size == 0 or int(counts.max()) <= 1:
        return min_ranks + 1.0
    n, d = min_ranks.shape
    tie_sizes = counts.reshape(-1)[min_ranks + np.arange(d) * n]
    return min_ranks + 1.0 + (tie_sizes - 1) * 0.5


def _column_counts(min_ranks: np.ndarray) -> np.ndarray:
    """``counts[j, v]`` = how many rows of column j hold rank v (flattened as one bincount)."""
    n, d = min_ranks.shape
    return np.bincount((min_ranks + np.arange(d) * n).ravel(), minlength=n * d).reshape(d, n)


def _packed_size(values: int, bits: int) -> int:
    return (values * bits + 7) // 8


def _pack(ranks: np.ndarray, bits: int) -> bytes:
    values = np.ascontiguousarray(ranks, dtype=np.uint32).reshape(-1)
    bit_matrix = ((values[:, None] >> np.arange(bits, dtype=np.uint32)) & 1).astype(np.uint8)
    return np.packbits(bit_matrix.reshape(-1), bitorder="little").tobytes()


def _unpack(data: bytes, n: int, columns: int, bits: int) -> np.ndarray:
    """Inverse of :func:`_pack`, eight values at a time: eight ``bits``-bit values fill exactly ``bits`` bytes."""
    count = n * columns
    groups = -(-count // 8)
    raw = np.zeros((groups, bits + 4), dtype=np.uint32)
    padded = np.zeros(groups * bits, dtype=np.uint8)
    padded[:len(data)] = np.frombuffer(data, dtype=np.uint8)
    raw[:, :bits] = padded.reshape(groups, bits)
    values = np.empty((groups, 8), dtype=np.uint32)
    mask = np.uint32((1 << bits) - 1)
    for j in range(8):
        byte, shift = divmod(j * bits, 8)
        word = raw[:, byte] | raw[:, byte + 1] << 8 | raw[:, byte + 2] << 16 | raw[:, byte + 3] << 24
        values[:, j] = (word >> np.uint32(shift)) & mask
    return values.reshape(-1)[:count].astype(np.int32).reshape(n, columns)


def _checked_counts(ranks: np.ndarray, source: str) -> np.ndarray:
    """Each rank's count per column, after checking that every column is a valid min-rank vector.

    Valid means: each value v that occurs has exactly v smaller entries.
    """
    n = ranks.shape[0]
    if ranks.size and int(ranks.max()) >= n:
        raise FingerprintFormatError(f"{source} holds a rank beyond its {n} probes; the data is corrupt")
    counts = _column_counts(ranks)
    below = np.cumsum(counts, axis=1) - counts
    if not ((below == np.arange(n)) | (counts == 0)).all():
        raise FingerprintFormatError(f"{source} holds ranks that no matrix can have; the data is corrupt")
    return counts


def _parse_header(blob: bytes, source: str) -> dict[str, Any]:
    not_ours = f"{source} is not an encoded seedprints fingerprint"
    if not isinstance(blob, (bytes, bytearray, memoryview)) or len(blob) < _PREFIX.size:
        raise FingerprintFormatError(f"{not_ours} (too short)")
    magic, length = _PREFIX.unpack_from(blob)
    if magic != MAGIC:
        raise FingerprintFormatError(f"{not_ours} (bad magic bytes)")
    if length > min(MAX_HEADER_BYTES, len(blob) - _PREFIX.size):
        raise FingerprintFormatError(f"{not_ours} (bad header length)")
    try:
        header = json.loads(bytes(blob[_PREFIX.size:_PREFIX.size + length]))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FingerprintFormatError(f"{not_ours} (header is not JSON)") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else None
        raise FingerprintFormatError(f"{source} has format {found!r}; this seedprints reads {FORMAT!r}: upgrade seedprints")
    limits = {"n": MAX_ROWS, "d": MAX_COLUMNS, "m": MAX_COLUMNS, "bits": 32}
    for key, limit in limits.items():
        value = header.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not (0 <= value <= limit):
            raise FingerprintFormatError(f"{source}: header field {key!r} is {value!r}, expected an integer in 0..{limit}")
    if header["n"] < 1 or header["d"] < 1 or header["bits"] != bits_per_rank(header["n"]):
        raise FingerprintFormatError(f"{source}: impossible shape or rank width in the header; the data is corrupt")
    text_fields = {"model_id": header.get("model_id"), "spec": header.get("spec")}
    metadata, digest = header.get("metadata"), header.get("source_sha256")
    if (
        not all(isinstance(v, str) for v in text_fields.values())
        or not (isinstance(metadata, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()))
        or not (digest is None or isinstance(digest, str))
    ):
        raise FingerprintFormatError(f"{source}: header fields have the wrong types; the data is corrupt")
    try:
        spec = ProbeSpec.from_json(header["spec"])
    except (SeedprintsError, TypeError, ValueError) as exc:
        raise FingerprintFormatError(f"{source}: bad probe spec in the header ({exc})") from exc
    expected_m = len(spec.output_tokens) if spec.output_tokens else 0
    if spec.n != header["n"] or expected_m != header["m"]:
        raise FingerprintFormatError(f"{source}: the shape does not match its probe spec; the data is corrupt")
    return {**header, "_spec": spec, "_length": length}
