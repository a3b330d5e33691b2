"""``seedprints claims``: is each model really built on the base its card names?"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from seedprints.cli import _options as o
from seedprints.cli._hub import RevisionOpt
from seedprints.cli._interrupt import on_interrupt
from seedprints.cli._output import Output
from seedprints.cli._output_files import (
    ForceOpt, ReportOpt, SignOpt, check_outputs, invoked_command, make_parent, say_written, signing_key,
)
from seedprints.options import ProbeOptions, RunOptions

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from rich.console import Console
    from rich.table import Table

    from seedprints.claims.results import ClaimsResult

EXAMPLES = """Examples:

\b
  seedprints claims ./my-finetune --registry refs.db
  seedprints claims ./model-Q8_0.gguf ./lora-adapter org/model@v1.0 --registry refs.db --json
  seedprints claims models.jsonl --registry refs.db --fetch-bases --report claims-report --bundle claims-evidence
  seedprints claims models.jsonl --registry refs.db --fleet --ray-address auto   # on the Ray cluster of `fleet`

\b
  A model card claims its bases in its YAML front-matter:
    ---
    base_model: org/base-model          # or a list
    base_model_relation: finetune       # finetune | adapter | quantized | merge
    ---
"""


class CorrectionChoice(str, Enum):
    holm = "holm"
    bh = "bh"


@o.probe_options(only=("n", "length", "probe_seed", "rare_tokens"))
@o.model_options()
def claims(
    ctx: typer.Context,
    inputs: Annotated[list[str], typer.Argument(
        metavar="INPUTS", help="Models whose claims to check: model directories, GGUF files, PEFT adapters, Hub ids "
        "org/name[@REV], or manifests of them (.jsonl or .csv, as `seedprints fleet` reads).")],
    registry: o.RegistryOpt = o.DEFAULT_REGISTRY,
    alpha: o.AlphaOpt = 0.01,
    correction: Annotated[CorrectionChoice, typer.Option(
        "--correction", help="holm: the chance of any false 'confirmed' over the run's claims is at most alpha; "
        "bh: Benjamini-Hochberg, the expected share of false ones among the confirmed is.")] = CorrectionChoice.holm,
    fetch_bases: Annotated[bool, typer.Option(
        "--fetch-bases", help="Fingerprint a claimed base that is not in the registry from the claim itself (a local "
        "path or a Hub id).")] = False,
    fleet: Annotated[bool, typer.Option(
        "--fleet", help="Fingerprint the models as Ray tasks, on the cluster of `seedprints fleet`.")] = False,
    ray_address: o.RayAddressOpt = None,
    gpus_per_model: o.GpusPerModelOpt = None,
    retries: o.RetriesOpt = 2,
    cache: Annotated[Optional[Path], typer.Option(
        "--cache", metavar="DIR", help="Where the run keeps model fingerprints, so that the same command resumes "
        "after an interruption.", show_default="~/.cache/seedprints/claims")] = None,
    revision: RevisionOpt = None,
    report_dir: ReportOpt = None,
    bundle: Annotated[Optional[Path], typer.Option(
        "--bundle", metavar="DIR", help="Also write an evidence bundle per confirmed or not-supported claim, which "
        "`seedprints verify` recomputes, into this new folder.")] = None,
    force: ForceOpt = False,
    sign: SignOpt = None,
    json_output: o.JsonOpt = False,
    quiet: o.QuietOpt = False,
    *,
    probes: ProbeOptions,
    run: RunOptions,
) -> None:
    """Test each model's claimed bases (model card, adapter config, GGUF metadata) against their registry entries.

    Every claim gets one outcome: confirmed (same lineage, Holm over the run's claims), not-supported (no
    evidence of descent, beside the z it needed), cannot-tell (with the reason) or, for a registry entry a model
    identifies to without claiming it, unclaimed. Exit 0 whatever the outcomes.
    """
    from seedprints.api import check_claims
    from seedprints.claims.bundles import write_bundles
    from seedprints.claims.fleet import FleetSettings
    from seedprints.claims.running import default_cache
    from seedprints.reports import html as report_html

    out = Output(json_output, quiet)
    _refuse_ray_flags(ctx, fleet)
    signer = _check_outputs(report_dir, bundle, force, sign)
    folder = cache or default_cache()
    on_interrupt(lambda: f"interrupted; the fingerprints finished so far are kept in {folder}; run the same command "
                         "again to go on with the rest")
    command = invoked_command(ctx, [Path(i) for i in inputs])
    result = check_claims(
        inputs, registry, alpha=alpha, correction=correction.value, fetch_bases=fetch_bases, options=probes, run=run,
        cache=folder, fleet=FleetSettings(ray_address, gpus_per_model, retries) if fleet else None, revision=revision,
        keep_evidence=bundle is not None, say=out.hint,
    )
    for note in result.notes:
        out.hint(f"Note: {note}")
    payload = result.to_dict()
    if bundle is not None:
        for row, path in write_bundles(bundle, result, signer=signer, command=command).items():
            payload["claims"][row]["bundle"] = str(path)
        payload["bundle_dir"] = str(bundle)
        say_written(out, "evidence bundles in", bundle)
    if report_dir is not None:
        payload["report"] = str(report_html.write_report(report_dir, "claims", {**payload, "command": command},
                                                         force=force))
        say_written(out, "report", payload["report"])
    out.result(payload, lambda console: _print(console, result))


def _refuse_ray_flags(ctx: typer.Context, fleet: bool) -> None:
    """Usage error for the Ray options without --fleet, where they would do nothing."""
    ray_flags = o.given(ctx, "ray_address", "gpus_per_model", "retries")
    if ray_flags and not fleet:
        raise typer.BadParameter(f"{', '.join(ray_flags)} appl{'y' if len(ray_flags) > 1 else 'ies'} to --fleet runs; "
                                 "add --fleet or drop them")


def _check_outputs(report_dir: Path | None, bundle: Path | None, force: bool, sign: Path | None) -> Ed25519PrivateKey | None:
    """Refuse an unusable --report or --bundle folder before any work, and read the --sign key."""
    from seedprints.claims.bundles import check_bundle_dir

    check_outputs(report_dir, force, None, ())
    if bundle is not None:
        make_parent(bundle)
        check_bundle_dir(bundle, force=force)
    return signing_key(sign, bundle)


def _print(console: Console, result: ClaimsResult) -> None:
    """The claims' table, each claim's reason, and the run's summary line."""
    console.print(claims_table(result))
    for i, row in enumerate(result.claims, 1):
        console.print(f"{i}. {row.reason}")
    console.print(summary_line(result))


