"""``seedprints compare``: test whether SUSPECT descends from REF's initialisation."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from seedprints.cli import _options as o
from seedprints.cli._hub import RevisionOpt, local_models
from seedprints.cli._output import Output
from seedprints.options import ProbeOptions, RunOptions
from seedprints.cli._output_files import (
    ForceOpt, ReportOpt, SignOpt, check_outputs, invoked_command, say_written, signing_key,
)

if TYPE_CHECKING:
    from rich.console import Console

    from seedprints.stats.result import LineageResult

EXAMPLES = """Examples:

\b
  seedprints compare base.fp.safetensors suspect.fp.safetensors
  seedprints compare base.fp.safetensors ./suspect-model --json
  seedprints compare ./model-a ./model-b --n 500 --length 64 --alpha 0.001
  seedprints compare base.fp.safetensors ./suspect-model --early-stop --budget 4000
  seedprints compare ./model-a org/suspect@main --n 500
"""


class IdentityModeChoice(str, Enum):
    coset = "coset"
    base = "base"


@o.probe_options()
@o.model_options(weight_sketch=True)
def compare(
    ctx: typer.Context,
    ref: Annotated[Path, typer.Argument(help="Reference: a fingerprint file, a model directory or a Hub id org/name[@REV].")],
    suspect: Annotated[Path, typer.Argument(help="Suspect: a fingerprint file, a model directory or a Hub id org/name[@REV].")],
    method: Annotated[
        o.MethodChoice,
        typer.Option("--method", help="lineage = calibrated permutation-null test; paper = the published SeedPrints statistic."),
    ] = o.DEFAULT_METHOD_CHOICE,
    alpha: o.AlphaOpt = 0.01,
    buffer_k: Annotated[
        Optional[int], typer.Option("--buffer-k", help="Paper mode: identity dimensions per model (default 10% of d).", callback=o.positive_int)
    ] = None,
    identity_mode: Annotated[
        Optional[IdentityModeChoice],
        typer.Option("--identity-mode", help="Paper mode: coset (default) = intersection of both sets; base = reference's set."),
    ] = None,
    use_agg: Annotated[bool, typer.Option("--use-agg", help="Paper mode: add the aggregate signal (Bonferroni-corrected).")] = False,
    budget: o.BudgetOpt = None,
    early_stop: o.EarlyStopOpt = False,
    revision: RevisionOpt = None,
    json_output: o.JsonOpt = False,
    quiet: o.QuietOpt = False,
    bundle: Annotated[
        Optional[Path],
        typer.Option("--bundle", help="Also write an evidence bundle (JSON) that `seedprints verify` recomputes."),
    ] = None,
    sign: SignOpt = None,
    report_dir: ReportOpt = None,
    force: ForceOpt = False,
    *,
    probes: ProbeOptions,
    run: RunOptions,
) -> None:
    """Compare REF and SUSPECT: same-lineage (p < alpha) or independent. Exit 0 either way."""
    from seedprints import pipeline
    from seedprints.reports import terminal as report_text
    from seedprints.reports import html as report_html

    out = Output(json_output, quiet)
    check_outputs(report_dir, force, bundle, (ref, suspect))
    o.refuse_ignored_options(ctx, [ref, suspect])
    signer = signing_key(sign, bundle)
    (ref, suspect), _ = local_models([ref, suspect], revision, trust_remote_code=run.trust_remote_code, out=out)
    settings = _method_settings(method, buffer_k, identity_mode, use_agg, early_stop)
    compared = pipeline.compare(ref, suspect, method=method.value, alpha=alpha, options=probes, run=run,
                                budget=budget, early_stop=early_stop, **settings)
    result = compared.result
    payload = {**report_text.result_json(result), "reference": str(ref), "suspect": str(suspect)}
    command = invoked_command(ctx, [ref, suspect])
    if bundle is not None:
        from seedprints.bundle.evidence import write_compare_bundle

        write_compare_bundle(bundle, compared, (ref, suspect), command=command, settings={"budget": budget, **settings},
                             progress=out.progress, signer=signer)
        payload["bundle"] = str(bundle)
        say_written(out, "evidence bundle", bundle)
    if report_dir is not None:
        page = {**payload, **report_html.spec_fields(compared.reference.spec), "command": command}
        payload["report"] = str(report_html.write_report(report_dir, "compare", page, force=force))
        say_written(out, "report", payload["report"])
    out.result(payload, lambda console: _print(console, result, ref, suspect))


def _method_settings(method: o.MethodChoice, buffer_k: int | None, identity_mode: IdentityModeChoice | None,
                     use_agg: bool, early_stop: bool) -> dict[str, Any]:
    """The paper method's settings (none for the lineage method), after the usage errors of flags the method lacks."""
    paper_flags = {"--buffer-k": buffer_k is not None, "--identity-mode": identity_mode is not None, "--use-agg": use_agg}
    if method.value != "paper" and any(paper_flags.values()):
        given = ", ".join(flag for flag, on in paper_flags.items() if on)
        raise typer.BadParameter(f"{given} only apply to --method paper")
    if early_stop and method.value != "lineage":
        raise typer.BadParameter("--early-stop works with --method lineage only")
    if method.value != "paper":
        return {}
    return dict(buffer_k=buffer_k, identity_mode=(identity_mode or IdentityModeChoice.coset).value, use_agg=use_agg)


def _print(console: Console, result: LineageResult, ref: Path, suspect: Path) -> None:
    """The verdict line, the result's table and, after early stopping, how far it went."""
    from seedprints.reports import terminal as report_text

    console.print(report_text.verdict_line(result, str(ref), str(suspect)))
    console.print(report_text.result_table(result))
    if "sequential" in result.details:
        console.print(_stop_line(result.details["sequential"]))


def _stop_line(sequential: dict) -> str:
    """How far the sequential test went: probes and tokens spent of the budget, and why it stopped."""
    why = {"same-lineage": "decided same-lineage", "futility": "significance out of reach",
           "budget": "budget reached"}[sequential["stop"]]
    tokens = f" ({sequential['probe_tokens']} probe tokens)" if sequential.get("probe_tokens") else ""
    from seedprints.reports.terminal import format_p

    last = sequential["looks"][-1]
    return (f"Early stop: {sequential['probes']} of {sequential['budget']} probes{tokens}, "
            f"{len(sequential['looks'])} look(s): {why}. The p above is the sequential p-value (the smallest over "
            f"the looks of each look's p divided by its share of alpha, at most 1); the last look's own p = "
            f"{format_p(10.0 ** last['log10_p'], last['log10_p'])}")
