"""Run the looks of an identification: scan the registry at each look (two stages where they apply), stop once one
decides, and turn the last look's tests into ranked candidates with Holm and Benjamini-Hochberg adjusted p-values."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterator

import numpy as np

from seedprints.encoding import RankedFingerprint, rank_fingerprint
from seedprints.fingerprint import Fingerprint
from seedprints.progress import progress_bar
from seedprints.registry import Registry, RegistryEntry
from seedprints.search.planning import Plan
from seedprints.search.results import Candidate, Evidence
from seedprints.search.index import screen_pages
from seedprints.search.screen import SCREEN_PROBES
from seedprints.search.staged_scan import full_scan, staged_scan
from seedprints.stats.multiple import bh_log10, holm_log10
from seedprints.stats.result import LineageResult, verdict_for
from seedprints.stats.sequential import STOP_BUDGET, STOP_FUTILITY, STOP_SAME, SequentialDesign


@dataclasses.dataclass
class Looks:
    """What the looks found: the tests and suspect fingerprints of the last look, and every look's summary."""

    tested: list[tuple[RegistryEntry, LineageResult]]
    suspects: dict[str, Fingerprint]
    looks: list[dict[str, Any]]
    stop: str
    index: int


def _scan_at(reg: Registry, plan: Plan, n: int, alpha: float, advance: Callable[[int], None],
             suspects: dict[str, Fingerprint], keep: int | None) -> list[tuple[RegistryEntry, LineageResult]]:
    """Scan each suspect fingerprint on its first ``n`` probes (at most its usable rows) against its entries' prefixes.

    With ``keep`` (and more probes than stage 1 reads) the scan runs in two stages
    (:func:`seedprints.search.staged_scan.staged_scan`), the ``keep`` strongest entries of stage 1 always in full.
    """
    tested: list[tuple[RegistryEntry, LineageResult]] = []
    for probe_hash, grow in plan.suspects.items():
        names = plan.names[probe_hash]
        entries = {e.name: e for e in reg.entries(probe_hash=probe_hash)}
        rows = min(n, plan.rows[probe_hash])
        suspects[probe_hash] = fp = grow(rows)
        suspect = rank_fingerprint(fp)

        def full(chosen: list[str], probe_hash: str = probe_hash, rows: int = rows,
                 everyone: int = len(entries)) -> Iterator[tuple[str, RankedFingerprint]]:
            for entry, ranked in reg.ranked(probe_hash=probe_hash, names=None if len(chosen) == everyone else chosen):
                yield entry.name, ranked if ranked.n == rows else ranked.prefix(rows)

        if keep is None or rows <= SCREEN_PROBES:
            found = full_scan(suspect, full, names, alpha=alpha, progress=advance)
        else:
            found = staged_scan(suspect, screen_pages(reg, probe_hash=probe_hash), full, wanted=set(names), alpha=alpha,
                                keep=keep, progress=advance)
        tested.extend((entries[name], found[name]) for name in names if name in found)
    return tested


def run_looks(reg: Registry, plan: Plan, design: SequentialDesign, progress: bool, keep: int | None) -> Looks:
    """Scan at each look of ``design`` until one decides; one consistent view of the registry throughout.

    ``keep``: scan in two stages, always testing the ``keep`` strongest entries of stage 1 in full (see :func:`_scan_at`).

    Look k rejects when the smallest Holm-adjusted p-value over every entry tested is below
    ``w_k * alpha``; with every entry below the design's futility bound it stops for "independent".
    """
    looks: list[dict[str, Any]] = []
    suspects: dict[str, Fingerprint] = {}
    total = sum(len(v) for v in plan.names.values()) * len(design.looks)
    with reg.snapshot(), progress_bar(progress, total, "scanning registry") as advance:
        for index, n in enumerate(design.looks):
            tested = _scan_at(reg, plan, n, design.alpha, advance, suspects, keep)
            holm = holm_log10(np.array([r.log10_p for _, r in tested]))
            best = int(np.argmin(holm))
            level = design.log10_levels[index]
            looks.append({"n": n, "best": tested[best][0].name, "log10_p_holm": float(holm[best]), "log10_level": level})
            if holm[best] < level:
                stop = STOP_SAME
            elif index == len(design.looks) - 1:
                stop = STOP_BUDGET
            elif all(r.z < design.futility_bound(index, 2 if "vocab_z" in r.details else 1) for _, r in tested):
                stop = STOP_FUTILITY
            else:
                continue
            return Looks(tested, dict(suspects), looks, stop, index)
    raise AssertionError("the last look always decides")


