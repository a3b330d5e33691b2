"""``seedprints zoo build|eval``: models of known lineage, and the error rates of every test on them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seedprints.cli import _options as o
from seedprints.cli._output import Output

app = typer.Typer(help="Build a zoo of models of known lineage and measure the tests on it.", no_args_is_help=True)

BUILD_EXAMPLES = """Examples:

\b
  seedprints zoo build --out zoo-cpu                 # the default CPU zoo (cpu config)
  seedprints zoo build --config ci --out zoo-ci      # a small smoke zoo, about a minute
  seedprints zoo build --config my_zoo.json --out zoo --device cuda
"""

EVAL_EXAMPLES = """Examples:

\b
  seedprints zoo eval zoo-cpu --out docs/zoo-cpu
  seedprints zoo eval zoo-ci --out results --method paper --json
"""

@app.command("build", epilog=BUILD_EXAMPLES)
def build(
    out: Annotated[Path, typer.Option("--out", help="Directory of the zoo (created; finished models are skipped).")],
    config: Annotated[str, typer.Option("--config", help="Built-in config (cpu, ci, gpu) or a JSON file.")] = "cpu",
    device: o.DeviceOpt = "cpu",
    json_output: o.JsonOpt = False,
) -> None:
    """Train and derive every model of CONFIG under OUT, resuming an interrupted build."""
    from seedprints.zoo.build import build_zoo, load_config

    output = Output(json_output)
    report = build_zoo(load_config(config), out, device=device, progress=output.progress, say=output.hint)
    output.result(report.to_dict(), lambda c: c.print(
        f"zoo in {out}: {len(report.built)} models built, {len(report.skipped)} already there"))


@app.command("eval", epilog=EVAL_EXAMPLES)
def evaluate(
    zoo_dir: Annotated[Path, typer.Argument(help="A zoo built by `seedprints zoo build`.")],
    out: Annotated[Path, typer.Option("--out", help="Where results.json, summary.md and the plots go.")],
    method: Annotated[
        Optional[list[o.MethodChoice]], typer.Option("--method", help="Test(s) to score; repeat the option; default: all.")
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level of the verdicts.")] = 0.01,
    probe: o.ProbeKindOpt = None,
    n: o.NOpt = 1000,
    length: o.LengthOpt = 64,
    probe_seed: o.ProbeSeedOpt = o.DEFAULTS["probe_seed"],
    rare_tokens: o.RareTokensOpt = None,
    device: o.DeviceOpt = "cpu",
    batch_size: o.BatchSizeOpt = 64,
    update_readme: Annotated[
        Optional[Path], typer.Option("--update-readme", help="Rewrite the marked results block of this README.")
    ] = None,
    json_output: o.JsonOpt = False,
) -> None:
    """Fingerprint every zoo model once, test every pair of known lineage, and write the results page."""
    from seedprints.fingerprint import write_atomic
    from seedprints.zoo import summary
    from seedprints.zoo.evaluate import evaluate_zoo

    output = Output(json_output)
    readme_text = summary.read_readme(update_readme) if update_readme is not None else ""  # fail before the long run
    report = evaluate_zoo(
        zoo_dir, out, methods=[m.value for m in method] if method else None, alpha=alpha,
        kind=probe.value if probe else None, n=n, length=length,
        seed=probe_seed, rare_tokens=rare_tokens, device=device, batch_size=batch_size, progress=output.progress, say=output.hint,
    )
    if update_readme is not None:
        readme = summary.update_readme(readme_text, summary.readme_block(report))
        write_atomic(update_readme, readme.encode())
    output.result(report.to_dict(), lambda c: c.print((out / "summary.md").read_text(), markup=False))
