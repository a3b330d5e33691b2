"""``seedprints demo``: the whole pipeline on small built-in models of known lineage."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from seedprints.cli import _options as o
from seedprints.cli._output import Output

if TYPE_CHECKING:
    from rich.console import Console

    from seedprints.demo import DemoPair, DemoSettings

EXAMPLES = """Examples:

\b
  seedprints demo
  seedprints demo --out demo-models          # keep the models and fingerprints (re-runs reuse them)
  seedprints demo --pretrain-steps 60 --finetune-steps 20 --json
"""


def demo(
    out: Annotated[Optional[Path], typer.Option("--out", help="Keep models and fingerprints here (reused on re-runs).")] = None,
    pretrain_steps: Annotated[int, typer.Option("--pretrain-steps", help="Pretraining steps per seed.", callback=o.positive_int)] = 200,
    finetune_steps: Annotated[int, typer.Option("--finetune-steps", help="Fine-tuning steps.", callback=o.positive_int)] = 60,
    n: o.NOpt = 1000,
    length: o.LengthOpt = 64,
    json_output: o.JsonOpt = False,
) -> None:
    """Train small Llama-style models from two seeds on CPU, fine-tune one, and test every known pair."""
    from seedprints.demo import DemoSettings, run_demo

    output = Output(json_output)
    settings = DemoSettings(pretrain_steps=pretrain_steps, finetune_steps=finetune_steps, n=n, length=length)
    pairs = run_demo(settings, out_dir=out, progress=output.progress, say=output.hint)
    payload = {"settings": {**dataclasses.asdict(settings)}, "pairs": [p.to_dict() for p in pairs]}
    output.result(payload, lambda console: _print(console, settings, pairs, out))


def _print(console: Console, settings: DemoSettings, pairs: list[DemoPair], out: Path | None) -> None:
    """One row per pair (relation, truth, each method's verdict, WRONG where it misses), the score of each method,
    and where the kept models are."""
    from rich.table import Table

    from seedprints.reports import terminal as report_text

    table = Table(title=f"Lineage verdicts at alpha = {settings.alpha:g} (truth = how the models were made)")
    for column in ("reference", "suspect", "relation", "truth", *settings.methods):
        table.add_column(column)
    for pair in pairs:
        cells = []
        for name in settings.methods:
            result = pair.results[name]
            mark = "" if pair.correct(name) else "  WRONG"
            cells.append(f"{result.verdict}{mark}\nz = {result.z:.1f}, p = {report_text.format_p(result.p_value, result.log10_p)}")
        table.add_row(pair.reference, pair.suspect, pair.relation, pair.truth, *cells)
    console.print(table)
    for name in settings.methods:
        right = sum(p.correct(name) for p in pairs)
        console.print(f"{name}: {right} of {len(pairs)} verdicts match the known lineage.")
    if out is not None:
        console.print(f"Models and fingerprints are in {out}; try: seedprints compare "
                      f"{out}/base-seed1.untrained.fp.safetensors {out}/permuted-finetune-of-seed1")
