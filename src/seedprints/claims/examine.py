"""What one model of a claims run needs, done in one place so that a local run and a Ray task do the same: fetch the
model (a Hub id at its revision, with its card), read its claimed bases, choose its probes, and fingerprint it once.

The probes are the model's default probes (:func:`seedprints.pipeline.resolve_probes`), at the N of the
registry's entries of its vocabulary when there are any (preferring its claimed bases' entries), so that the model
compares with them on every probe. A fingerprint is kept in the run's cache under the digest of the model's
weights and the probe hash: a run that stops keeps what it finished, and the same command resumes from it.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from seedprints import fingerprint as _fpfile
from seedprints import hub
from seedprints.claims.cards import Card, read_claims
from seedprints.errors import HubUnreachableError, ModelLoadError, SeedprintsError, compact_message
from seedprints.model import sources
from seedprints.options import ProbeOptions, RunOptions
from seedprints.probes import ProbeSpec
from seedprints.resume import partial_path

CACHE_SUFFIX = ".fp.safetensors"


@dataclasses.dataclass(frozen=True)
class ModelInput:
    """One model of a run: the name rows show, a local path (absolute) or a Hub id, and the Hub revision."""

    name: str
    model: str
    revision: str | None = None


@dataclasses.dataclass(frozen=True)
class BaseIndex:
    """The registry's entries as claims name them: by entry name, recorded model id, Hub repo id or source folder.

    ``keys`` maps a claimed id to the entries that record it, an entry of that name first; ``specs`` every entry's
    probe spec (by its name), ``widths`` its hidden size and ``sources`` its recorded local source, if any.
    """

    keys: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    specs: dict[str, ProbeSpec] = dataclasses.field(default_factory=dict)
    widths: dict[str, int] = dataclasses.field(default_factory=dict)
    sources: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, entries: list) -> "BaseIndex":  # noqa: ANN001 - RegistryEntry, imported lazily by callers
        keys: dict[str, list[str]] = {}
        for entry in entries:
            recorded = [entry.model_id, entry.metadata.get("hub_repo"), entry.source_path]
            for key in dict.fromkeys(k for k in recorded if k):
                keys.setdefault(key, []).append(entry.name)
        for entry in entries:  # a name match comes first
            keys[entry.name] = [entry.name, *(n for n in keys.get(entry.name, []) if n != entry.name)]
        return cls({k: tuple(v) for k, v in keys.items()}, {e.name: e.spec for e in entries},
                   {e.name: e.hidden_size for e in entries},
                   {e.name: e.source_path for e in entries if e.source_path})

    def entries_for(self, claim: str) -> tuple[str, ...]:
        """The entries a claimed base names (by name, model id, Hub id or recorded path); () when none."""
        found = self.keys.get(claim) or self.keys.get(claim.rstrip("/"))
        if not found and Path(claim).is_absolute():
            found = self.keys.get(str(Path(claim).resolve()))
        return found or ()


@dataclasses.dataclass(frozen=True)
class Job:
    """What every model of a run shares: how to probe and run it, the registry's specs (most-used first) and entries,
    and the cache keys the driver already holds (models with those are not fingerprinted again)."""

    options: ProbeOptions
    run: RunOptions
    specs: tuple[ProbeSpec, ...] = ()
    index: BaseIndex = BaseIndex()
    cached: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True)
class Examined:
    """What examining one model gave.

    ``path`` is the local folder or file read (a Hub id's snapshot), ``commit`` the Hub commit; ``key`` names its
    fingerprint in the cache; ``data`` holds the fingerprint file's bytes when it was made on a Ray worker (None
    when it is in the cache); ``error`` says in one line why it could not be fingerprinted; ``cached`` whether
    the fingerprint came from an earlier run.
    """

    item: ModelInput
    card: Card
    path: str | None = None
    commit: str | None = None
    key: str | None = None
    data: bytes | None = None
    error: str | None = None
    cached: bool = False
    seconds: float = 0.0


def cache_file(cache: Path, key: str) -> Path:
    """Where the fingerprint of cache key ``key`` lives."""
    return cache / f"{key}{CACHE_SUFFIX}"


def examine(item: ModelInput, job: Job, cache: Path | None = None, *, retry_unreachable: bool = False) -> Examined:
    """Fetch, read and fingerprint one model; every failure becomes ``error`` (one line), never an exception.

    With ``cache`` (a local run) the fingerprint is written there, resuming an interrupted extraction from its
    partial file; without (a Ray task) its bytes come back in ``data``. ``retry_unreachable`` lets an unreachable
    Hub raise, so that Ray retries the task.
    """
    start = time.perf_counter()
    path, commit, card = None, None, Card()
    try:
        path, commit = _local(item, job.run.trust_remote_code)
        card = read_claims(path, label=item.name)
        base = _adapter_base(path, card, job)
        spec = choose_spec(base or path, card, job)
        key = f"{model_digest(path, base)}-{spec.hash}"
        held = key in job.cached or (cache is not None and cache_file(cache, key).is_file())
        data = None if held else _fingerprint(path, base, spec, job.run, None if cache is None else cache_file(cache, key))
    except HubUnreachableError as exc:
        if retry_unreachable:
            raise
        return _failed(item, card, path, commit, start, exc)
    except (SeedprintsError, OSError, ValueError, RuntimeError) as exc:  # torch and transformers raise the last two
        return _failed(item, card, path, commit, start, exc)
    return Examined(item, card, str(path), commit, key, data, None, held, time.perf_counter() - start)


def _failed(item: ModelInput, card: Card, path: Path | None, commit: str | None, start: float,
            exc: BaseException) -> Examined:
    """The model as examined so far, with why it could not be fingerprinted in one line."""
    why = str(exc) if isinstance(exc, SeedprintsError) else compact_message(exc, 300, with_class=True)
    return Examined(item, card, None if path is None else str(path), commit, error=" ".join(why.split()),
                    seconds=time.perf_counter() - start)


def _local(item: ModelInput, trust_remote_code: bool) -> tuple[Path, str | None]:
    """The model's local path, and for a Hub id its snapshot folder (model card included) and commit."""

    if Path(item.model).is_absolute():
        return Path(item.model), None
    ref = hub.parse_hub_id(item.model, item.revision)
    if ref is None:
        raise ModelLoadError(f"{item.model} is neither a local path nor a Hub id org/name[@REV]")
    snapshot = hub.download(ref, trust_remote_code=trust_remote_code)
    hub.model_card(snapshot)  # into the snapshot folder, where read_claims finds it
    return snapshot.path, snapshot.commit


