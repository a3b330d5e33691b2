"""Identify a suspect model against a registry: which registered model (or init seed) does it descend from?

(Named ``identification`` so that the package can export the function ``seedprints.identify``: a
submodule of the same name would replace that attribute once imported.)

The suspect is tested against every entry made with the same probes and hidden size (one batched
scan per probe spec, :func:`seedprints.scan.scan`); entries that cannot be tested are skipped and
counted by reason. Candidates are ranked by evidence, and since one scan runs many tests, each
candidate also gets Holm (family-wise) and Benjamini-Hochberg (false discovery rate) adjusted
p-values over all tests run; the verdict reads the Holm-adjusted one.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from seedprints.encoding import RankedFingerprint, rank_fingerprint
from seedprints.errors import IncompatibleFingerprintsError, RegistryError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.probes import Probes, ProbeSpec, load_probe_file
from seedprints.registry import Registry, RegistryEntry
from seedprints.scan import scan
from seedprints.stats.multiple import bh_log10, holm_log10
from seedprints.stats.result import LineageResult, Verdict, _plain, verdict_for

DEFAULT_TOP = 10
FILE_KINDS = ("token-file", "text-file")
SKIP_REASONS = {
    "probe_spec": "made with other probes",
    "hidden_size": "of another hidden size",
    "probe_file": "made from a probe file (pass it with --probe-file)",
    "model_cannot_take_probes": "with probes the model cannot take (token ids beyond its vocabulary, or another width)",
}
_MAX_LISTED_SPECS = 5

if TYPE_CHECKING:
    from seedprints.api import ProbeOptions


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
        The pair's z (the larger of the hidden and rare-token logit parts).
    tau_mean : float or None
        Mean same-index Spearman correlation of hidden dimensions.
    hidden_z, vocab_z : float, float or None
        The two parts of the default test (``vocab_z`` is None when no logits were recorded).
    verdict : {"same-lineage", "independent"}
        Same-lineage when ``p_holm < alpha``.
    bh_verdict : {"same-lineage", "independent"}
        Same-lineage when ``p_bh < alpha``.
    probe_hash : str
        The probe spec the pair shares.
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

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; undefined values become None."""
        return _plain(dataclasses.asdict(self))


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
        Entries not tested, by reason (keys of ``SKIP_REASONS``); reasons with no entry are left out.
    alpha : float
        Level of the verdicts.
    probe_hashes : list of str
        The probe specs the suspect was tested with.
    notes : list of str
        What a reader should know about the scan (e.g. probe specs that were skipped and why).
    scan_id : int or None
        Id of the scan in the registry's log.
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
        return _plain(fields)


@dataclasses.dataclass
class _Plan:
    """What to test: suspect fingerprints by probe hash, the entries to test with each, and the skip counts."""

    suspects: dict[str, Fingerprint] = dataclasses.field(default_factory=dict)
    names: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    notes: list[str] = dataclasses.field(default_factory=list)


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


def _plan_for_model(
    model: Path, reg: Registry, specs: dict[str, tuple[ProbeSpec, int]], options: ProbeOptions | None, kwargs: dict[str, Any]
) -> _Plan:
    """Fingerprint a model directory with every registry spec it can take and that has entries of its width."""
    from seedprints import api, extract

    shape = extract.read_model_shape(model, trust_remote_code=bool(kwargs.get("trust_remote_code")))
    file_probes = load_probe_file(options.probe_file) if options is not None and options.probe_file else None
    plan = _Plan()
    for probe_hash, (spec, count) in specs.items():
        probes: ProbeSpec | Probes = spec
        if spec.kind in FILE_KINDS:
            if file_probes is None or file_probes.spec != spec:
                plan.skipped["probe_file"] += count
                plan.notes.append(f"skipped {count} entries made from a probe file ({spec.describe()}); pass that file with --probe-file")
                continue
            probes = file_probes
        if not _model_takes(spec, shape):
            plan.skipped["model_cannot_take_probes"] += count
            continue
        entries = reg.entries(probe_hash=probe_hash)
        same_width = [e.name for e in entries if e.hidden_size == shape[0]]
        plan.skipped["hidden_size"] += len(entries) - len(same_width)
        if same_width:
            plan.suspects[probe_hash] = api.fingerprint_model(model, probes, **kwargs)
            plan.names[probe_hash] = same_width
    if not plan.suspects and not plan.skipped["hidden_size"]:
        raise IncompatibleFingerprintsError(
            f"model {model} can take none of the probe specs in registry {reg.path}: {_specs_text(specs)}; "
            "register references made with probes this model can run"
        )
    return plan


