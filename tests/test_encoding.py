"""The compact rank encoding: lossless for the lineage test, compact, and strict about what it reads."""

from __future__ import annotations

import dataclasses
import struct

import numpy as np
import pytest

from seedprints.encoding import (
    MAGIC,
    RankedFingerprint,
    bits_per_rank,
    decode,
    encode,
    encoded_size,
    rank_fingerprint,
)
from seedprints.errors import FingerprintFormatError, NonFiniteHiddenStatesError
from seedprints.fingerprint import Fingerprint
from seedprints.probes import token_spec
from seedprints.stats.lineage import lineage_test, lineage_test_ranked, standardized_ranks
from .conftest import assert_close_results


def _fingerprint(seed: int, n: int = 60, d: int = 24, m: int = 0, ties: bool = False, base=None) -> Fingerprint:
    rng = np.random.default_rng(seed)
    hidden = rng.standard_normal((n, d)).astype(np.float32)
    if base is not None:
        hidden = (base.hidden + 0.5 * hidden).astype(np.float32)
    if ties:
        hidden = np.round(hidden * 2) / 2  # many exact ties, as an int4 model gives
    spec = token_spec(n=n, length=8, vocab_bound=1000)
    if m:
        spec = dataclasses.replace(spec, input_tokens=tuple(range(10, 40)), output_tokens=tuple(range(100, 100 + m)),
                                   untrained_from=100)
    logits = rng.standard_normal((n, m)).astype(np.float32) if m else None
    if base is not None and m:
        logits = (base.logits + 0.5 * logits).astype(np.float32)
    return Fingerprint(hidden=hidden, spec=spec, model_id=f"model-{seed}", metadata={"dtype": "float32"}, logits=logits)


@pytest.mark.parametrize("ties", [False, True])
def test_scores_equal_standardized_ranks_bit_for_bit(ties):
    fp = _fingerprint(1, ties=ties, m=12)
    for ranked in (decode(encode(fp)), rank_fingerprint(fp)):  # with the decoder's rank counts, and counted afresh
        assert np.array_equal(ranked.hidden_scores, standardized_ranks(fp.hidden.astype(np.float64)))
        assert np.array_equal(ranked.logit_scores, standardized_ranks(fp.logits.astype(np.float64)))


def test_ranked_test_gives_the_full_tests_numbers():
    ref = _fingerprint(2, m=12)
    child = _fingerprint(3, m=12, base=ref)
    for suspect in (child, _fingerprint(4, m=12)):
        full = lineage_test(ref.hidden, suspect.hidden, logits_ref=ref.logits, logits_suspect=suspect.logits)
        ranked = lineage_test_ranked(decode(encode(ref)), decode(encode(suspect)))
        assert_close_results(ranked.to_dict(), full.to_dict())
    assert lineage_test_ranked(decode(encode(ref)), decode(encode(child))).verdict == "same-lineage"


def test_round_trip_keeps_identity_and_bytes_are_deterministic():
    fp = _fingerprint(5)
    blob = encode(rank_fingerprint(fp, source_sha256="ab" * 32))
    back = decode(blob)
    assert isinstance(back, RankedFingerprint)
    assert (back.spec, back.model_id, back.metadata, back.source_sha256) == (fp.spec, fp.model_id, fp.metadata, "ab" * 32)
    assert encode(back) == blob
    assert len(blob) - struct.calcsize("<8sQ") - struct.unpack_from("<8sQ", blob)[1] == encoded_size(60, 24)


def test_size_of_a_7b_entry():
    assert bits_per_rank(2000) == 11
    assert encoded_size(2000, 4096, 128) == (2000 * 4096 * 11 + 7) // 8 + (2000 * 128 * 11 + 7) // 8


def test_non_finite_states_are_refused():
    fp = _fingerprint(6)
    fp.hidden[3, 2] = np.nan
    with pytest.raises(NonFiniteHiddenStatesError, match="NaN"):
        rank_fingerprint(fp)


def _with_header(blob: bytes, mutate) -> bytes:
    import json

    length = struct.unpack_from("<8sQ", blob)[1]
    header = json.loads(blob[16:16 + length])
    mutate(header)
    text = json.dumps(header).encode()
    return struct.pack("<8sQ", MAGIC, len(text)) + text + blob[16 + length:]


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda b: b[:10], "too short"),
        (lambda b: b"XXXXXXXX" + b[8:], "bad magic"),
        (lambda b: b[:8] + struct.pack("<Q", 1 << 40) + b[16:], "bad header length"),
        (lambda b: b[:-1], "truncated or padded"),
        (lambda b: b + b"\0", "truncated or padded"),
        (lambda b: _with_header(b, lambda h: h.update(n=10**12)), "expected an integer"),
        (lambda b: _with_header(b, lambda h: h.update(format="seedprints-ranks/9")), "upgrade seedprints"),
        (lambda b: _with_header(b, lambda h: h.update(bits=3)), "impossible shape"),
        (lambda b: _with_header(b, lambda h: h.update(metadata={"a": 1})), "wrong types"),
        (lambda b: _with_header(b, lambda h: h.update(spec="{}")), "bad probe spec"),
        (lambda b: b[:-8] + b"\xff" * 8, "corrupt"),
    ],
)
def test_corrupt_blobs_are_refused(corrupt, message):
    blob = encode(_fingerprint(7))
    with pytest.raises(FingerprintFormatError, match=message):
        decode(corrupt(blob), source="entry x")


def test_ranks_that_no_matrix_has_are_refused():
    ranked = rank_fingerprint(_fingerprint(8))
    bad = ranked.hidden_ranks.copy()
    bad[:, 0] = 5  # every row tied at rank 5: impossible, a full tie has min-rank 0
    blob = encode(RankedFingerprint(spec=ranked.spec, model_id="x", metadata={}, hidden_ranks=bad))
    with pytest.raises(FingerprintFormatError, match="no matrix can have"):
        decode(blob)
