"""What one fleet task does on a worker: fetch its model, pick the registry's probes for that vocabulary, skip it when
those weights and probes are registered, else fingerprint it and hand back the compact encoding to register."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Literal

from seedprints import hub
from seedprints.encoding import encode, rank_fingerprint
from seedprints.errors import HubUnreachableError, SeedprintsError
from seedprints.fleet.manifest import ManifestItem
from seedprints.model import sources
from seedprints.options import ProbeOptions, RunOptions
from seedprints.probes import ProbeSpec

WEIGHTS_KEY = "weights_digest"  # fingerprint metadata: the weights hash a fleet run skips on


@dataclasses.dataclass(frozen=True)
class Job:
    """What every task of a run shares: probe options, the registry's specs and entries, and how to run a model.

    ``registry_specs`` come most-used first; ``registered`` maps (weights digest, probe hash) to an entry name,
    ``taken`` every entry name to its key (None when the entry has no weights digest).
    """

    options: ProbeOptions
    registry_specs: tuple[ProbeSpec, ...] = ()
    registered: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    taken: dict[str, tuple[str, str] | None] = dataclasses.field(default_factory=dict)
    run: RunOptions = RunOptions()


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How one model went: done (with its rank encoding), skipped or failed (with why), and the seconds it took."""

    name: str
    status: Literal["done", "skipped", "failed"]
    detail: str = ""
    encoding: bytes | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        """Plain JSON, without the encoding."""
        return {"name": self.name, "status": self.status, "detail": self.detail, "seconds": round(self.seconds, 3)}


def run_task(item: ManifestItem, job: Job) -> Outcome:
    """Fingerprint ``item`` for ``job``; a seedprints error is a failure (retrying cannot fix it), while an
    unreachable Hub or any other error propagates so that Ray retries the task."""
    from seedprints import pipeline

    start = time.perf_counter()
    try:
        model_dir = local_folder(item, job.run.trust_remote_code)
        spec = probe_spec(model_dir, job)
        key = (weights_digest(model_dir), spec.hash)
        if key in job.registered:
            return Outcome(item.name, "skipped", f"already registered as {job.registered[key]}")
        if item.name in job.taken:
            return Outcome(item.name, "failed", f"the registry already has an entry named {item.name!r} for other "
                           "weights or probes; rename the model in the manifest or remove that entry")
        fp = pipeline.fingerprint_model(model_dir, spec, run=job.run)
        fp = dataclasses.replace(fp, metadata={**fp.metadata, WEIGHTS_KEY: key[0]})
        return Outcome(item.name, "done", encoding=encode(rank_fingerprint(fp)), seconds=time.perf_counter() - start)
    except HubUnreachableError:
        raise
    except SeedprintsError as exc:
        return Outcome(item.name, "failed", str(exc), seconds=time.perf_counter() - start)


def local_folder(item: ManifestItem, trust_remote_code: bool) -> Path:
    """The model's folder: the local path itself, or its Hub snapshot downloaded into this machine's cache."""

    ref = hub.parse_hub_id(item.model, item.revision)
    if ref is None:
        return Path(item.model)
    return hub.download(ref, trust_remote_code=trust_remote_code).path


def probe_spec(model_dir: Path, job: Job) -> ProbeSpec:
    """The registry's spec for this model's vocabulary (its default probes, at the registry's N), or the default
    of the run's options when the registry has none: read from config and tokenizer, no weights."""
    from seedprints import pipeline

    own = pipeline.resolve_probes(models=[model_dir], options=job.options, trust_remote_code=job.run.trust_remote_code,
                                  generated_only="a fleet run takes generated probes only").spec
    return own.at_n_of(job.registry_specs)


def weights_digest(model_dir: Path) -> str:
    """The digest of the folder's weight files (sizes and sampled bytes; see
    :func:`seedprints.model.sources.weights_digest`)."""

    return sources.weights_digest(sources.inspect_source(model_dir).weight_files)
