"""``seedprints matrix``: test every ordered pair of a set of models and write an offline HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seedprints.cli import _options as o
from seedprints.options import ProbeOptions, RunOptions
from seedprints.cli._output import Output
from seedprints.cli._output_files import ForceOpt, check_outputs, invoked_command

if TYPE_CHECKING:
    from rich.console import Console

    from seedprints.search.matrix import MatrixResult

EXAMPLES = """Examples:

\b
  seedprints matrix base.fp.safetensors ft.fp.safetensors other.fp.safetensors --out report
  seedprints matrix ./model-a ./model-b ./model-c --out report --n 500 --length 64 --json
  seedprints matrix *.fp.safetensors --out report --force      # replace a previous report
"""


@o.probe_options()
@o.model_options()
def matrix(
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="Fingerprint files or model directories (at least 2).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder to create (index.html, results.json, figures).")],
    force: ForceOpt = False,
    method: Annotated[
        o.MethodChoice,
        typer.Option("--method", help="lineage = calibrated permutation-null test; paper = the published SeedPrints statistic."),
    ] = o.DEFAULT_METHOD_CHOICE,
    alpha: o.AlphaOpt = 0.01,
    json_output: o.JsonOpt = False,
    quiet: o.QuietOpt = False,
    *,
    probes: ProbeOptions,
    run: RunOptions,
) -> None:
    """Test every ordered pair of INPUTS (reference row, suspect column) and write a report to --out.

    All inputs share one probe spec: fingerprint files must have been made with the same probes;
    model directories are fingerprinted with the files' spec (or, without files, with the default
    probes of their vocabulary).
    """
    from seedprints.reports import html as report_html
    from seedprints.search.matrix import resolve_inputs, run_matrix
    from seedprints.progress import progress_bar

    out_text = Output(json_output, quiet)
    check_outputs(out, force, None, tuple(inputs))
    o.refuse_ignored_options(ctx, inputs)
    command = invoked_command(ctx, inputs)
    fps = resolve_inputs(inputs, options=probes, run=run)  # its own progress bars
    with progress_bar(out_text.progress, len(fps) * (len(fps) - 1), "testing pairs") as advance:
        result = run_matrix(fps, names=[str(p) for p in inputs], method=method.value, alpha=alpha,
                            on_pair=lambda: advance(1))
    payload = {**result.to_dict(), "command": command}
    index = report_html.write_report(out, "matrix", payload, force=force)
    payload["report"] = str(index)
    out_text.result(payload, lambda console: _print(console, result, alpha, len(payload["lineages"]), index))


def _print(console: Console, result: MatrixResult, alpha: float, lineages: int, index: Path) -> None:
    """A count line, one row per ordered pair (verdict, p, z), and where the report is."""
    from rich.table import Table

    from seedprints.reports.terminal import format_p

    hits = sum(r.verdict == "same-lineage" for r in result.results.values())
    console.print(f"{len(result.names)} models, {len(result.results)} ordered pairs: {hits} same-lineage "
                  f"(alpha = {alpha:g}); {lineages} lineages")
    table = Table(show_header=True, header_style="bold")
    for column in ("reference", "suspect", "verdict", "p", "z"):
        table.add_column(column, justify="left" if column in ("reference", "suspect", "verdict") else "right")
    for (i, j), r in sorted(result.results.items()):
        table.add_row(result.labels[i], result.labels[j], r.verdict, format_p(r.p_value, r.log10_p), f"{r.z:.2f}")
    console.print(table)
    console.print(f"report: {index}")