def _plan_for_fingerprint(fp: Fingerprint, reg: Registry, specs: dict[str, tuple[ProbeSpec, int]], label: str) -> _Plan:
    """Test a fingerprint against the entries of its own probe spec; every other entry is skipped."""
    if fp.probe_hash not in specs:
        raise IncompatibleFingerprintsError(
            f"the probe spec of {label} ({fp.spec.describe()}) matches no entry of registry {reg.path}, which holds: "
            f"{_specs_text(specs)}; pass the suspect's model directory instead, and identify fingerprints it with "
            "the registry's specs"
        )
    plan = _Plan()
    entries = reg.entries(probe_hash=fp.probe_hash)
    plan.names[fp.probe_hash] = [e.name for e in entries if e.hidden_size == fp.hidden_size]
    plan.suspects[fp.probe_hash] = fp
    plan.skipped["hidden_size"] = len(entries) - len(plan.names[fp.probe_hash])
    plan.skipped["probe_spec"] = sum(count for h, (_, count) in specs.items() if h != fp.probe_hash)
    return plan


@contextlib.contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar over registry entries on stderr; yields ``advance(count)``."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("scanning registry"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("entries", total=total)
        yield lambda count: bar.advance(task, count)


def _run(reg: Registry, plan: _Plan, alpha: float, progress: bool) -> list[tuple[RegistryEntry, LineageResult]]:
    """Scan each suspect fingerprint against its entries; one consistent view of the registry throughout."""
    tested: list[tuple[RegistryEntry, LineageResult]] = []
    with reg.snapshot(), _progress(progress, sum(len(v) for v in plan.names.values())) as advance:
        for probe_hash, fp in plan.suspects.items():
            names = plan.names[probe_hash]
            everyone = len(names) == len(reg.entries(probe_hash=probe_hash))
            entries: list[RegistryEntry] = []

            def references(names: list[str] = names, everyone: bool = everyone) -> Iterator[RankedFingerprint]:
                for entry, ranked in reg.ranked(probe_hash=probe_hash, names=None if everyone else names):
                    entries.append(entry)
                    yield ranked

            results = scan(rank_fingerprint(fp), references(), alpha, progress=advance)
            tested.extend(zip(entries, results))
    return tested


def _candidates(tested: list[tuple[RegistryEntry, LineageResult]], alpha: float) -> list[Candidate]:
    """Every tested entry as a Candidate with adjusted p-values, strongest evidence first."""
    log10_p = np.array([r.log10_p for _, r in tested])
    holm, bh = holm_log10(log10_p), bh_log10(log10_p)
    out = [
        Candidate(
            name=entry.name, model_id=entry.model_id, tags=entry.tags, p_value=r.p_value, log10_p=r.log10_p,
            p_holm=10.0 ** float(h), log10_p_holm=float(h), p_bh=10.0 ** float(b), log10_p_bh=float(b), z=r.z,
            tau_mean=r.tau_mean, hidden_z=r.details["hidden_z"], vocab_z=r.details.get("vocab_z"),
            verdict=verdict_for(float(h), alpha), bh_verdict=verdict_for(float(b), alpha), probe_hash=entry.probe_hash,
        )
        for (entry, r), h, b in zip(tested, holm, bh)
    ]
    return sorted(out, key=lambda c: (c.log10_p, -c.z, c.name))


