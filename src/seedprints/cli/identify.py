"""``seedprints identify``: which registered model does SUSPECT descend from?"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from seedprints.cli import _options as o
from seedprints.cli._output import Output
from seedprints.options import ProbeOptions, RunOptions
from seedprints.cli._output_files import (
    ForceOpt, ReportOpt, SignOpt, check_outputs, invoked_command, say_written, signing_key,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from seedprints.search.identification import IdentifyResult

EXAMPLES = """Examples:

\b
  seedprints identify suspect.fp.safetensors
  seedprints identify ./suspect-model --registry team-refs.db --top 5 --json
  seedprints identify ./suspect-model --device cuda --alpha 0.001
  seedprints identify ./suspect-model --early-stop --budget 2000   # stop once decided, extracting in rounds
  seedprints identify ./suspect-model --report identify-report   # offline HTML page with the ranked bar chart
"""


@o.model_options()
def identify(
    ctx: typer.Context,
    suspect: Annotated[Path, typer.Argument(help="Suspect: a fingerprint file or a model directory (fingerprinted with the registry's probe specs).")],
    registry: o.RegistryOpt = o.DEFAULT_REGISTRY,
    top: Annotated[int, typer.Option("--top", help="Candidates to show (adjusted p-values always count every test run).", callback=o.positive_int)] = 10,
    alpha: o.AlphaOpt = 0.01,
    budget: o.BudgetOpt = None,
    early_stop: o.EarlyStopOpt = False,
    probe_file: o.ProbeFileOpt = None,
    report_dir: ReportOpt = None,
    force: ForceOpt = False,
    bundle: Annotated[
        Optional[Path],
        typer.Option("--bundle", help="Also write an evidence bundle (JSON) of the listed candidates' tests, which "
                     "`seedprints verify` recomputes."),
    ] = None,
    sign: SignOpt = None,
    json_output: o.JsonOpt = False,
    quiet: o.QuietOpt = False,
    *,
    run: RunOptions,
) -> None:
    """Test SUSPECT against every compatible registry entry; rank candidates with Holm and BH adjusted p-values. Exit 0 either way."""
    from seedprints.reports import html as report_html
    from seedprints.search.identification import identify as run_identify

    out = Output(json_output, quiet)
    check_outputs(report_dir, force, bundle, (suspect, *registry.files()))
    signer = signing_key(sign, bundle)
    o.refuse_ignored_options(ctx, [suspect], probe_file_used=False)
    result = run_identify(
        suspect, registry, top=top, alpha=alpha,
        options=ProbeOptions(probe_file=str(probe_file) if probe_file else None),
        run=run, progress=out.progress, keep_evidence=bundle is not None,
        budget=budget, early_stop=early_stop,
    )
    for note in result.notes:
        out.hint(f"Note: {note}")
    payload = result.to_dict()
    command = invoked_command(ctx, [suspect], probe_file_used=False)
    if bundle is not None:
        from seedprints.bundle.evidence import write_identify_bundle

        write_identify_bundle(bundle, result, suspect, command=command, progress=out.progress, signer=signer)
        payload["bundle"] = str(bundle)
        say_written(out, "evidence bundle", bundle)
    if report_dir is not None:
        page = {**payload, "command": command}
        payload["report"] = str(report_html.write_report(report_dir, "identify", page, force=force))
        say_written(out, "report", payload["report"])
    out.result(payload, lambda console: _print(console, result))


def _print(console: Console, result: IdentifyResult) -> None:
    """The ranked candidates' table, then the one-line summary."""
    console.print(_table(result))
    console.print(_summary(result))


def _table(result: IdentifyResult) -> Table:
    """Candidates ranked by evidence, with raw and adjusted p-values and both verdicts."""
    from rich.table import Table  # rich only where a table prints (start-up of --help)

    from seedprints.reports.terminal import format_p, tags_cell

    table = Table(show_header=True, header_style="bold")
    for column in ("#", "name", "z", "p", "Holm p", "BH p", "verdict", "BH verdict", "tags"):
        table.add_column(column, justify="right" if column in ("#", "z", "p", "Holm p", "BH p") else "left")
    for rank, c in enumerate(result.candidates, 1):
        table.add_row(
            str(rank), c.name, f"{c.z:.2f}", format_p(c.p_value, c.log10_p), format_p(c.p_holm, c.log10_p_holm),
            format_p(c.p_bh, c.log10_p_bh), c.verdict, c.bh_verdict, tags_cell(c.tags),
        )
    return table


def _summary(result: IdentifyResult) -> str:
    """One line: the best match and its Holm-adjusted p, then what was tested and skipped."""
    from seedprints.reports.words import skip_reason
    from seedprints.reports.terminal import format_p

    best = result.best
    p = format_p(best.p_holm, best.log10_p_holm)
    lead = (
        f"best match {best.name}, Holm-adjusted p = {p} < alpha = {result.alpha:g}: same-lineage"
        if best.verdict == "same-lineage"
        else f"no same-lineage match at alpha = {result.alpha:g}; best match {best.name}, Holm-adjusted p = {p}"
    )
    skipped = "; ".join(f"{count} {skip_reason(reason)}" for reason, count in result.skipped.items())
    line = f"{lead} ({result.tested} entries tested" + (f"; skipped {skipped})" if skipped else ")")
    return line + (f"\n{_stop_line(result.sequential)}" if result.sequential else "")


def _stop_line(sequential: dict) -> str:
    """How far early stopping went: probes and tokens spent of the budget, the level spent, and why it stopped."""
    why = {"same-lineage": "decided same-lineage", "futility": "significance out of reach for every entry",
           "budget": "budget reached"}[sequential["stop"]]
    return (f"Early stop: {sequential['probes']} of {sequential['budget']} probes ({sequential['probe_tokens']} probe "
            f"tokens), {len(sequential['looks'])} look(s), verdicts at level {sequential['level']:.3g}: {why}")
