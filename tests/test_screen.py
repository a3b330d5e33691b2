"""Stage 1 of a registry scan: the prefix test from stored Gram matrices equals the pairwise test on that prefix."""

from __future__ import annotations

import numpy as np
import pytest

from seedprints.encoding import rank_fingerprint
from seedprints.errors import FingerprintFormatError
from seedprints.fingerprint import Fingerprint
from seedprints.probes import ProbeSpec, token_spec
from seedprints.search.screen import SCREEN_PROBES, decode_screen, encode_screen, make_screen, screen_tests
from seedprints.stats.lineage import lineage_test_ranked

N, D, M = 300, 40, 12
SPEC = ProbeSpec(kind="token", n=N, length=8, vocab_bound=1000, input_tokens=tuple(range(500, 540, 2)),
                 output_tokens=tuple(range(501, 501 + 2 * M, 2)), untrained_from=500)


def ranked(hidden, logits, name):
    logits = None if logits is None else np.asarray(logits, np.float32)
    spec = SPEC if logits is not None else token_spec(N, 8, 100)
    return rank_fingerprint(Fingerprint(hidden=np.asarray(hidden, np.float32), spec=spec, model_id=name, logits=logits))


def models(rng, *, logits=True, ties=False):
    """A suspect, then its parent, a weak relative, an unrelated model and (``ties``) rounded states full of ties."""
    base, base_logits = rng.standard_normal((N, D)), rng.standard_normal((N, M))
    pairs = [(base + rng.standard_normal((N, D)), base_logits + rng.standard_normal((N, M))),
             (base, base_logits), (base + 6 * rng.standard_normal((N, D)), base_logits + 6 * rng.standard_normal((N, M))),
             (rng.standard_normal((N, D)), rng.standard_normal((N, M)))]
    if ties:
        pairs = [(np.round(h), np.round(lg)) for h, lg in pairs]
    return [ranked(h, lg if logits else None, f"m{i}") for i, (h, lg) in enumerate(pairs)]


@pytest.mark.parametrize("logits", [True, False])
@pytest.mark.parametrize("ties", [False, True])
def test_stage1_equals_the_pairwise_test_on_the_prefix(logits, ties):
    suspect, *refs = models(np.random.default_rng(3), logits=logits, ties=ties)
    screens = [decode_screen(encode_screen(make_screen(r))) for r in refs]
    results = screen_tests(make_screen(suspect), screens, vocab=logits, alpha=0.01)
    for ref, got in zip(refs, results):
        want = lineage_test_ranked(ref.prefix(SCREEN_PROBES), suspect.prefix(SCREEN_PROBES), n_permutations=0)
        assert (got.n, got.verdict) == (SCREEN_PROBES, want.verdict)
        assert set(got.details) == set(want.details) - {"vocab_note"}
        for key, value in want.details.items():
            if isinstance(value, str):
                assert key == "vocab_note" or got.details[key] == value, key
            else:
                assert got.details[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
        assert got.log10_p == pytest.approx(want.log10_p, rel=1e-12)


def test_the_parent_stands_out_and_the_stranger_does_not():
    suspect, parent, _, stranger = models(np.random.default_rng(0))
    parent_result, stranger_result = screen_tests(make_screen(suspect), [make_screen(parent), make_screen(stranger)],
                                                  vocab=True, alpha=0.01)
    assert parent_result.verdict == "same-lineage" and stranger_result.verdict == "independent"


def test_a_d768_entry_grows_by_at_most_300_kb():
    rng = np.random.default_rng(0)
    item = rank_fingerprint(Fingerprint(hidden=rng.standard_normal((400, 768)).astype(np.float32), spec=SPEC.with_n(400),
                                        model_id="m", logits=rng.standard_normal((400, 128)).astype(np.float32)))
    assert len(encode_screen(make_screen(item))) <= 300_000


def test_an_entry_of_few_probes_has_no_stage1_data():
    item = ranked(np.random.default_rng(0).standard_normal((N, D)), None, "m")
    assert make_screen(item.prefix(SCREEN_PROBES)) is None and make_screen(item) is not None


@pytest.mark.parametrize("cut", [lambda b: b[:-1], lambda b: b"XXXXXXXX" + b[8:], lambda b: b[:10]])
def test_damaged_stage1_data_is_refused(cut):
    blob = encode_screen(make_screen(ranked(np.random.default_rng(0).standard_normal((N, D)), None, "m")))
    with pytest.raises(FingerprintFormatError, match="stage-1 data"):
        decode_screen(cut(blob))
