"""A claims run: every model's claimed bases tested against their registry entries, with family-wise control.

For each model (:mod:`seedprints.claims.examine`: fetched, its card read, fingerprinted once with its default
probes, locally or as Ray tasks) every claimed base is looked up in the registry (an entry whose name, recorded model
id, Hub repo id or source folder equals the claim) and tested with the exact lineage test on the registry's stored
ranks. A base not registered is fingerprinted from the claim itself (a local path or Hub id) with ``fetch_bases``;
an entry made with other probes (another N is cut to the common prefix) is fingerprinted again from its recorded
source when that is a local model. The p-values of every tested claim form one family (Holm, or Benjamini-Hochberg)
and each claim gets its outcome (:mod:`seedprints.claims.outcomes`). Each model is then identified against the
whole registry (:func:`seedprints.identify`) and every same-lineage entry its card does not name is reported
``unclaimed``. What the run returns is in :mod:`seedprints.claims.results`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from seedprints import fingerprint as _fpfile
from seedprints import hub
from seedprints.claims import outcomes as oc
from seedprints.claims.cards import Claim
from seedprints.claims.examine import BaseIndex, Examined, Job, ModelInput, cache_file, examine, model_digest
from seedprints.claims.fleet import FleetSettings, examine_on_ray
from seedprints.claims.results import ClaimsResult, Evidence, EvidenceItem, EvidenceTest, ModelReport
from seedprints.encoding import rank_fingerprint
from seedprints.errors import (
    IncompatibleFingerprintsError,
    InsufficientDataError,
    OutputPathError,
    RegistryError,
    SeedprintsError,
    UsageError,
)
from seedprints.fleet.manifest import read_manifest
from seedprints.options import ProbeOptions, RunOptions
from seedprints.output_paths import write_atomic
from seedprints.registry import Registry
from seedprints.reports.terminal import format_p
from seedprints.search import index
from seedprints.stats.lineage import lineage_test_ranked
from seedprints.stats.result import LineageResult

MANIFEST_SUFFIXES = (".jsonl", ".ndjson", ".csv")


@dataclasses.dataclass
class _Pending:
    """A tested claim waiting for the family's correction, with what its evidence bundle embeds."""

    row: int
    result: LineageResult
    relation: str | None
    base: str
    model: Examined
    base_item: tuple[str, str]  # ("entry", name) or ("cache", key): where the base's ranks are read again
    rows: int  # probes the test read


