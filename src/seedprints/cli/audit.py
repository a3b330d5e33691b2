"""``seedprints audit``: which embedding rows of a model are padding, whether they carry anything, and so which parts
of the default lineage test can work on it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seedprints.cli import _options as o
from seedprints.cli._hub import RevisionOpt, local_model
from seedprints.cli._output import Output
from seedprints.options import RunOptions

if TYPE_CHECKING:
    from rich.console import Console

    from seedprints.audit import ModelAudit
    from seedprints.model.rows import MatrixRows

EXAMPLES = """Examples:

\b
  seedprints audit ./qwen2-7b
  seedprints audit ./model-Q8_0.gguf --json
  seedprints audit ./lora-adapter --base ./llama-2-7b
  seedprints audit org/model --revision v1.0
"""


@o.model_options()
def audit(
    ctx: typer.Context,
    model: Annotated[Path, typer.Argument(help="Local Hugging Face model directory, GGUF file or PEFT adapter directory, or a Hub id org/name[@REV].")],
    revision: RevisionOpt = None,
    json_output: o.JsonOpt = False,
    quiet: o.QuietOpt = False,
    *,
    run: RunOptions,
) -> None:
    """Audit MODEL's padded embedding rows (past its tokenizer) and say which parts of the default test can use them.

    Reads weights only (no forward pass) and writes nothing.
    """
    from seedprints.audit import audit_model

    o.refuse_ignored(o.given(ctx, "batch_size"), "audit runs no forward pass")
    out = Output(json_output, quiet)
    model_dir, _ = local_model(model, revision, trust_remote_code=run.trust_remote_code, out=out)
    result = audit_model(model_dir, run=run)
    out.result(result.to_dict(), lambda console: _print(console, result))


def _print(console: Console, result: ModelAudit) -> None:
    """The audit as people read it: the model's rows, one line per matrix, one per part of the test, the upshot."""
    from rich.table import Table

    summary = Table(show_header=False)
    summary.add_column("field")
    summary.add_column("value")
    tokenizer = "no tokenizer" if result.tokenizer_length is None else f"tokenizer {result.tokenizer_length} tokens"
    head = "tied to the input embedding" if result.tied else ("separate matrix" if result.output else "none")
    for field, value in (("model", result.model),
                         ("vocabulary", f"{result.input.rows} embedding rows, {tokenizer}: {result.input.padded_rows} padded"),
                         ("LM head", head), ("default probes", result.probe_spec)):
        summary.add_row(field, value)
    console.print(summary)
    matrices = Table(show_header=True, header_style="bold")
    for column in ("matrix", "dtype", "rows", "padded", "zero (padded / all)", "distinct padded", "groups (largest)",
                   "spread padded / ordinary", "along mean", "in-vocab twins"):
        matrices.add_column(column, justify="left" if column in ("matrix", "dtype") else "right")
    for name, matrix in (("input", result.input), ("output", result.output)):
        if matrix is not None:
            matrices.add_row(name, matrix.dtype, str(matrix.rows), str(matrix.padded_rows), *_padded_cells(matrix))
    console.print(matrices)
    parts = Table(show_header=True, header_style="bold")
    for column in ("part", "status", "rows", "why"):
        parts.add_column(column)
    for name, part in (("hidden part", result.hidden_part), ("untrained-input probes", result.untrained_inputs),
                       ("vocab part", result.vocab_part)):
        parts.add_row(name, part.status, "-" if part.rows is None else str(part.rows.rows), part.reason)
    console.print(parts)
    console.print(f"permutation visible: {'yes' if result.permutation_visible else 'no'} ({result.permutation_reason})")


def _padded_cells(matrix: MatrixRows) -> tuple[str, ...]:
    """The padded-row columns of one matrix's line ("-" where it has no padded rows)."""
    padded = matrix.padded
    if padded is None:
        return f"- / {matrix.zero_rows}", "-", "-", f"- / {matrix.ordinary_spread:.3g}", "-", "-"
    relative = "" if padded.relative_spread is None else f" ({padded.relative_spread:.2g})"
    along = "-" if padded.along_mean is None else f"{padded.along_mean:.3f}"
    return (f"{padded.zero} / {matrix.zero_rows}", str(padded.distinct), f"{padded.groups} ({padded.largest_group})",
            f"{padded.spread:.3g} / {matrix.ordinary_spread:.3g}{relative}", along, str(matrix.in_vocab_twins))
