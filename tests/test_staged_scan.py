"""The two-stage scan: stage 1 on the first probes of every entry, the full test on those it flags; verdicts as the full scan's."""

from __future__ import annotations

import numpy as np
import pytest

from seedprints.encoding import rank_fingerprint
from seedprints.fingerprint import Fingerprint
from seedprints.search.identification import identify
from seedprints.probes import ProbeSpec
from seedprints.registry import Registry as StorageOnly
from seedprints.search.index import Registry  # stores the search index (stage-1 data) beside each entry
from seedprints.search.scan import scan
from seedprints.search.screen import SCREEN_PROBES, make_screen
from seedprints.search.staged_scan import SCREEN_LOG10_P, staged_scan
from seedprints.stats.multiple import bh_log10, holm_log10

N, D, M = 400, 32, 10
SPEC = ProbeSpec(kind="token", n=N, length=8, vocab_bound=1000, input_tokens=tuple(range(500, 540, 2)),
                 output_tokens=tuple(range(501, 501 + 2 * M, 2)), untrained_from=500)


def raw(h, lg, name):
    return Fingerprint(hidden=h.astype(np.float32), spec=SPEC, model_id=name, logits=lg.astype(np.float32))


def library(seed: int, count: int, noises: tuple[float, ...]):
    """The suspect (a Fingerprint) and ``count`` ranked entries: relatives of the suspect's parent at each noise level, then unrelated ones."""
    rng = np.random.default_rng(seed)
    base, base_logits = rng.standard_normal((N, D)), rng.standard_normal((N, M))

    def fp(h, lg, name):
        return rank_fingerprint(raw(h, lg, name))

    suspect = raw(base + rng.standard_normal((N, D)), base_logits + rng.standard_normal((N, M)), "suspect")
    entries = {f"rel{i}": fp(base + s * rng.standard_normal((N, D)), base_logits + s * rng.standard_normal((N, M)), f"rel{i}")
               for i, s in enumerate(noises)}
    entries.update({f"x{i:03d}": fp(rng.standard_normal((N, D)), rng.standard_normal((N, M)), f"x{i}")
                    for i in range(count - len(noises))})
    return suspect, entries


def run_both(suspect_fp, entries, keep=3):
    suspect = rank_fingerprint(suspect_fp)
    names = sorted(entries)
    full = dict(zip(names, scan(suspect, [entries[n] for n in names])))
    pages = [[(n, make_screen(entries[n])) for n in names[i:i + 7]] for i in range(0, len(names), 7)]
    staged = staged_scan(suspect, pages, lambda chosen: ((n, entries[n]) for n in chosen), wanted=set(names),
                         alpha=0.01, keep=keep)
    return names, full, staged


def verdicts(names, results, adjust):
    return adjust(np.array([results[n].log10_p for n in names])) < np.log10(0.01)


@pytest.mark.parametrize("seed", range(4))
def test_verdicts_equal_the_full_scan(seed):
    names, full, staged = run_both(*library(seed, 60, noises=(0.5, 1.5, 3.0, 4.0)))
    for adjust in (holm_log10, bh_log10):
        np.testing.assert_array_equal(verdicts(names, staged, adjust), verdicts(names, full, adjust))
    assert any(verdicts(names, full, holm_log10))


def test_flagged_entries_carry_the_full_numbers_and_the_rest_count_as_one():
    names, full, staged = run_both(*library(0, 40, noises=(1.0,)), keep=2)
    tested_in_full = [n for n in names if not staged[n].details.get("screened_out")]
    assert "rel0" in tested_in_full and len(tested_in_full) >= 2
    for name in names:
        if name in tested_in_full:
            # the staged scan tests flagged entries in smaller batches, so its Gram products take other BLAS paths
            assert staged[name].log10_p == pytest.approx(full[name].log10_p, rel=1e-12, abs=1e-12)
            assert staged[name].n == N
        else:
            assert (staged[name].p_value, staged[name].n, staged[name].verdict) == (1.0, SCREEN_PROBES, "independent")


def test_stage1_can_only_lose_rejections_never_add_them():
    """With relatives too weak for the first probes, the staged scan rejects a subset of what the full scan rejects."""
    for seed in range(3):
        names, full, staged = run_both(*library(seed, 50, noises=(6.0, 7.0, 8.0, 9.0)), keep=0)
        for adjust in (holm_log10, bh_log10):
            assert not (verdicts(names, staged, adjust) & ~verdicts(names, full, adjust)).any()


def test_an_entry_without_stage1_data_gets_the_full_test():
    suspect_fp, entries = library(1, 10, noises=())
    suspect = rank_fingerprint(suspect_fp)
    names = sorted(entries)
    pages = [[(n, None if n == "x003" else make_screen(entries[n])) for n in names]]
    staged = staged_scan(suspect, pages, lambda chosen: ((n, entries[n]) for n in chosen), wanted=set(names), alpha=0.01, keep=0)
    assert staged["x003"].n == N
    assert sum(1 for r in staged.values() if r.n == N) == 1 + sum(1 for r in staged.values() if r.log10_p <= SCREEN_LOG10_P)


def test_identify_scans_in_two_stages_with_the_full_scans_verdicts(tmp_path):
    suspect, entries = library(2, 30, noises=(1.0, 3.0))
    with Registry.open(tmp_path / "r.db") as reg:
        for name, item in entries.items():
            reg.add(item, name=name)
    result = identify(suspect, tmp_path / "r.db", top=None)
    names = sorted(entries)
    full = dict(zip(names, scan(rank_fingerprint(suspect), [entries[n] for n in names])))
    want = dict(zip(names, verdicts(names, full, holm_log10)))
    assert {c.name: c.verdict == "same-lineage" for c in result.candidates} == want
    assert result.candidates[0].name == "rel0" and result.candidates[0].probes == N
    assert any(c.probes == SCREEN_PROBES for c in result.candidates) and any("stage 1" in note for note in result.notes)


def test_entries_stored_without_the_search_index_get_the_full_test(tmp_path):
    suspect, entries = library(2, 10, noises=(1.0, 3.0))
    with StorageOnly.open(tmp_path / "r.db") as reg:  # the registry alone makes no index
        for name, item in entries.items():
            reg.add(item, name=name)
    result = identify(suspect, tmp_path / "r.db", top=None)
    assert all(c.probes == N for c in result.candidates) and not any("stage 1" in note for note in result.notes)
    assert result.candidates[0].name == "rel0" and result.candidates[0].verdict == "same-lineage"


def test_identify_for_an_evidence_bundle_tests_every_entry_in_full(tmp_path):
    suspect, entries = library(3, 20, noises=(1.0,))
    with Registry.open(tmp_path / "r.db") as reg:
        for name, item in entries.items():
            reg.add(item, name=name)
    result = identify(suspect, tmp_path / "r.db", top=None, keep_evidence=True)
    assert {c.probes for c in result.candidates} == {N} and not result.notes