def identify(
    suspect: Fingerprint | str | Path,
    registry: Registry | str | Path,
    *,
    top: int | None = DEFAULT_TOP,
    alpha: float = 0.01,
    options: ProbeOptions | None = None,
    fingerprint_kwargs: dict[str, Any] | None = None,
    progress: bool = False,
    keep_evidence: bool = False,
) -> IdentifyResult:
    """Test a suspect against every compatible registry entry and rank the candidates.

    Parameters
    ----------
    suspect : Fingerprint, or path to a fingerprint file or a model directory
        A model directory is fingerprinted with each probe spec present in the registry that it can
        take (specs made from a probe file only with that file, via ``options.probe_file``).
    registry : Registry, str or Path
        An open registry, or the path of one (which must exist).
    top : int or None
        Candidates to return (None: all); the adjusted p-values always correct for every test run.
    alpha : float
        Level of the verdicts (Holm for ``verdict``, Benjamini-Hochberg for ``bh_verdict``).
    options : ProbeOptions, optional
        Only ``probe_file`` is read: the file for entries made from a probe file.
    fingerprint_kwargs : dict, optional
        Forward-pass settings for a model directory (device, dtype, batch_size, trust_remote_code, progress).
    progress : bool
        Show a progress bar over the registry scan on stderr.
    keep_evidence : bool
        Keep what an evidence bundle embeds in ``result.evidence`` (the suspect's fingerprints and the
        listed candidates' entries and tests).

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
        ``alpha`` outside (0, 1) or ``top`` below 1.

    Examples
    --------
    >>> from seedprints.identification import identify
    >>> result = identify("suspect.fp.safetensors", "refs.db")              # doctest: +SKIP
    >>> result.best.name, result.best.p_holm, result.best.verdict          # doctest: +SKIP
    ('llama-2-7b', 0.0, 'same-lineage')
    """
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1 (got {alpha})")
    if top is not None and top < 1:
        raise UsageError(f"top must be at least 1 (got {top})")
    with contextlib.ExitStack() as stack:
        reg = registry if isinstance(registry, Registry) else stack.enter_context(Registry.open(Path(registry), create=False))
        specs = reg.probe_specs()
        if not specs:
            raise RegistryError(f"registry {reg.path} has no entries; add references with `seedprints registry add`")
        label = suspect.model_id if isinstance(suspect, Fingerprint) else str(suspect)
        plan = _suspect_plan(suspect, reg, specs, label, options, fingerprint_kwargs or {})
        tested = _run(reg, plan, alpha, progress)
        skipped = {reason: count for reason, count in plan.skipped.items() if count}
        if not tested:
            reasons = ", ".join(f"{count} {SKIP_REASONS[reason]}" for reason, count in skipped.items())
            raise IncompatibleFingerprintsError(
                f"no entry of registry {reg.path} could be tested against {label} ({reasons}); "
                "register references of the suspect's hidden size"
            )
        candidates = _candidates(tested, alpha)
        settings = {"alpha": alpha, "top": top, "tested": len(tested), "skipped": skipped,
                    "probe_hashes": sorted(plan.suspects), "method": "lineage"}
        scan_id = reg.record_scan(label, settings, [c.to_dict() for c in candidates])
        listed = candidates[:top] if top else candidates
        return IdentifyResult(
            suspect=label, registry=str(reg.path), candidates=listed, tested=len(tested),
            skipped=skipped, alpha=alpha, probe_hashes=sorted(plan.suspects), notes=plan.notes, scan_id=scan_id,
            evidence=_evidence(reg, plan, tested, listed) if keep_evidence else None,
        )


def _evidence(reg: Registry, plan: _Plan, tested: list[tuple[RegistryEntry, LineageResult]],
              listed: list[Candidate]) -> Evidence:
    """The suspect fingerprints, and the listed candidates' entries and tests, for an evidence bundle."""
    names = {c.name for c in listed}
    results = {e.name: dataclasses.replace(r, probe_hash=e.probe_hash) for e, r in tested if e.name in names}
    entries: dict[str, RankedFingerprint] = {}
    for probe_hash in plan.suspects:
        wanted = sorted(c.name for c in listed if c.probe_hash == probe_hash)
        if wanted:
            entries.update((entry.name, ranked) for entry, ranked in reg.ranked(probe_hash=probe_hash, names=wanted))
    return Evidence(suspects=dict(plan.suspects), entries=entries, results=results)


def _suspect_plan(
    suspect: Fingerprint | str | Path, reg: Registry, specs: dict[str, tuple[ProbeSpec, int]], label: str,
    options: ProbeOptions | None, kwargs: dict[str, Any],
) -> _Plan:
    from seedprints import api

    if isinstance(suspect, Fingerprint):
        return _plan_for_fingerprint(suspect, reg, specs, label)
    if api.is_fingerprint_file(suspect):
        return _plan_for_fingerprint(api.load_fingerprint(suspect), reg, specs, label)
    return _plan_for_model(Path(suspect), reg, specs, options, kwargs)
