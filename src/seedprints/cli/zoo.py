"""``seedprints zoo build|eval|seeds|identify``: models of known lineage, and the error rates of every test on them."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from seedprints.cli import _options as o
from seedprints.cli._help import PlainHelp
from seedprints.cli._output import Output
from seedprints.options import ProbeOptions, RunOptions

app = typer.Typer(help="Build a zoo of models of known lineage and measure the tests on it.", no_args_is_help=True)

# The zoo's N and length (seedprints.zoo.fingerprinting.ZOO_PROBES, which the CLI does not import before a verb runs):
# its models have 128 to 256 positions, and every results page was measured with these
ZOO_N, ZOO_LENGTH = 1000, 64


def zoo_probe_options(verb: Callable[..., Any]) -> Callable[..., Any]:
    """Add --n, --length, --probe-seed and --rare-tokens to a zoo verb, which receives them as ``probes: ProbeOptions``
    (the zoo's N and length by default; the verb chooses the kinds)."""
    extra = [o._option("n", o.NOpt, ZOO_N), o._option("length", o.LengthOpt, ZOO_LENGTH),
             o._option("probe_seed", o.ProbeSeedOpt, o.DEFAULT_PROBE_SEED), o._option("rare_tokens", o.RareTokensOpt, None)]

    def build(values: dict[str, Any], _verb_args: dict[str, Any]) -> ProbeOptions:
        return ProbeOptions(n=values["n"], length=values["length"], seed=values["probe_seed"],
                            rare_tokens=values["rare_tokens"])

    return o._with_parameters(extra, build, "probes")(verb)


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

@app.command("build", epilog=BUILD_EXAMPLES, cls=PlainHelp)
def build(
    out: Annotated[Path, typer.Option("--out", help="Directory of the zoo (created; finished models are skipped).")],
    config: Annotated[str, typer.Option("--config", help="Built-in config (cpu, ci, gpu) or a JSON file.")] = "cpu",
    device: o.DeviceOpt = "cpu",  # it trains: "auto" would train on a GPU where there is one, not the CPU zoo the pages measured
    json_output: o.JsonOpt = False,
) -> None:
    """Train and derive every model of CONFIG under OUT, resuming an interrupted build."""
    from seedprints.zoo.build import build_zoo, load_zoo_config

    output = Output(json_output)
    report = build_zoo(load_zoo_config(config), out, device=device, progress=output.progress, say=output.hint)
    output.result(report.to_dict(), lambda c: c.print(
        f"zoo in {out}: {len(report.built)} models built, {len(report.skipped)} already there"))


@app.command("eval", epilog=EVAL_EXAMPLES, cls=PlainHelp)
@zoo_probe_options
@o.model_options(only=("device", "batch_size"))
def evaluate(
    zoo_dir: Annotated[Path, typer.Argument(help="A zoo built by `seedprints zoo build`.")],
    out: Annotated[Path, typer.Option("--out", help="Where results.json, summary.md and the plots go.")],
    method: Annotated[
        Optional[list[o.MethodChoice]], typer.Option("--method", help="Test(s) to score; repeat the option; default: all.")
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level of the verdicts.")] = 0.01,
    probe: o.ProbeKindOpt = None,
    update_readme: Annotated[
        Optional[Path], typer.Option("--update-readme", help="Rewrite the marked results block of this README.")
    ] = None,
    json_output: o.JsonOpt = False,
    quiet: o.QuietOpt = False,
    *,
    probes: ProbeOptions,
    run: RunOptions,
) -> None:
    """Fingerprint every zoo model once, test every pair of known lineage, and write the results page."""
    from seedprints.output_paths import write_atomic
    from seedprints.zoo import summary
    from seedprints.zoo.evaluate import evaluate_zoo

    output = Output(json_output, quiet)
    readme_text = summary.read_readme(update_readme) if update_readme is not None else ""  # fail before the long run
    report = evaluate_zoo(
        zoo_dir, out, methods=[m.value for m in method] if method else None, alpha=alpha,
        kind=probe.value if probe else None, probes=probes, run=run, say=output.hint,
    )
    if update_readme is not None:
        readme = summary.update_readme(readme_text, summary.readme_block(report))
        write_atomic(update_readme, readme.encode())
    output.result(report.to_dict(), lambda c: c.print((out / "summary.md").read_text()))


SEEDS_EXAMPLES = """Examples:

\b
  seedprints zoo seeds zoo-cpu --candidates 100 --out docs/zoo-seeds
  seedprints zoo seeds zoo-cpu --out seeds --probe token --stage pretrained --json
"""


class SeedProbeChoice(str, Enum):
    token = "token"
    rare = "rare"


@app.command("seeds", epilog=SEEDS_EXAMPLES, cls=PlainHelp)
@zoo_probe_options
@o.model_options(only=("device", "batch_size"))
def seeds(
    zoo_dir: Annotated[Path, typer.Argument(help="A zoo built by `seedprints zoo build`.")],
    out: Annotated[Path, typer.Option("--out", help="Where results.json, summary.md and seed-curve.png go.")],
    candidates: Annotated[
        int, typer.Option("--candidates", help="Candidate seeds 0..K-1 (must include every true seed).", callback=o.positive_int)
    ] = 100,
    probe: Annotated[
        Optional[list[SeedProbeChoice]], typer.Option("--probe", help="Probe kind(s) to measure; repeat; default token and rare "
                                                           "(the default untrained-token probes of each suspect's vocabulary).")
    ] = None,
    stage: Annotated[
        Optional[list[str]], typer.Option("--stage", help="Manifest stage(s) of the suspects; repeat; default init, checkpoint, "
                                          "pretrained, continual, finetune.")
    ] = None,
    lineage: Annotated[Optional[list[str]], typer.Option("--lineage", help="Only these lineages (e.g. llama-s1); repeat.")] = None,
    rare_suspect: Annotated[
        Optional[list[str]], typer.Option("--rare-suspect", help="Rare probes only for these suspects (each distinct spec costs "
                                          "a sweep of every candidate); repeat; default all.")
    ] = None,
    alpha: o.AlphaOpt = 0.01,
    json_output: o.JsonOpt = False,
    *,
    probes: ProbeOptions,
    run: RunOptions,
) -> None:
    """Rank candidate init seeds for every zoo model of a known seed: top-1 accuracy against training steps."""
    from seedprints.zoo.seedcurve import DEFAULT_STAGES, PROBE_KINDS, seed_curve

    output = Output(json_output)
    report = seed_curve(
        zoo_dir, out, candidates=candidates, kinds=[p.value for p in probe] if probe else PROBE_KINDS,
        stages=stage or DEFAULT_STAGES, lineages=lineage, rare_suspects=rare_suspect, alpha=alpha,
        probes=probes, run=run, say=output.hint,
    )
    output.result(report.to_dict(), lambda c: c.print((out / "summary.md").read_text()))


IDENTIFY_EXAMPLES = """Examples:

\b
  seedprints zoo identify zoo-cpu --out docs/zoo-identify
  seedprints zoo identify zoo-cpu --out ident --candidate-stage pretrained --candidate-stage init --json
"""


@app.command("identify", epilog=IDENTIFY_EXAMPLES, cls=PlainHelp)
@zoo_probe_options
@o.model_options(only=("device", "batch_size"))
def identify(
    zoo_dir: Annotated[Path, typer.Argument(help="A zoo built by `seedprints zoo build`.")],
    out: Annotated[Path, typer.Option("--out", help="Where results.json and summary.md go.")],
    candidate_stage: Annotated[
        Optional[list[str]], typer.Option("--candidate-stage", help="Manifest stage(s) registered as candidates; repeat; "
                                          "default pretrained and distill.")
    ] = None,
    alpha: o.AlphaOpt = 0.01,
    json_output: o.JsonOpt = False,
    *,
    probes: ProbeOptions,
    run: RunOptions,
) -> None:
    """Register the zoo's base models, identify every other model against them, and write the results page."""
    from seedprints.zoo.identify_eval import DEFAULT_CANDIDATE_STAGES, evaluate_identify

    output = Output(json_output)
    report = evaluate_identify(
        zoo_dir, out, candidate_stages=candidate_stage or DEFAULT_CANDIDATE_STAGES, alpha=alpha, probes=probes, run=run,
        say=output.hint,
    )
    output.result(report.to_dict(), lambda c: c.print((out / "summary.md").read_text()))
