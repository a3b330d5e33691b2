"""The fleet driver: one Ray task per manifest model, results registered here as they arrive, failures reported by name.

Only the driver writes to the registry, one entry per finished task, so a task Ray retries after a crash or an
error is still registered once. What is registered stays when a run stops; running it again skips it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

from seedprints.encoding import decode
from seedprints.errors import SeedprintsError, UsageError, compact_message
from seedprints.fleet.manifest import ManifestItem
from seedprints.fleet.task import WEIGHTS_KEY, Job, Outcome, run_task

if TYPE_CHECKING:
    from seedprints.registry import Registry

R = TypeVar("R")
INSTALL_ADVICE = 'seedprints fleet needs Ray, which is not installed; pip install "seedprints[fleet]"'


@dataclasses.dataclass
class FleetReport:
    """Every model's outcome in the order they finished, the wall-clock seconds, and the resources each task had."""

    outcomes: list[Outcome]
    seconds: float
    resources: dict[str, float]

    def of(self, status: str) -> list[Outcome]:
        """The outcomes with ``status`` (done, skipped or failed)."""
        return [o for o in self.outcomes if o.status == status]


def import_ray() -> Any:
    """The ray module, or one line saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise SeedprintsError(INSTALL_ADVICE) from exc
    return ray


def job_for(reg: "Registry", base: Job) -> Job:
    """``base`` with what the registry holds now: its specs (most-used first), weights keys and entry names."""
    entries = reg.entries()
    registered, taken = {}, {}
    for entry in entries:
        digest = entry.metadata.get(WEIGHTS_KEY)
        key = (digest, entry.probe_hash) if digest else None
        taken[entry.name] = key
        if key is not None:
            registered.setdefault(key, entry.name)
    specs = sorted(reg.probe_specs().values(), key=lambda pair: -pair[1])
    return dataclasses.replace(base, registry_specs=tuple(spec for spec, _ in specs), registered=registered, taken=taken)


def run_fleet(items: list[ManifestItem], reg: "Registry", base: Job, *, address: str | None = None,
              gpus_per_model: float | None = None, retries: int = 2,
              on_outcome: Callable[[Outcome, int, int], None] = lambda outcome, index, total: None) -> FleetReport:
    """Fingerprint ``items`` on Ray into ``reg``: a task per model on a GPU share when the cluster has GPUs, else a CPU.

    Ray is started locally on this machine's cores unless ``address`` names a cluster (``"auto"``: the one
    ``ray start`` made here), and left running if it was already initialised. A task is retried ``retries`` times
    after a crash or an unexpected error, then reported failed; ``on_outcome`` hears of every model as it ends.
    """

    def register(item: ManifestItem, outcome: Outcome, index: int, total: int) -> Outcome:
        outcome = _register(reg, item, outcome)
        on_outcome(outcome, index, total)
        return outcome

    outcomes, seconds, resources = run_on_ray(
        run_task, items, job_for(reg, base), address=address, gpus_per_model=gpus_per_model, retries=retries,
        name="seedprints-fleet", failure=lambda item, why: Outcome(item.name, "failed", why), on_result=register)
    return FleetReport(outcomes, seconds, resources)


def run_on_ray(task: Callable[[Any, Any], R], items: Sequence[Any], job: Any, *, address: str | None,
               gpus_per_model: float | None, retries: int, name: str, failure: Callable[[Any, str], R],
               on_result: Callable[[Any, R, int, int], R]) -> tuple[list[R], float, dict[str, float]]:
    """Run ``task(item, job)`` as one Ray task per item (each with a ``name``), on a GPU share when the cluster has
    GPUs, else a CPU, the job's ``run.device`` set to match; a task Ray gives up on after ``retries`` retries becomes
    ``failure(item, why)``. Each result passes through ``on_result(item, result, index, total)`` as it arrives.

    Returns the results in the order they finished, the seconds from the first task submitted to the last
    result, and the resources each task asked for. Ray is started here unless ``address`` names a cluster, and
    stopped again only if this call started it.
    """
    ray = import_ray()
    with contextlib.redirect_stdout(sys.stderr):  # Ray prints worker deaths on stdout, which holds our result
        started = not ray.is_initialized()
        if started:
            _init(ray, address)
        try:
            resources, device = _resources(ray, gpus_per_model)
            job = dataclasses.replace(job, run=dataclasses.replace(job.run, device=device))
            remote = ray.remote(max_retries=retries, retry_exceptions=True, **resources)(task)
            job_ref = ray.put(job)
            start = time.perf_counter()
            pending = {remote.options(name=f"{name}:{item.name}").remote(item, job_ref): item for item in items}
            results: list[R] = []
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                item = pending.pop(ready[0])
                try:
                    result = ray.get(ready[0])
                except ray.exceptions.RayError as exc:
                    cause = getattr(exc, "cause", None) or exc
                    result = failure(item, f"failed after {retries} retries: {compact_message(cause, 200, with_class=True)}")
                results.append(on_result(item, result, len(results) + 1, len(items)))
            return results, time.perf_counter() - start, resources
        finally:
            if started:
                ray.shutdown()


def _init(ray: Any, address: str | None) -> None:
    """Start Ray here, or join the cluster at ``address``; a cluster that cannot be reached is one line."""
    try:
        ray.init(address=address or "local", include_dashboard=False if address is None else None,
                 log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "this machine"
        raise SeedprintsError(f"cannot start or join Ray at {where}: {compact_message(exc, 160)}; start a cluster with "
                              "`ray start --head`, or drop --ray-address to run here") from exc


def _resources(ray: Any, gpus_per_model: float | None) -> tuple[dict[str, float], str]:
    """What each task asks for (a GPU share when the cluster has GPUs, else one CPU) and the device it runs on."""
    gpus = float(ray.cluster_resources().get("GPU", 0))
    if gpus <= 0:
        return {"num_cpus": 1}, "cpu"
    share = 1.0 if gpus_per_model is None else gpus_per_model
    if share > gpus:
        raise UsageError(f"--gpus-per-model {share:g} is more than the {gpus:g} GPUs of the cluster; ask for at most {gpus:g}")
    return {"num_cpus": 1, "num_gpus": share}, "cuda"


def _register(reg: "Registry", item: ManifestItem, outcome: Outcome) -> Outcome:
    """Add a done model's encoding under its name and tags; a registry refusal turns it into a failure."""
    if outcome.status != "done" or outcome.encoding is None:
        return outcome

    source = item.model if Path(item.model).is_absolute() else None
    try:
        reg.add(decode(outcome.encoding, source=f"fleet task {item.name}"), name=item.name, tags=item.tags, source=source)
    except SeedprintsError as exc:
        return dataclasses.replace(outcome, status="failed", detail=str(exc), encoding=None)
    return dataclasses.replace(outcome, encoding=None)