def claims_table(result: ClaimsResult) -> Table:
    """One line per claim: model, claimed base, relation, outcome, z and adjusted p (the reasons follow the table)."""
    from rich.table import Table

    from seedprints.reports.terminal import format_p

    table = Table(show_header=True, header_style="bold")
    for column in ("#", "model", "claimed base", "relation", "outcome", "z", "p", "adjusted p"):
        table.add_column(column, justify="right" if column in ("#", "z", "p", "adjusted p") else "left")
    for i, row in enumerate(result.claims, 1):
        table.add_row(
            str(i), row.model, row.claimed_base or (f"({row.entry})" if row.entry else "-"), row.relation or "-",
            row.outcome, "-" if row.z is None else f"{row.z:.1f}",
            "-" if row.log10_p is None else format_p(row.p_value, row.log10_p),
            "-" if row.log10_p_adjusted is None else format_p(row.p_adjusted, row.log10_p_adjusted),
        )
    return table


def summary_line(result: ClaimsResult) -> str:
    """The run in one line: models, claims tested, the correction, and the count of each outcome."""
    from seedprints.claims.outcomes import CORRECTIONS

    counts = ", ".join(f"{count} {outcome}" for outcome, count in result.counts.items())
    return (f"{len(result.models)} model{'s' if len(result.models) != 1 else ''}, {result.tested} claim"
            f"{'s' if result.tested != 1 else ''} tested against registry {result.registry} at alpha = "
            f"{result.alpha:g} ({CORRECTIONS[result.correction]} over the tested claims): {counts}")
