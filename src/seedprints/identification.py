"""Identify a suspect model against a registry: which registered model (or init seed) does it descend from?

(Named ``identification`` so that the package can export the function ``seedprints.identify``: a
submodule of the same name would replace that attribute once imported.)

The suspect is tested against every entry made with the same probes and hidden size, in two stages
per probe spec (:mod:`seedprints.staged_scan`: an exact test on the first probes of every entry, the
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

import collections
import contextlib
import dataclasses
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from seedprints.encoding import RankedFingerprint, rank_fingerprint
from seedprints.errors import IncompatibleFingerprintsError, RegistryError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.naming import setting
from seedprints.options import ProbeOptions, RunOptions
from seedprints.probes import Probes, ProbeSpec, load_probe_file
from seedprints.progress import progress_bar
from seedprints.registry import Registry, RegistryEntry
from seedprints.screen import SCREEN_PROBES
from seedprints.staged_scan import full_scan, staged_scan
from seedprints.stats.lineage import MIN_PROBES, vocab_part_note
from seedprints.stats.multiple import bh_log10, holm_log10
from seedprints.stats.result import LineageResult, Verdict, plain_json, verdict_for
from seedprints.stats.sequential import DEFAULT_FIRST_LOOK, STOP_BUDGET, STOP_FUTILITY, STOP_SAME, SequentialDesign

DEFAULT_TOP = 10
FILE_KINDS = ("token-file", "text-file")
_MAX_LISTED_SPECS = 5


def skip_reason(reason: str) -> str:
    """Why registry entries were skipped (a key of :attr:`IdentifyResult.skipped`), in words that name settings as
    the caller writes them (``budget=`` from Python, ``--budget`` on the CLI)."""
    words = {
        "probe_spec": "made with other probes",
        "hidden_size": "of another hidden size",
        "probe_file": f"made from a probe file (pass it with {setting('probe_file')})",
        "model_cannot_take_probes": "with probes the model cannot take (token ids beyond its vocabulary, or another width)",
        "no_prefix": "made with probes that have no prefix (probe files, torch-generated): drop "
                     f"{setting('budget')} and {setting('early_stop', True)}",
    }
    return words.get(reason, reason.replace("_", " "))



@dataclasses.dataclass(frozen=True)
class Candidate:
    """One registry entry tested against the suspect.

    Attributes
    ----------
    name, model_id : str
        The entry's name and the model it was made from.
    tags : dict of str to str
        The entry's tags (family, seed, ...).
    p_value, log10_p : float
        The pair's own lineage-test p-value (as in ``seedprints compare``) and its exact log10.
    p_holm, log10_p_holm : float
        Holm-adjusted p-value over all tests of the scan: family-wise error control.
    p_bh, log10_p_bh : float
        Benjamini-Hochberg-adjusted p-value over all tests of the scan: false discovery rate control.
    z : float
        The pair's z (the larger of the hidden and untrained-token logit parts).
    tau_mean : float or None
        Mean same-index Spearman correlation of hidden dimensions.
    hidden_z, vocab_z : float, float or None
        The two parts of the default test (``vocab_z`` is None when no logits were recorded).
    verdict : {"same-lineage", "independent"}
        Same-lineage when ``p_holm < alpha`` (with early stopping: below the stopping look's level).
    bh_verdict : {"same-lineage", "independent"}
        Same-lineage when ``p_bh < alpha`` (with early stopping: below the stopping look's level).
    probe_hash : str
        The probe spec the pair shares.
    probes : int
        Probes the reported test read: all of them, or the first ``SCREEN_PROBES`` for an entry that stage 1
        of the scan cleared (its p-value then counts as 1, its z is stage 1's).
    """

    name: str
    model_id: str
    tags: dict[str, str]
    p_value: float
    log10_p: float
    p_holm: float
    log10_p_holm: float
    p_bh: float
    log10_p_bh: float
    z: float
    tau_mean: float | None
    hidden_z: float
    vocab_z: float | None
    verdict: Verdict
    bh_verdict: Verdict
    probe_hash: str
    probes: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; undefined values become None."""
        return plain_json(dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class Evidence:
    """What an evidence bundle of a scan embeds: the suspect's fingerprints and the listed candidates' tests.

    ``suspects`` maps probe hash to the suspect's fingerprint with that spec; ``entries`` and
    ``results`` map each listed candidate's name to its registry entry and its lineage test (run
    with the scan's settings, ``n_permutations=0``).
    """

    suspects: dict[str, Fingerprint]
    entries: dict[str, RankedFingerprint]
    results: dict[str, LineageResult]


@dataclasses.dataclass(frozen=True)
class IdentifyResult:
    """Outcome of :func:`identify`: candidates ranked by evidence, with adjusted p-values.

    Attributes
    ----------
    suspect : str
        The suspect as given (path, or model id of an in-memory fingerprint).
    registry : str
        Path of the registry scanned.
    candidates : list of Candidate
        The ``top`` strongest candidates, by log10 p ascending, then z descending.
    tested : int
        Tests run (the number the adjusted p-values correct for).
    skipped : dict of str to int
        Entries not tested, by reason (put in words by :func:`skip_reason`); reasons with no entry are left out.
    alpha : float
        Level of the verdicts.
    probe_hashes : list of str
        The probe specs the suspect was tested with.
    notes : list of str
        What a reader should know about the scan (e.g. probe specs that were skipped and why).
    scan_id : int or None
        Id of the scan in the registry's log.
    budget : int or None
        Most probes a test read (the requested budget, capped at the entries' probes); None without one.
    sequential : dict or None
        With early stopping: ``looks`` (n, best candidate, its log10 Holm p and the look's log10
        level, per look taken), ``stop`` (``"same-lineage"``, ``"futility"`` or ``"budget"``),
        ``probes`` and ``probe_tokens`` spent (summed over the suspect's probe specs), ``budget``,
        ``budget_tokens``, the spent ``level`` and ``log10_level`` the candidates' verdicts read,
        and ``design`` (:meth:`SequentialDesign.to_dict`). None without early stopping.
    evidence : Evidence or None
        With ``keep_evidence=True``: what an evidence bundle needs (left out of :meth:`to_dict`).
    """

    suspect: str
    registry: str
    candidates: list[Candidate]
    tested: int
    skipped: dict[str, int]
    alpha: float
    probe_hashes: list[str]
    notes: list[str] = dataclasses.field(default_factory=list)
    scan_id: int | None = None
    budget: int | None = None
    sequential: dict[str, Any] | None = None
    evidence: Evidence | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def best(self) -> Candidate | None:
        """The candidate with the strongest evidence (None when nothing was tested)."""
        return self.candidates[0] if self.candidates else None

    @property
    def statistic(self) -> float | None:
        """scipy-style: the best candidate's z."""
        return self.best.z if self.best else None

    @property
    def pvalue(self) -> float | None:
        """scipy-style: the best candidate's Holm-adjusted p-value."""
        return self.best.p_holm if self.best else None

    def __iter__(self):
        """Unpack as ``statistic, pvalue`` like scipy's result objects."""
        return iter((self.statistic, self.pvalue))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; undefined values become None, never NaN."""
        fields = dataclasses.asdict(dataclasses.replace(self, evidence=None))
        fields.pop("evidence")
        return plain_json(fields)


@dataclasses.dataclass
class _Plan:
    """What to test: by probe hash, the suspect's fingerprint on the first n probes, the rows usable and the entries."""

    suspects: dict[str, Callable[[int], Fingerprint]] = dataclasses.field(default_factory=dict)
    rows: dict[str, int] = dataclasses.field(default_factory=dict)
    names: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    notes: list[str] = dataclasses.field(default_factory=list)
    extracts: bool = False  # the suspect is extracted during the looks (its own progress bar replaces the scan's)


def _specs_text(specs: dict[str, tuple[ProbeSpec, int]]) -> str:
    listed = [f"{spec.describe()} ({count} entr{'y' if count == 1 else 'ies'})" for spec, count in specs.values()]
    more = len(listed) - _MAX_LISTED_SPECS
    return "; ".join(listed[:_MAX_LISTED_SPECS]) + (f"; and {more} more" if more > 0 else "")


def _model_takes(spec: ProbeSpec, shape: tuple[int, int | None]) -> bool:
    """Whether a model of ``(hidden_size, vocab_size)`` can run the probes of ``spec``."""
    hidden, vocab = shape
    if spec.kind == "embedding":
        return spec.hidden_size == hidden
    if spec.kind != "token" or vocab is None:
        return True
    used = [*(spec.input_tokens or ()), *(spec.output_tokens or ())]
    return (max(used) if used else (spec.vocab_bound or 0) - 1) < vocab


@dataclasses.dataclass(frozen=True)
class _Cut:
    """How much of each spec the tests read: at most ``budget`` probes, on growing prefixes with ``early_stop``."""

    budget: int | None = None
    early_stop: bool = False

    def rows(self, spec: ProbeSpec) -> int | None:
        """Probes of ``spec`` the tests read, or None when that needs a prefix the probes do not have."""
        n = min(self.budget, spec.n) if self.budget else spec.n
        smallest = min(DEFAULT_FIRST_LOOK, n) if self.early_stop else n
        return None if smallest < spec.n and not spec.extendable else n


def _prefixes(fp: Fingerprint) -> Callable[[int], Fingerprint]:
    """``n -> `` the fingerprint of the first n probes of ``fp``."""
    return lambda n: fp if n == fp.n else fp.prefix(n)


def _plan_for_model(
    model: Path, reg: Registry, specs: dict[str, tuple[ProbeSpec, int]], options: ProbeOptions | None,
    run: RunOptions, cut: _Cut,
) -> _Plan:
    """Fingerprint a model directory with every registry spec it can take and that has entries of its width.

    With early stopping, generated probes are extracted in rounds (only the rows a look needs), the
    model loaded once; otherwise the model is fingerprinted on the rows the test reads.
    """
    from seedprints import pipeline
    from seedprints.model.fit import read_model_shape
    from seedprints.rounds import ModelRounds

    shape = read_model_shape(model, trust_remote_code=run.trust_remote_code)
    file_probes = load_probe_file(options.probe_file) if options is not None and options.probe_file else None
    plan = _Plan()
    loaded: list[Any] = []
    for probe_hash, (spec, count) in specs.items():
        probes: ProbeSpec | Probes = spec
        if spec.kind in FILE_KINDS:
            if file_probes is None or file_probes.spec != spec:
                plan.skipped["probe_file"] += count
                plan.notes.append(f"skipped {count} entries made from a probe file ({spec.describe()}); pass that file "
                                  f"with {setting('probe_file')}")
                continue
            probes = file_probes
        if not _model_takes(spec, shape):
            plan.skipped["model_cannot_take_probes"] += count
            continue
        rows = cut.rows(spec)
        if rows is None:
            plan.skipped["no_prefix"] += count
            continue
        entries = reg.entries(probe_hash=probe_hash)
        same_width = [e.name for e in entries if e.hidden_size == shape[0]]
        plan.skipped["hidden_size"] += len(entries) - len(same_width)
        if not same_width:
            continue
        if cut.early_stop and spec.extendable:
            if not loaded:
                loaded.append(pipeline.load_model(model, run))
            plan.suspects[probe_hash] = ModelRounds(loaded[0], spec.with_n(rows), run,
                                                    probe_origin=f"registry {reg.path}").upto
            plan.extracts = True
        else:
            fp = pipeline.fingerprint_model(model, probes if rows == spec.n else spec.with_n(rows), run=run,
                                            probe_origin=f"registry {reg.path}")
            plan.suspects[probe_hash] = _prefixes(fp)
        plan.rows[probe_hash] = rows
        plan.names[probe_hash] = same_width
    if not plan.suspects and not plan.skipped["hidden_size"] and not plan.skipped["no_prefix"]:
        raise IncompatibleFingerprintsError(
            f"model {model} can take none of the probe specs in registry {reg.path}: {_specs_text(specs)}; "
            "register references made with probes this model can run"
        )
    return plan


def _plan_for_fingerprint(
    fp: Fingerprint, reg: Registry, specs: dict[str, tuple[ProbeSpec, int]], label: str, cut: _Cut
) -> _Plan:
    """Test a fingerprint (or its first probes) against the entries of its own probe spec; every other entry is skipped."""
    if fp.probe_hash not in specs:
        raise IncompatibleFingerprintsError(
            f"the probe spec of {label} ({fp.spec.describe()}) matches no entry of registry {reg.path}, which holds: "
            f"{_specs_text(specs)}; pass the suspect's model directory instead, and identify fingerprints it with "
            "the registry's specs"
        )
    plan = _Plan()
    plan.skipped["probe_spec"] = sum(count for h, (_, count) in specs.items() if h != fp.probe_hash)
    entries = reg.entries(probe_hash=fp.probe_hash)
    rows = cut.rows(fp.spec)
    if rows is None:
        plan.skipped["no_prefix"] = len(entries)
        return plan
    plan.names[fp.probe_hash] = [e.name for e in entries if e.hidden_size == fp.hidden_size]
    plan.suspects[fp.probe_hash] = _prefixes(fp)
    plan.rows[fp.probe_hash] = rows
    plan.skipped["hidden_size"] = len(entries) - len(plan.names[fp.probe_hash])
    return plan


@dataclasses.dataclass
class _Looks:
    """What the looks found: the tests and suspect fingerprints of the last look, and every look's summary."""

    tested: list[tuple[RegistryEntry, LineageResult]]
    suspects: dict[str, Fingerprint]
    looks: list[dict[str, Any]]
    stop: str
    index: int


def _scan_at(reg: Registry, plan: _Plan, n: int, alpha: float, advance: Callable[[int], None],
             suspects: dict[str, Fingerprint], keep: int | None) -> list[tuple[RegistryEntry, LineageResult]]:
    """Scan each suspect fingerprint on its first ``n`` probes (at most its usable rows) against its entries' prefixes.

    With ``keep`` (and more probes than stage 1 reads) the scan runs in two stages
    (:func:`seedprints.staged_scan.staged_scan`), the ``keep`` strongest entries of stage 1 always in full.
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
            found = staged_scan(suspect, reg.screens(probe_hash=probe_hash), full, wanted=set(names), alpha=alpha,
                                keep=keep, progress=advance)
        tested.extend((entries[name], found[name]) for name in names if name in found)
    return tested


def _run(reg: Registry, plan: _Plan, design: SequentialDesign, progress: bool, keep: int | None) -> _Looks:
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
            return _Looks(tested, dict(suspects), looks, stop, index)
    raise AssertionError("the last look always decides")


def _screen_notes(tested: list[tuple[RegistryEntry, LineageResult]]) -> list[str]:
    """A line saying how many entries stage 1 cleared (none when every entry had the full test)."""
    cleared = sum(1 for _, r in tested if r.details.get("screened_out"))
    if not cleared:
        return []
    return [f"{cleared} of {len(tested)} entries showed no sign of lineage on their first {SCREEN_PROBES} probes "
            "(stage 1) and count with p = 1 in Holm and BH; the others had the full test"]


def _candidates(tested: list[tuple[RegistryEntry, LineageResult]], level: float) -> list[Candidate]:
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


def _sequential_summary(found: _Looks, design: SequentialDesign, plan: _Plan) -> dict[str, Any]:
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
    >>> from seedprints.identification import identify
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
    cut = _Cut(budget, early_stop)
    with contextlib.ExitStack() as stack:
        reg = registry if isinstance(registry, Registry) else stack.enter_context(Registry.open(registry, create=False))
        reg.check_intact()  # a damaged registry refuses the scan log written at the end: say so before the tests run
        specs = reg.probe_specs()
        if not specs:
            raise RegistryError(f"registry {reg.path} has no entries; add references with `seedprints registry add`")
        label = suspect.model_id if isinstance(suspect, Fingerprint) else str(suspect)
        plan = _suspect_plan(suspect, reg, specs, label, options, run or RunOptions(), cut)
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
        found = _run(reg, plan, design, progress and not plan.extracts, keep)
        plan.notes += _screen_notes(found.tested)
        sequential = _sequential_summary(found, design, plan) if early_stop else None
        candidates = _candidates(found.tested, design.weights[found.index] * alpha)
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
            evidence=_evidence(reg, found, listed) if keep_evidence else None,
        )


def _evidence(reg: Registry, found: _Looks, listed: list[Candidate]) -> Evidence:
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


def _suspect_plan(
    suspect: Fingerprint | str | Path, reg: Registry, specs: dict[str, tuple[ProbeSpec, int]], label: str,
    options: ProbeOptions | None, run: RunOptions, cut: _Cut,
) -> _Plan:
    from seedprints import fingerprint as _fpfile
    from seedprints.pipeline import is_fingerprint_file

    if isinstance(suspect, Fingerprint):
        return _plan_for_fingerprint(suspect, reg, specs, label, cut)
    if is_fingerprint_file(suspect):
        return _plan_for_fingerprint(_fpfile.load(suspect), reg, specs, label, cut)
    return _plan_for_model(Path(suspect), reg, specs, options, run, cut)