def default_cache() -> Path:
    """Where claims runs keep model fingerprints: ``$XDG_CACHE_HOME/seedprints/claims`` (default ``~/.cache``)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(root) / "seedprints" / "claims"


def read_inputs(inputs: Sequence[str | os.PathLike[str]], revision: str | None = None) -> list[ModelInput]:
    """The models a run names: local paths (made absolute), Hub ids ``org/name[@REV]``, and the models of manifest
    files (``.jsonl``/``.csv`` as ``seedprints fleet`` reads them, each row's name naming the model).

    Raises UsageError for an input that is neither, a model named twice, or ``revision`` without any Hub id.
    """

    items: list[ModelInput] = []
    for argument in inputs:
        text = os.fspath(argument)
        path = Path(text).expanduser()
        if path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
            items += [ModelInput(i.name, i.model, i.revision) for i in read_manifest(path)]
        elif path.exists():
            items.append(ModelInput(text, str(path.resolve())))
        else:
            ref = hub.parse_hub_id(text, revision)
            if ref is None:
                raise UsageError(f"{text} is neither an existing model path, a manifest (.jsonl or .csv) nor a Hub id "
                                 "org/name[@REV]; check the path")
            items.append(ModelInput(text, ref.repo_id, ref.revision))
    if not items:
        raise UsageError("no model to check; give model directories, GGUF files, adapters, Hub ids or a manifest")
    hub_items = [i for i in items if not Path(i.model).is_absolute()]
    if revision is not None and not hub_items:
        raise UsageError("--revision applies to Hub ids (org/name), but no input is one; drop it")
    names = [i.name for i in items]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"model {twice[0]!r} is named twice; give each model once (or its own manifest name)")
    return [dataclasses.replace(i, revision=i.revision or revision) if i in hub_items else i for i in items]


def check_claims(
    inputs: Sequence[str | os.PathLike[str]],
    registry: Any,
    *,
    alpha: float = 0.01,
    correction: str = "holm",
    fetch_bases: bool = False,
    options: ProbeOptions | None = None,
    run: RunOptions | None = None,
    cache: str | os.PathLike[str] | None = None,
    fleet: FleetSettings | None = None,
    revision: str | None = None,
    keep_evidence: bool = False,
    say: Callable[[str], Any] | None = None,
) -> ClaimsResult:
    """Test every claimed base of every model against the registry (see the module docstring); the parameters are
    those of :func:`seedprints.api.check_claims`, with ``options`` and ``run`` built, and ``registry`` also an open
    :class:`~seedprints.registry.Registry`.

    Raises UsageError (bad ``alpha`` or ``correction``, an input that is neither a model, a manifest nor a Hub id),
    RegistryError (no such registry, not ours, or empty) and OutputPathError (an unusable cache folder).
    """

    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1 (got {alpha})")
    if correction not in oc.CORRECTIONS:
        raise UsageError(f"correction must be one of {', '.join(oc.CORRECTIONS)} (got {correction!r})")
    items = read_inputs(inputs, revision)
    cache = _cache_folder(cache)
    options, run = options or ProbeOptions(), run or RunOptions()
    say = say or (lambda _line: None)
    opened = None if isinstance(registry, Registry) else index.Registry.open(registry, create=False)
    reg = opened or registry
    try:
        entries = reg.entries()
        if not entries:
            raise RegistryError(f"registry {reg.path} has no entries; register the claimed bases with "
                                "`seedprints registry add` first")
        specs = sorted(reg.probe_specs().values(), key=lambda pair: -pair[1])
        cached = frozenset(p.name.removesuffix(".fp.safetensors") for p in cache.glob("*.fp.safetensors"))
        job = Job(options, run, tuple(s for s, _ in specs), BaseIndex.of(entries), cached)
        examined = _examine_all(items, job, cache, fleet, say)
        return _Run(reg, job, cache, alpha, correction, fetch_bases, say).result(examined, keep_evidence)
    finally:
        if opened is not None:
            opened.close()


def _cache_folder(cache: str | os.PathLike[str] | None) -> Path:
    folder = Path(cache).expanduser() if cache is not None else default_cache()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"cannot use cache folder {folder}: {exc.strerror or exc}; pass another --cache") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"cache folder {folder} is not writable; pass another --cache")
    return folder


def _examine_all(items: list[ModelInput], job: Job, cache: Path, fleet: FleetSettings | None,
                 say: Callable[[str], Any]) -> list[Examined]:
    """Every model examined, in input order: here one after the other, or as Ray tasks (results written to the
    cache as they arrive, so an interrupted run keeps them)."""

    def tell(ex: Examined, index: int, total: int) -> Examined:
        how = (f"failed: {ex.error}" if ex.error else "fingerprint from the cache" if ex.cached
               else f"fingerprinted in {ex.seconds:.1f} s")
        say(f"[{index}/{total}] {ex.item.name}: {ex.card.describe()}; {how}")
        return ex

    if fleet is None:
        return [tell(examine(item, job, cache), i, len(items)) for i, item in enumerate(items, 1)]
    def keep(ex: Examined, index: int, total: int) -> Examined:
        if ex.data is not None:
            write_atomic(cache_file(cache, ex.key), ex.data)
            ex = dataclasses.replace(ex, data=None)
        return tell(ex, index, total)

    done = {ex.item.name: ex for ex in examine_on_ray(items, job, fleet, keep)}
    return [done[item.name] for item in items]


class _Run:
    """The driver's side of a run: tests, the family's outcomes, the unclaimed identifications, the evidence."""

    def __init__(self, reg: Any, job: Job, cache: Path, alpha: float, correction: str, fetch_bases: bool,
                 say: Callable[[str], Any]) -> None:
        self.reg, self.job, self.cache, self.alpha = reg, job, cache, alpha
        self.correction, self.fetch_bases, self.say = correction, fetch_bases, say
        self.rows: list[oc.ClaimOutcome] = []
        self.pending: list[_Pending] = []
        self.models: list[ModelReport] = []
        self.notes: list[str] = []

    def result(self, examined: list[Examined], keep_evidence: bool) -> ClaimsResult:
        for ex in examined:
            self._model(ex)
        self._decide()
        counts = {o: sum(r.outcome == o for r in self.rows) for o in oc.OUTCOMES}  # every outcome, 0 included
        return ClaimsResult(self.rows, self.models, str(self.reg.path), self.alpha, self.correction, len(self.pending),
                            counts, self.notes, self._evidence() if keep_evidence else None)

    def _evidence(self) -> Evidence:
        """The rank encodings every tested claim read, named as bundles name them, and the tests in family order."""

        fingerprints: dict[str, EvidenceItem] = {}
        tests: list[EvidenceTest] = []
        full: dict[str, Any] = {}
        for p in self.pending:
            ex = p.model
            if ex.item.name not in full:
                full[ex.item.name] = self.load(ex)
            fp = full[ex.item.name]
            model = f"model:{ex.item.name}" + (f" (first {p.rows} probes)" if p.rows != fp.n else "")
            if model not in fingerprints:
                source = ex.item.model + (f"@{ex.commit}" if ex.commit else "")
                fingerprints[model] = EvidenceItem(rank_fingerprint(fp if fp.n == p.rows else fp.prefix(p.rows)),
                                                   source, ex.path)
            kind, what = p.base_item
            if kind == "entry":
                held = self.job.index.specs[what].n
                base = f"registry:{what}" + (f" (first {p.rows} probes)" if p.rows != held else "")
                if base not in fingerprints:
                    fingerprints[base] = EvidenceItem(self.entry_ranks(what, p.rows), f"{self.reg.path}: {what}", None)
            else:
                base = f"base:{p.base}"
                if base not in fingerprints:
                    fetched = _fpfile.load(cache_file(self.cache, what))
                    ranked = rank_fingerprint(fetched if fetched.n == p.rows else fetched.prefix(p.rows))
                    fingerprints[base] = EvidenceItem(ranked, p.base, None)
            tests.append(EvidenceTest(p.row, base, model, p.result))
        return Evidence(fingerprints, tests)

    # -- one model ------------------------------------------------------------------------------------------------

    def _model(self, ex: Examined) -> None:
        name, card = ex.item.name, ex.card
        if card.problem:
            self.rows.append(oc.untested(name, None, None, card.problem))
        fp = None if ex.error else self.load(ex)
        if fp is None:
            why = f"{name} could not be fingerprinted: {ex.error}"
            self.rows += [oc.untested(name, c.base, c.relation, why, source=c.source) for c in card.claims]
            if not card.claims and not card.problem:
                self.rows.append(oc.untested(name, None, None, why + "; its card claims no base"))
        claimed: set[str] = set()
        for claim in card.claims if fp is not None else ():
            claimed.update(self.job.index.entries_for(claim.base))
            self._claim(ex, fp, claim)
        check = self._unclaimed(ex, fp, claimed) if fp is not None else "the model could not be fingerprinted"
        self.models.append(ModelReport(
            name=name, model=ex.item.model, path=ex.path, commit=ex.commit, card=card.describe(), claims=len(card.claims),
            fingerprint="failed" if fp is None else "cached" if ex.cached else "computed",
            probe_hash=None if fp is None else fp.probe_hash, n=None if fp is None else fp.n, error=ex.error,
            unclaimed_check=check, seconds=round(ex.seconds, 3)))

    def load(self, ex: Examined) -> Any:
        """The model's fingerprint, read from the cache."""

        return _fpfile.load(cache_file(self.cache, ex.key))

    def _claim(self, ex: Examined, fp: Any, claim: Claim) -> None:
        """Test one claim, or add its cannot-tell row."""
        name = ex.item.name
        entries = self.job.index.entries_for(claim.base)
        try:
            if entries:
                entry = self._pick(claim.base, entries, fp)
                base_ranked, where, label = self._entry_ranks(entry, fp, claim)
            elif self.fetch_bases:
                base_ranked, where, label = self._fetched_ranks(claim.base, fp)
            else:
                raise _CannotTell(f"{claim.base} is not in registry {self.reg.path} (no entry of that name, model id or "
                                  "Hub id); register it with `seedprints registry add`, or pass --fetch-bases")
            result, rows = self._test(base_ranked, fp)
        except _CannotTell as exc:
            self.rows.append(oc.untested(name, claim.base, claim.relation, str(exc),
                                         entry=entries[0] if entries else None, source=claim.source))
            return
        self.pending.append(_Pending(len(self.rows), result, claim.relation, claim.base, ex, where, rows))
        self.rows.append(oc.ClaimOutcome(
            model=name, claimed_base=claim.base, relation=claim.relation, outcome=oc.CANNOT_TELL,
            p_value=result.p_value, log10_p=result.log10_p, p_adjusted=None, log10_p_adjusted=None, z=result.z,
            reason="", entry=label, source=claim.source, hidden_z=result.details.get("hidden_z"),
            vocab_z=result.details.get("vocab_z"), n=result.n, probe_hash=result.probe_hash))

    def _pick(self, claim: str, names: tuple[str, ...], fp: Any) -> str:
        """The entry a claim resolves to: the entry of that name, else one made with the model's probes, else the
        first that records it."""
        if claim in names:
            return claim
        return next((n for n in names if self.job.index.specs[n].hash == fp.probe_hash), names[0])

    def _entry_ranks(self, name: str, fp: Any, claim: Claim) -> tuple[Any, tuple[str, str], str]:
        """The entry's ranks on the model's probes: as stored, cut to a common prefix, or fingerprinted again from its
        recorded source; _CannotTell for another width or probes that cannot be matched."""
        spec, width = self.job.index.specs[name], self.job.index.widths[name]
        if width != fp.hidden_size:
            raise _CannotTell(f"different widths: {claim.base} (registry entry {name}) has d = {width}, the model d = "
                              f"{fp.hidden_size}; the test compares hidden dimensions one to one, so it cannot tell "
                              "whether one was built from the other")
        if spec.hash == fp.probe_hash or fp.spec.differs_only_in_n(spec):
            return self.entry_ranks(name, min(spec.n, fp.n)), ("entry", name), name
        from seedprints.pipeline import is_fingerprint_file

        source = self.job.index.sources.get(name)
        if source is None or not Path(source).exists() or is_fingerprint_file(source):
            raise _CannotTell(f"different probes: registry entry {name} was made with {spec.describe()}, the model's "
                              f"default probes are {fp.spec.describe()} (another vocabulary or probe settings), and "
                              "the entry records no local source to fingerprint again; register the base with the "
                              "model's probes (seedprints registry add BASE --like a fingerprint of the model)")
        return self._fingerprinted(Path(source), fp, f"{name} (fingerprinted again from {source})")

    def _fetched_ranks(self, base: str, fp: Any) -> tuple[Any, tuple[str, str], str]:
        """The claimed base fingerprinted from the claim itself: a local path or a Hub id (``fetch_bases``)."""

        try:
            ref = None if Path(base).exists() else hub.parse_hub_id(base)
            if ref is None and not Path(base).exists():
                raise _CannotTell(f"{base} is not in registry {self.reg.path}, and --fetch-bases cannot fetch it: it is "
                                  "neither a local path nor a Hub id org/name")
            path = hub.download(ref, trust_remote_code=self.job.run.trust_remote_code).path if ref else Path(base)
        except SeedprintsError as exc:
            raise _CannotTell(f"{base} is not in registry {self.reg.path}, and --fetch-bases could not fetch it: "
                              f"{exc}") from exc
        return self._fingerprinted(path, fp, f"{base} (fetched)")

    def _fingerprinted(self, path: Path, fp: Any, label: str) -> tuple[Any, tuple[str, str], str]:
        """A base model fingerprinted with the model's probes (kept in the cache like the models)."""
        from seedprints import pipeline

        run = self.job.run
        try:
            pipeline.check_models_take([path], fp.spec, fp.hidden_size, origin="the claiming model's probes",
                                       trust_remote_code=run.trust_remote_code)
            key = f"{model_digest(path)}-{fp.probe_hash}"
            target = cache_file(self.cache, key)
            if not target.is_file():
                self.say(f"fingerprinting claimed base {label}")
                pipeline.fingerprint_model(path, fp.spec, run=run).save(target)
        except IncompatibleFingerprintsError as exc:
            raise _CannotTell(f"different widths: {exc}") from exc
        except UsageError as exc:
            raise _CannotTell(f"different vocabularies: {exc}") from exc
        except SeedprintsError as exc:
            raise _CannotTell(f"the claimed base {label} could not be fingerprinted: {exc}") from exc
        return rank_fingerprint(_fpfile.load(target)), ("cache", key), label

    def entry_ranks(self, name: str, rows: int) -> Any:
        """A registry entry's ranks on its first ``rows`` probes."""
        entry, ranked = next(self.reg.ranked(probe_hash=self.job.index.specs[name].hash, names=[name]))
        return ranked if ranked.n == rows else ranked.prefix(rows)

    def _test(self, base_ranked: Any, fp: Any) -> tuple[LineageResult, int]:
        """The exact lineage test of the model against the base, on the probes both hold."""

        rows = min(base_ranked.n, fp.n)
        base_ranked = base_ranked if base_ranked.n == rows else base_ranked.prefix(rows)
        model_ranked = rank_fingerprint(fp if fp.n == rows else fp.prefix(rows))
        try:
            result = lineage_test_ranked(base_ranked, model_ranked, self.alpha, **oc.TEST_SETTINGS)
        except InsufficientDataError as exc:
            raise _CannotTell(f"too few probes: {exc}; rerun with more (--n)") from exc
        return dataclasses.replace(result, probe_hash=base_ranked.probe_hash), rows

    # -- the family -----------------------------------------------------------------------------------------------

    def _decide(self) -> None:
        """Every tested claim's outcome, from its adjusted p-value over the run's family."""
        log10_adj = oc.adjusted([p.result.log10_p for p in self.pending], self.correction)
        for pending, adj in zip(self.pending, log10_adj):
            outcome, reason = oc.decide(pending.result, float(adj), alpha=self.alpha, correction=self.correction,
                                        tests=len(self.pending), relation=pending.relation, base=pending.base)
            self.rows[pending.row] = dataclasses.replace(
                self.rows[pending.row], outcome=outcome, reason=reason, p_adjusted=10.0 ** float(adj),
                log10_p_adjusted=float(adj))

    def _unclaimed(self, ex: Examined, fp: Any, claimed: set[str]) -> str | None:
        """Rows for the registry entries the model identifies to (identify's own correction) that its card does not
        name; returns why the check did not run, or None."""
        from seedprints.search.identification import identify

        try:
            found = identify(fp, self.reg, top=None, alpha=self.alpha)
        except SeedprintsError as exc:
            return str(exc)
        own = self._own_entries(ex)
        for c in found.candidates:
            same = (c.verdict if self.correction == "holm" else c.bh_verdict) == "same-lineage"
            if not same or c.name in claimed or c.name in own:
                continue
            log10_adj = c.log10_p_holm if self.correction == "holm" else c.log10_p_bh
            adj = format_p(10.0 ** log10_adj, log10_adj)
            reason = (f"identifies to registry entry {c.name} ({oc.CORRECTIONS[self.correction]}-adjusted p = {adj} over "
                      f"{found.tested} entries, z = {c.z:.1f}), which its card does not name as a base")
            if any(p.model is ex and p.result.log10_p < math.log10(self.alpha) for p in self.pending):
                reason += "; it may be a relative (same init) of a claimed base rather than another source"
            self.rows.append(oc.ClaimOutcome(
                model=ex.item.name, claimed_base=None, relation=None, outcome=oc.UNCLAIMED, p_value=c.p_value,
                log10_p=c.log10_p, p_adjusted=10.0 ** log10_adj, log10_p_adjusted=log10_adj, z=c.z, reason=reason,
                entry=c.name, source="identify", hidden_z=c.hidden_z, vocab_z=c.vocab_z, n=c.probes,
                probe_hash=c.probe_hash))
        return None

    def _own_entries(self, ex: Examined) -> set[str]:
        """Registry entries of the model itself (its name, path or Hub repo at the same commit): never unclaimed."""
        own = {ex.item.name} & set(self.job.index.specs)
        if ex.path:
            own.update(self.job.index.entries_for(str(Path(ex.path).resolve())))
            own.update(self.job.index.entries_for(ex.path))
        if ex.commit:
            own.update(n for n in self.job.index.entries_for(ex.item.model)
                       if self.reg.get(n).metadata.get("hub_commit") == ex.commit)
        return own


class _CannotTell(Exception):
    """A claim no test can answer; the message is its one-line reason."""
