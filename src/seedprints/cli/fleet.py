"""``seedprints fleet``: fingerprint every model of a manifest on a Ray cluster into a registry, resumably."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seedprints.cli import _options as o
from seedprints.cli._hub import RevisionOpt
from seedprints.cli._interrupt import on_interrupt
from seedprints.cli._output import Output
from seedprints.options import ProbeOptions, RunOptions

if TYPE_CHECKING:
    from rich.table import Table

    from seedprints.fleet.driver import FleetReport
    from seedprints.fleet.task import Outcome

EXAMPLES = """Examples:

\b
  seedprints fleet models.jsonl --registry refs.db                       # local Ray on this machine's cores
  seedprints fleet models.csv --registry refs.db --ray-address auto --gpus-per-model 0.5
  seedprints fleet models.jsonl --registry refs.db --n 500 --length 64 --retries 3 --json

\b
  models.jsonl, one model per line:
    {"name": "llama-2-7b", "model": "meta-llama/Llama-2-7b-hf", "revision": "main", "tags": {"family": "llama"}}
    {"name": "my-finetune", "model": "./checkpoints/ft-1"}
"""


@o.probe_options(only=("probe", "n", "length", "probe_seed", "rare_tokens"))
@o.model_options(only=("dtype", "batch_size", "trust_remote_code"))
def fleet(
    manifest: Annotated[Path, typer.Argument(help="Models to fingerprint: JSON Lines or CSV with name, model (a local "
                                                  "path or Hub id), optional revision and tags.")],
    registry: o.RegistryOpt = o.DEFAULT_REGISTRY,
    ray_address: o.RayAddressOpt = None,
    gpus_per_model: o.GpusPerModelOpt = None,
    retries: o.RetriesOpt = 2,
    revision: RevisionOpt = None,
    json_output: o.JsonOpt = False,
    quiet: o.QuietOpt = False,
    *,
    probes: ProbeOptions,
    run: RunOptions,
) -> None:
    """Fingerprint every model of MANIFEST on Ray and register it; models already registered are skipped.

    Each model is fingerprinted with the registry's probes for its vocabulary (--n, --length and the probe
    options apply to vocabularies the registry has none for). A failed model is retried, then listed by name
    while the others go on; the exit code is 1 when any failed. Running the same command again resumes.
    """
    from seedprints.cli.registry import open_registry
    from seedprints.fleet.driver import import_ray, run_fleet
    from seedprints.fleet.manifest import read_manifest
    from seedprints.fleet.task import Job

    out = Output(json_output, quiet)
    items = read_manifest(manifest, revision)
    import_ray()
    base = Job(options=probes, run=dataclasses.replace(run, progress=False))  # a task's bars would mix in the log
    on_interrupt(lambda: f"interrupted; the models finished so far are registered in {registry}; run the same command "
                         "again to go on with the rest")

    with open_registry(registry, create=True) as reg:
        report = run_fleet(items, reg, base, address=ray_address, gpus_per_model=gpus_per_model, retries=retries,
                           on_outcome=functools.partial(_tell, out))
    if gpus_per_model is not None and "num_gpus" not in report.resources:
        out.hint("the Ray cluster has no GPUs, so --gpus-per-model did nothing: each model ran on one CPU")
    payload = {
        "registry": str(reg.path), "manifest": str(manifest), "seconds": round(report.seconds, 3),
        "resources": report.resources, **{status: [x.to_dict() for x in report.of(status)] for status in STATUSES},
    }
    out.result(payload, lambda console: console.print(summary_table(report)))
    _refuse_failures(report, len(items))


def _tell(out: Output, outcome: Outcome, index: int, total: int) -> None:
    """One progress line on stderr per model as it finishes: done in how long, or skipped or failed and why."""
    detail = f": {outcome.detail}" if outcome.detail else f" in {outcome.seconds:.1f} s"
    out.hint(f"[{index}/{total}] {outcome.status} {outcome.name}{detail}")


def _refuse_failures(report: FleetReport, total: int) -> None:
    """Exit 1 naming the first failed models, after the result printed: the same command retries them."""
    from seedprints.errors import SeedprintsError

    failed = report.of("failed")
    if failed:
        names = ", ".join(x.name for x in failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        raise SeedprintsError(f"{len(failed)} of {total} models failed ({names}); fix them and run the same "
                              "command again (the registered ones are skipped)")


STATUSES = ("done", "skipped", "failed")


def summary_table(report: "FleetReport") -> "Table":
    """One row per model (done, skipped, then failed) with seconds and why, and a count line in the title."""
    from rich.table import Table

    counts = ", ".join(f"{len(report.of(status))} {status}" for status in STATUSES)
    table = Table(title=f"fleet: {counts} in {report.seconds:.1f} s", show_header=True, header_style="bold")
    for column in ("status", "name", "seconds", "detail"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for status in STATUSES:
        for outcome in report.of(status):
            table.add_row(status, outcome.name, f"{outcome.seconds:.1f}", outcome.detail or "-")
    return table
