"""``seedprints compare``: test whether SUSPECT descends from REF's initialisation."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from seedprints.cli import _options as o
from seedprints.cli._hub import RevisionOpt, local_models
from seedprints.cli._output import Output
from seedprints.options import ProbeOptions, RunOptions
from seedprints.cli._output_files import (
    ForceOpt, ReportOpt, SignOpt, check_outputs, invoked_command, say_written, signing_key,
)

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
@o.model_options()
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
    paper_flags = {"--buffer-k": buffer_k is not None, "--identity-mode": identity_mode is not None, "--use-agg": use_agg}
    settings: dict = {}
    if method.value == "paper":
        settings = dict(buffer_k=buffer_k, identity_mode=(identity_mode or IdentityModeChoice.coset).value, use_agg=use_agg)
    elif any(paper_flags.values()):
        given = ", ".join(flag for flag, on in paper_flags.items() if on)
        raise typer.BadParameter(f"{given} only apply to --method paper")
    if early_stop and method.value != "lineage":
        raise typer.BadParameter("--early-stop works with --method lineage only")
    result, *pair = pipeline.compare(ref, suspect, method=method.value, alpha=alpha, options=probes, run=run,
                                     budget=budget, early_stop=early_stop, **settings)
    payload = {**report_text.result_json(result), "reference": str(ref), "suspect": str(suspect)}
    command = invoked_command(ctx, [ref, suspect])
    if bundle is not None:
        recorded = _stopping_look_test(result, pair) if early_stop else (result, {"budget": budget, **settings})
        _write_bundle(bundle, command, (ref, suspect), pair, *recorded, out.progress, signer, whole_files=not early_stop)
        payload["bundle"] = str(bundle)
        say_written(out, "evidence bundle", bundle)
    if report_dir is not None:
        page = {**payload, **report_html.spec_fields(pair[0].spec), "command": command}
        payload["report"] = str(report_html.write_report(report_dir, "compare", page, force=force))
        say_written(out, "report", payload["report"])

    def human(console) -> None:
        console.print(report_text.verdict_line(result, str(ref), str(suspect)))
        console.print(report_text.result_table(result))
        if "sequential" in result.details:
            console.print(_stop_line(result.details["sequential"]))

    out.result(payload, human)


def _stopping_look_test(result, pair: list) -> tuple:  # noqa: ANN001
    """What an early-stopped comparison's bundle records: the fixed lineage test on the fingerprints at the stopping
    look, at that look's level, whose verdict is the sequential one and which ``seedprints verify`` recomputes."""
    from seedprints import pipeline

    level = 10.0 ** result.details["sequential"]["looks"][-1]["log10_level"]
    return pipeline.compare(*pair, alpha=level).result, {}


def _write_bundle(path: Path, command: str, sources: tuple[Path, Path], pair: list, result, settings: dict,
                  progress: bool, signer, *, whole_files: bool) -> None:  # noqa: ANN001
    """Embed both sides (a file's exact bytes, or the probe rows used; a model directory's fingerprint and file
    checksums) and write the bundle."""
    from seedprints.bundle import layout
    from seedprints.bundle import write as bundle

    embedded = {
        name: bundle.embed_source(src, fp, whole_file=whole_files, progress=progress)
        for name, src, fp in zip(("reference", "suspect"), sources, pair)
    }
    bundle.write_bundle(
        path, fingerprints=embedded, tests=[layout.Comparison("reference", "suspect", result, settings)],
        command=command, signer=signer,
    )


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
