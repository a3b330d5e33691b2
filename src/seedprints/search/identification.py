"""Identify a suspect model against a registry: which registered model (or init seed) does it descend from?

(Named ``identification`` so that a package can export the function ``identify``: a submodule of the same
name would replace that attribute once imported.) The result types are in :mod:`~seedprints.search.results`,
the plan (what the suspect is tested with, against which entries) in :mod:`~seedprints.search.planning`, and
the looks that run the scan in :mod:`~seedprints.search.looks`.

The suspect is tested against every entry made with the same probes and hidden size, in two stages
per probe spec (:mod:`seedprints.search.staged_scan`: an exact test on the first probes of every entry, the
full test of those it flags and of the strongest; one batched full scan with early stopping);
entries that cannot be tested are skipped and counted by reason. Candidates are ranked by evidence, and since one scan runs many tests, each
candidate also gets Holm (family-wise) and Benjamini-Hochberg (false discovery rate) adjusted
p-values over all tests run; the verdict reads the Holm-adjusted one.

With a budget the tests read only the first probes (row prefixes of generated probes); with early
stopping the scan is repeated on growing prefixes (the look schedule of
:class:`seedprints.stats.sequential.SequentialDesign`), a model directory is extracted in rounds
(:class:`seedprints.rounds.ModelRounds`), and the scan stops once it is decided.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from seedprints.errors import IncompatibleFingerprintsError, RegistryError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.naming import setting
from seedprints.options import ProbeOptions, RunOptions
from seedprints.registry import Registry
from seedprints.search import index
from seedprints.search.looks import bundle_evidence, ranked_candidates, run_looks, screen_notes, sequential_summary
from seedprints.search.planning import Cut, suspect_plan
from seedprints.reports.words import skip_reason
from seedprints.search.results import DEFAULT_TOP, Candidate, Evidence, IdentifyResult
from seedprints.stats.lineage import MIN_PROBES
from seedprints.stats.notes import vocab_part_note
from seedprints.stats.result import plain_json
from seedprints.stats.sequential import DEFAULT_FIRST_LOOK, SequentialDesign

__all__ = ["DEFAULT_TOP", "Candidate", "Evidence", "IdentifyResult", "identify"]


def identify(
    suspect: Fingerprint | str | Path,
    registry: Registry | str | Path,
    *,
    top: int | None = DEFAULT_TOP,
    alpha: float = 0.01,
    options: ProbeOptions | None = None,
    run: RunOptions | None = None,
    progress: bool = False,
    keep_evidence: bool = False,
    budget: int | None = None,
    early_stop: bool = False,
) -> IdentifyResult:
    """Test a suspect against every compatible registry entry and rank the candidates.

    Parameters
    ----------
    suspect : Fingerprint, or path to a fingerprint file or a model directory
        A model directory is fingerprinted with each probe spec present in the registry that it can
        take (specs made from a probe file only with that file, via ``options.probe_file``).
    registry : Registry, str or Path
        An open registry, or where one is (which must exist): a SQLite file, or a ``postgresql://`` URL.
    top : int or None
        Candidates to return (None: all); the adjusted p-values always correct for every test run.
    alpha : float
        Level of the verdicts (Holm for ``verdict``, Benjamini-Hochberg for ``bh_verdict``).
    options : ProbeOptions, optional
        Only ``probe_file`` is read: the file for entries made from a probe file.
    run : RunOptions, optional
        How a model directory is loaded and run (device, dtype, batch size, trust settings, progress).
    progress : bool
        Show a progress bar over the registry scan on stderr.
    keep_evidence : bool
        Keep what an evidence bundle embeds in ``result.evidence`` (the suspect's fingerprints and the
        listed candidates' entries and tests). Every entry then gets the full test (no stage 1), so that
        each listed candidate's test is one a verifier can recompute.
    budget : int, optional
        Test on the first ``budget`` probes only: a model directory is fingerprinted with N =
        ``budget``, entries and fingerprint files are cut to row prefixes (exactly the fingerprints of
        the same probes with N = ``budget``). Entries whose probes have no prefix (probe files) are
        skipped. Default: every probe of the entries.
    early_stop : bool
        Scan at 25, 50, 100, ... probes up to the budget (:meth:`SequentialDesign.doubling`), a model
        directory extracted in rounds, and stop once the best candidate is Holm-significant at the
        look's level ``w_k * alpha`` (same-lineage), once every entry is below the design's futility
        bound, or at the budget. Holm keeps the chance of any false same-lineage at a look below
        ``w_k * alpha`` and the ``w_k`` sum to at most 1, so over all looks and entries it stays at
        most ``alpha`` (union bound). The candidates are those of the stopping look, their verdicts at
        its level (``result.sequential["level"]``).

    Returns
    -------
    IdentifyResult
        Ranked candidates with raw, Holm- and BH-adjusted p-values, the number tested, the skip counts;
        the scan is also recorded in the registry's log (``scan_id``).

    Raises
    ------
    RegistryError
        The registry does not exist, is not ours, is empty, or an entry is corrupt.
    IncompatibleFingerprintsError
        The suspect's probe spec matches no entry (the message lists the specs present), or no entry
        could be tested.
    UsageError
        ``alpha`` outside (0, 1), ``top`` below 1, ``budget`` below the test's minimum of probes, or,
        with ``early_stop``, below the first look.

    Examples
    --------
    >>> from seedprints.search.identification import identify
    >>> result = identify("suspect.fp.safetensors", "refs.db")              # doctest: +SKIP
    >>> result.best.name, result.best.p_holm, result.best.verdict          # doctest: +SKIP
    ('llama-2-7b', 0.0, 'same-lineage')
    >>> result = identify("./suspect-model", "refs.db", budget=2000, early_stop=True)  # doctest: +SKIP
    >>> result.sequential["stop"], result.sequential["probes"]                          # doctest: +SKIP
    ('same-lineage', 25)
    """
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1 (got {alpha})")
    if top is not None and top < 1:
        raise UsageError(f"top must be at least 1 (got {top})")
    if budget is not None and budget < (DEFAULT_FIRST_LOOK if early_stop else MIN_PROBES):
        raise UsageError(
            f"budget of {budget} probes is below the first look of early stopping ({DEFAULT_FIRST_LOOK} probes); "
            f"raise {setting('budget')} or drop {setting('early_stop', True)}" if early_stop else
            f"budget of {budget} probes is too small; the lineage test needs at least {MIN_PROBES}"
        )
    cut = Cut(budget, early_stop)
    with contextlib.ExitStack() as stack:
        reg = registry if isinstance(registry, Registry) else stack.enter_context(index.Registry.open(registry, create=False))
        reg.check_intact()  # a damaged registry refuses the scan log written at the end: say so before the tests run
        specs = reg.probe_specs()
        if not specs:
            raise RegistryError(f"registry {reg.path} has no entries; add references with `seedprints registry add`")
        label = suspect.model_id if isinstance(suspect, Fingerprint) else str(suspect)
        plan = suspect_plan(suspect, reg, specs, label, options, run or RunOptions(), cut)
        skipped = {reason: count for reason, count in plan.skipped.items() if count}
        if not any(plan.names.values()):
            reasons = ", ".join(f"{count} {skip_reason(reason)}" for reason, count in skipped.items())
            raise IncompatibleFingerprintsError(
                f"no entry of registry {reg.path} could be tested against {label} ({reasons}); "
                + (f"drop {setting('budget')} and {setting('early_stop', True)}, or " if "no_prefix" in skipped else "")
                + "register references of the suspect's hidden size"
            )
        for probe_hash, names in plan.names.items():
            note = vocab_part_note(specs[probe_hash][0]) if names else None
            if note:
                plan.notes.append(f"{len(names)} entries of probes {probe_hash}: {note}")
        rows = max(plan.rows[h] for h, names in plan.names.items() if names)
        if budget is not None and budget > rows:
            plan.notes.append(f"the entries hold at most {rows} probes, fewer than the budget of {budget}; tested on {rows}")
        design = SequentialDesign.doubling(rows, alpha) if early_stop else SequentialDesign((rows,), alpha, (1.0,))
        keep = None if early_stop or keep_evidence else top or DEFAULT_TOP
        found = run_looks(reg, plan, design, progress and not plan.extracts, keep)
        plan.notes += screen_notes(found.tested)
        sequential = sequential_summary(found, design, plan) if early_stop else None
        candidates = ranked_candidates(found.tested, design.weights[found.index] * alpha)
        settings = {"alpha": alpha, "top": top, "tested": len(found.tested), "skipped": skipped,
                    "probe_hashes": sorted(plan.suspects), "method": "lineage", "budget": budget,
                    "early_stop": early_stop}
        if sequential is not None:
            settings["sequential"] = plain_json(sequential)
        scan_id = reg.record_scan(label, settings, [c.to_dict() for c in candidates])
        listed = candidates[:top] if top else candidates
        return IdentifyResult(
            suspect=label, registry=str(reg.path), candidates=listed, tested=len(found.tested),
            skipped=skipped, alpha=alpha, probe_hashes=sorted(plan.suspects), notes=plan.notes, scan_id=scan_id,
            budget=None if budget is None else rows, sequential=sequential,
            evidence=bundle_evidence(reg, found, listed) if keep_evidence else None,
        )