def _adapter_base(path: Path, card: Card, job: Job) -> Path | None:
    """For a PEFT adapter, the base it is merged onto: ``--base``, its own local ``base_model_name_or_path``, or the
    recorded source of the registry entry its claim names; None for other models."""

    info = sources.inspect_source(path, allow_pickle=job.run.allow_pickle)
    if info.kind != "peft":
        return None
    try:
        return sources.adapter_base(info.directory, Path(job.run.base) if job.run.base else None)
    except ModelLoadError:
        recorded = [job.index.sources[name] for claim in card.claims for name in job.index.entries_for(claim.base)
                    if Path(job.index.sources.get(name, "")).is_dir()]
        if not recorded:
            raise
        return Path(recorded[0])


def choose_spec(model: Path, card: Card, job: Job) -> ProbeSpec:
    """The model's default probes, at the N of a registry spec for the same vocabulary when there is one: its
    claimed bases' first, then the registry's most used (read from config and tokenizer, no weights)."""
    from seedprints import pipeline

    own = pipeline.resolve_probes(models=[model], options=job.options, trust_remote_code=job.run.trust_remote_code,
                                  generated_only="a claims run takes generated probes only").spec
    claimed = [job.index.specs[name] for claim in card.claims for name in job.index.entries_for(claim.base)]
    return own.at_n_of([*claimed, *job.specs])


def model_digest(path: Path, base: Path | None = None) -> str:
    """The digest of a model's weight files (:func:`seedprints.model.sources.weights_digest`); an adapter's covers
    the base it is merged onto too."""

    extra = model_digest(base).encode() if base is not None else b""
    return sources.weights_digest(sources.inspect_source(path, allow_pickle=True).weight_files, extra)


def _fingerprint(path: Path, base: Path | None, spec: ProbeSpec, run: RunOptions, target: Path | None) -> bytes | None:
    """Fingerprint the model; into ``target`` (atomically, resuming from its partial file) or as bytes."""
    from seedprints import pipeline

    run = dataclasses.replace(run, base=base) if base is not None else run
    fp = pipeline.fingerprint_model(path, spec, run=run, partial=None if target is None else partial_path(target))
    if target is None:
        return _fpfile.to_bytes(fp)
    fp.save(target)
    partial_path(target).unlink(missing_ok=True)
    return None
