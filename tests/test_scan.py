"""Tests of seedprints.search.scan: the batched scan gives each pair's lineage_test_ranked numbers exactly."""

from __future__ import annotations

import numpy as np
import pytest

from seedprints.encoding import rank_fingerprint
from seedprints.errors import IncompatibleFingerprintsError, InsufficientDataError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.probes import ProbeSpec, token_spec
from seedprints.search import scan as scan_module
from seedprints.search.scan import scan
from seedprints.stats.lineage import lineage_test_ranked

N, D, M = 120, 24, 10
RARE_SPEC = ProbeSpec(kind="token", n=N, length=8, vocab_bound=100, input_tokens=tuple(range(0, 40, 2)),
                      output_tokens=tuple(range(1, 1 + 2 * M, 2)), untrained_from=1)
NUMBERS = ("z", "log10_p", "tau_mean")


def ranked(hidden, logits=None, spec=RARE_SPEC, name="m"):
    return rank_fingerprint(Fingerprint(hidden=np.asarray(hidden, np.float32), spec=spec, model_id=name, logits=logits))


def family(rng, count, *, logits=True, ties=False):
    """A parent, a noisy child and unrelated models; ``ties`` repeats probes, so every column has tied ranks."""
    parent = rng.standard_normal((N, D))
    parent_logits = rng.standard_normal((N, M))
    models = [(parent, parent_logits), (parent + rng.standard_normal((N, D)), parent_logits + rng.standard_normal((N, M)))]
    models += [(rng.standard_normal((N, D)), rng.standard_normal((N, M))) for _ in range(count - 2)]
    out = []
    for i, (h, lg) in enumerate(models):
        if ties:
            h = h.copy()
            h[10:20] = h[:10]
        out.append(ranked(h, lg.astype(np.float32) if logits else None, RARE_SPEC if logits else token_spec(N, 8, 100), f"m{i}"))
    return out


def assert_same_as_pairwise(results, refs, suspect, **settings):
    assert len(results) == len(refs)
    for got, ref in zip(results, refs):
        want = lineage_test_ranked(ref, suspect, **settings)
        assert got.verdict == want.verdict and got.k == want.k and got.n == want.n
        for field in NUMBERS:
            np.testing.assert_allclose(getattr(got, field), getattr(want, field), rtol=1e-10, atol=1e-12)
        assert got.details.keys() == want.details.keys()
        for key, value in want.details.items():
            if isinstance(value, str):  # the note of a test without a vocab part
                assert got.details[key] == value
            else:
                np.testing.assert_allclose(got.details[key], value, rtol=1e-10, atol=1e-12, err_msg=key)
        assert got.settings == want.settings and got.probe_hash == suspect.probe_hash


class TestScan:
    @pytest.mark.parametrize("batch_size", [1, 3, 16])
    def test_equals_pairwise_tests_with_logits(self, batch_size):
        refs = family(np.random.default_rng(0), 7)
        suspect = refs[1]
        results = scan(suspect, refs, batch_size=batch_size)
        assert_same_as_pairwise(results, refs, suspect, n_permutations=0)
        assert [r.verdict for r in results[:2]] == ["same-lineage"] * 2

    @pytest.mark.parametrize("ties", [False, True])
    def test_fewer_probes_than_twice_the_width_take_the_gram_form_with_the_same_numbers(self, ties, monkeypatch):
        rng = np.random.default_rng(5)
        n, d = 60, 80
        spec = token_spec(n, 8, 100)
        base = rng.standard_normal((n, d))
        states = [base + noise * rng.standard_normal((n, d)) for noise in (1.0, 0.0, 2.0, 8.0)] + [rng.standard_normal((n, d))]
        suspect, *refs = [ranked(np.round(h) if ties else h, spec=spec, name=f"m{i}") for i, h in enumerate(states)]
        used = []
        monkeypatch.setattr(scan_module, "_gram_tests", lambda *args, real=scan_module._gram_tests: used.append(1) or real(*args))
        results = scan(suspect, refs)
        assert used and [r.verdict for r in results[:2]] == ["same-lineage"] * 2
        assert_same_as_pairwise(results, refs, suspect, n_permutations=0)
        assert [r.log10_p for r in scan(suspect, refs, form="product")] == pytest.approx([r.log10_p for r in results], rel=1e-10)

    def test_equals_pairwise_tests_without_logits_and_with_ties(self):
        # Repeated probes tie within columns: those references take the exact tie-aware scores.
        refs = family(np.random.default_rng(1), 5, logits=False, ties=True)
        assert (refs[0].hidden_ranks.sum(axis=0) < N * (N - 1) // 2).any()
        assert_same_as_pairwise(scan(refs[1], refs, alpha=0.05), refs, refs[1], alpha=0.05, n_permutations=0)

    def test_constant_columns(self):
        # A dead dimension has all ranks tied: its scores are zeros on both paths.
        rng = np.random.default_rng(2)
        h = rng.standard_normal((N, D))
        h[:, 3] = 1.0
        refs = [ranked(h, rng.standard_normal((N, M)).astype(np.float32)), family(rng, 3)[2]]
        assert_same_as_pairwise(scan(refs[1], refs), refs, refs[1], n_permutations=0)

    def test_monte_carlo_p_values_match(self):
        refs = family(np.random.default_rng(3), 4)
        results = scan(refs[0], refs, n_permutations=99, seed=5, batch_size=3)
        assert_same_as_pairwise(results, refs, refs[0], n_permutations=99, seed=5)
        assert "hidden_p_permutation" in results[0].details

    def test_lazy_input_and_progress(self):
        refs = family(np.random.default_rng(4), 5)
        done = []
        results = scan(refs[0], iter(refs), batch_size=2, progress=done.append)
        assert done == [2, 2, 1] and len(results) == 5
        assert scan(refs[0], []) == []


class TestScanBadInput:
    def test_reference_with_other_probes(self):
        rng = np.random.default_rng(5)
        refs = family(rng, 3)
        other = ranked(rng.standard_normal((N, D)), rng.standard_normal((N, M)).astype(np.float32),
                       ProbeSpec(**{**RARE_SPEC.__dict__, "seed": 7}))
        with pytest.raises(IncompatibleFingerprintsError, match="reference 3 .* probe spec"):
            scan(refs[0], refs + [other])

    def test_reference_of_other_width(self):
        rng = np.random.default_rng(6)
        narrow = ranked(rng.standard_normal((N, D - 4)), rng.standard_normal((N, M)).astype(np.float32))
        with pytest.raises(IncompatibleFingerprintsError, match="equal widths"):
            scan(family(rng, 2)[0], [narrow])

    def test_too_small(self):
        spec = token_spec(10, 8, 100)
        tiny = ranked(np.random.default_rng(7).standard_normal((10, D)), spec=spec)
        with pytest.raises(InsufficientDataError, match="at least 20"):
            scan(tiny, [tiny])

    @pytest.mark.parametrize(
        "kwargs", [{"alpha": 0.0}, {"alpha": 1.0}, {"n_permutations": -1}, {"batch_size": 0}, {"form": "gram"}]
    )
    def test_bad_settings(self, kwargs):
        refs = family(np.random.default_rng(8), 2)
        with pytest.raises(UsageError):
            scan(refs[0], refs, **kwargs)