def screen_notes(tested: list[tuple[RegistryEntry, LineageResult]]) -> list[str]:
    """A line saying how many entries stage 1 cleared (none when every entry had the full test)."""
    cleared = sum(1 for _, r in tested if r.details.get("screened_out"))
    if not cleared:
        return []
    return [f"{cleared} of {len(tested)} entries showed no sign of lineage on their first {SCREEN_PROBES} probes "
            "(stage 1) and count with p = 1 in Holm and BH; the others had the full test"]


def ranked_candidates(tested: list[tuple[RegistryEntry, LineageResult]], level: float) -> list[Candidate]:
    """Every tested entry as a Candidate with adjusted p-values and verdicts at ``level``, strongest evidence first."""
    log10_p = np.array([r.log10_p for _, r in tested])
    holm, bh = holm_log10(log10_p), bh_log10(log10_p)
    out = [
        Candidate(
            name=entry.name, model_id=entry.model_id, tags=entry.tags, p_value=r.p_value, log10_p=r.log10_p,
            p_holm=10.0 ** float(h), log10_p_holm=float(h), p_bh=10.0 ** float(b), log10_p_bh=float(b), z=r.z,
            tau_mean=r.tau_mean, hidden_z=r.details["hidden_z"], vocab_z=r.details.get("vocab_z"), probes=r.n,
            verdict=verdict_for(float(h), level), bh_verdict=verdict_for(float(b), level), probe_hash=entry.probe_hash,
        )
        for (entry, r), h, b in zip(tested, holm, bh)
    ]
    return sorted(out, key=lambda c: (c.log10_p, -c.z, c.name))


def sequential_summary(found: Looks, design: SequentialDesign, plan: Plan) -> dict[str, Any]:
    """The ``sequential`` field of the result: looks taken, why it stopped, probes and tokens spent, the level spent."""
    spent = found.looks[-1]["n"]
    lengths = {h: fp.spec.length for h, fp in found.suspects.items()}
    level = design.weights[found.index] * design.alpha
    return {
        "looks": found.looks, "stop": found.stop, "probes": spent, "budget": design.budget,
        "probe_tokens": sum(min(spent, plan.rows[h]) * lengths[h] for h in lengths),
        "budget_tokens": sum(plan.rows[h] * lengths[h] for h in lengths),
        "level": level, "log10_level": design.log10_levels[found.index], "design": design.to_dict(),
    }




def bundle_evidence(reg: Registry, found: Looks, listed: list[Candidate]) -> Evidence:
    """The suspect fingerprints and the listed candidates' entries (cut to the probes tested) and tests, for a bundle."""
    names = {c.name for c in listed}
    results = {e.name: r for e, r in found.tested if e.name in names}
    entries: dict[str, RankedFingerprint] = {}
    for probe_hash, fp in found.suspects.items():
        wanted = sorted(c.name for c in listed if c.probe_hash == probe_hash)
        if wanted:
            entries.update((entry.name, ranked if ranked.n == fp.n else ranked.prefix(fp.n))
                           for entry, ranked in reg.ranked(probe_hash=probe_hash, names=wanted))
    return Evidence(suspects=dict(found.suspects), entries=entries, results=results)
