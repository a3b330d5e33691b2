"""A registry scan in two stages: an exact test on the first probes of every entry, then the full test where it matters.

Stage 1 (:mod:`seedprints.search.screen`) tests every entry on its first :data:`~seedprints.search.screen.SCREEN_PROBES`
probes from data stored at registration, at ``O(n w + n^2)`` per entry. Stage 2 runs the full exact
test (:func:`seedprints.search.scan.scan`) on the entries stage 1 flags: those with a stage-1 p-value at most
:data:`SCREEN_P`, the ``keep`` strongest by stage 1 (so the listed candidates carry full-test numbers),
and any entry without stage-1 data.

An entry stage 1 does not flag is reported with p = 1 (its stage-1 z kept for ranking, ``n`` the
prefix's probes). Counting it so in Holm or Benjamini-Hochberg never rejects more than the full
scan: a flagged entry's p is the same as there, and an unflagged one cannot be rejected. The two
agree exactly whenever every entry the full scan rejects is flagged; stage 1 misses an entry only
when its evidence on the first probes is weak, which ``bench/bench_scan.py`` and the zoo measure.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Iterable, Iterator

from seedprints.encoding import RankedFingerprint
from seedprints.search.scan import scan
from seedprints.search.screen import SCREEN_PROBES, Screen, make_screen, screen_tests
from seedprints.stats.result import LineageResult

SCREEN_P = 0.001
SCREEN_LOG10_P = math.log10(SCREEN_P)


def screened_out(result: LineageResult) -> LineageResult:
    """A stage-1 result as an unflagged entry counts in the scan: p = 1, verdict independent, its z kept."""
    return dataclasses.replace(result, p_value=1.0, log10_p=0.0, verdict="independent",
                               details={**result.details, "screened_out": True})


def flagged(results: dict[str, LineageResult], keep: int) -> set[str]:
    """Names whose stage-1 p-value is at most :data:`SCREEN_P`, plus the ``keep`` strongest by stage 1."""
    strongest = sorted(results, key=lambda name: (results[name].log10_p, -results[name].z, name))[:keep]
    return {name for name, r in results.items() if r.log10_p <= SCREEN_LOG10_P} | set(strongest)


def staged_scan(
    suspect: RankedFingerprint,
    pages: Iterable[list[tuple[str, Screen | None]]],
    full: Callable[[list[str]], Iterator[tuple[str, RankedFingerprint]]],
    *,
    wanted: set[str],
    alpha: float,
    keep: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, LineageResult]:
    """Results by entry name for every name in ``wanted``: full tests of the flagged, :func:`screened_out` of the rest.

    ``pages`` yields the entries' stage-1 data a page at a time (None for an entry that has none);
    ``full(names)`` yields those entries' rank fingerprints, cut to the suspect's probes.
    """
    suspect_screen = make_screen(suspect, SCREEN_PROBES)
    vocab = suspect.logit_ranks is not None and suspect.spec.scores_untrained_logits
    stage1: dict[str, LineageResult] = {}
    untested: list[str] = []
    for page in pages:
        page = [(name, screen) for name, screen in page if name in wanted]
        untested += [name for name, screen in page if screen is None or suspect_screen is None]
        tested = [(name, screen) for name, screen in page if screen is not None and suspect_screen is not None]
        if tested:
            results = screen_tests(suspect_screen, [s for _, s in tested], vocab=vocab, alpha=alpha)
            stage1.update(zip((name for name, _ in tested), results))
    chosen = flagged(stage1, keep) | set(untested)
    out = {name: screened_out(r) for name, r in stage1.items() if name not in chosen}
    if progress is not None:
        progress(len(out))
    out.update(full_scan(suspect, full, sorted(chosen), alpha=alpha, progress=progress))
    return out


def full_scan(
    suspect: RankedFingerprint,
    full: Callable[[list[str]], Iterator[tuple[str, RankedFingerprint]]],
    names: list[str],
    *,
    alpha: float,
    progress: Callable[[int], None] | None = None,
) -> dict[str, LineageResult]:
    """The full exact test (:func:`seedprints.search.scan.scan`) of each of ``names`` against the suspect, by name."""
    listed: list[str] = []

    def references() -> Iterator[RankedFingerprint]:
        for name, ranked in full(names):
            listed.append(name)
            yield ranked

    results = scan(suspect, references(), alpha, progress=progress)
    return dict(zip(listed, results))
