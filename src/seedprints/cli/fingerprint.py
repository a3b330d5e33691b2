"""``seedprints fingerprint``: run a model on probes and save its fingerprint file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from seedprints.cli import _options as o
from seedprints.cli._hub import RevisionOpt, local_model
from seedprints.cli._interrupt import on_interrupt
from seedprints.cli._output import Output
from seedprints.cli._output_files import ForceOpt, refuse_existing
from seedprints.options import ProbeOptions, RunOptions

if TYPE_CHECKING:
    from rich.console import Console

    from seedprints.fingerprint_run import Written

EXAMPLES = """Examples:

\b
  seedprints fingerprint ./llama-2-7b -o llama2.fp.safetensors --device cuda
  seedprints fingerprint ./suspect -o suspect.fp.safetensors --like llama2.fp.safetensors
  seedprints fingerprint ./tiny-model -o tiny.fp.safetensors --n 500 --length 64
  seedprints fingerprint ./model -o fp.safetensors --probe-file my_probes.json
  seedprints fingerprint ./model-Q8_0.gguf -o q8.fp.safetensors --like llama2.fp.safetensors
  seedprints fingerprint ./lora-adapter --base ./llama-2-7b -o lora.fp.safetensors --like llama2.fp.safetensors
  seedprints fingerprint ./llama-70b -o 70b.fp.safetensors --device-map auto
  seedprints fingerprint ./tiny-model --extend tiny.fp.safetensors --n 4000
  seedprints fingerprint ./suspect -o suspect.fp.safetensors --like base.fp.safetensors --early-stop
  seedprints fingerprint org/model --revision v1.0 -o model-v1.fp.safetensors
"""


@o.probe_options()
@o.model_options(weight_sketch=True)
def fingerprint(
    ctx: typer.Context,
    model_dir: Annotated[Path, typer.Argument(help="Local Hugging Face model directory, GGUF file or PEFT adapter directory, or a Hub id org/name[@REV].")],
    output: Annotated[
        Optional[Path], typer.Option("-o", "--output", help="Fingerprint file to write (.safetensors; default with --extend: FILE).")
    ] = None,
    like: Annotated[
        Optional[Path],
        typer.Option("--like", help="Use the probes of this fingerprint file (to compare against it later)."),
    ] = None,
    extend: Annotated[
        Optional[Path],
        typer.Option("--extend", metavar="FILE", help="Grow this fingerprint file to --n (or --budget) probes of its spec, "
                     "computing only the missing rows; MODEL_DIR must be the model that made it."),
    ] = None,
    budget: o.BudgetOpt = None,
    early_stop: o.EarlyStopOpt = False,
    alpha: o.AlphaOpt = 0.01,
    force: ForceOpt = False,
    revision: RevisionOpt = None,
    json_output: o.JsonOpt = False,
    quiet: o.QuietOpt = False,
    *,
    probes: ProbeOptions,
    run: RunOptions,
) -> None:
    """Fingerprint MODEL_DIR: final hidden states of the model on deterministic random probes.

    An interrupted run (crash, Ctrl-C) keeps its rows in a hidden .OUTPUT.partial file beside the
    output; running the same command again resumes from it.
    """
    from seedprints.fingerprint_run import check_output, fingerprint_file
    from seedprints.output_paths import same_file

    out = Output(json_output, quiet)
    output = _refuse_conflicts(ctx, output, like, extend, early_stop)
    check_output(output, model_dir, like=like, extend=extend)
    if extend is None or not same_file(output, extend):  # --extend FILE grows FILE in place: that is what it is for
        refuse_existing(output, force)
    model_dir, _ = local_model(model_dir, revision, trust_remote_code=run.trust_remote_code, out=out)
    written = fingerprint_file(model_dir, output, like=like, extend=extend, budget=budget, early_stop=early_stop,
                               alpha=alpha, options=probes, run=run, on_resumable=on_interrupt)
    out.result(_payload(written), lambda console: _print(console, written, like, model_dir))


def _refuse_conflicts(ctx: typer.Context, output: Path | None, like: Path | None, extend: Path | None,
                      early_stop: bool) -> Path:
    """The file to write (-o, else --extend's), after the usage errors of options that cannot go together."""
    output = output or extend
    if output is None:
        raise typer.BadParameter("give the file to write with -o/--output (or grow one with --extend FILE)")
    if early_stop and like is None:
        raise typer.BadParameter("--early-stop needs a reference to decide against: add --like REFERENCE_FILE")
    if extend is not None and (like is not None or early_stop):
        raise typer.BadParameter("--extend takes its probes from FILE; drop --like and --early-stop")
    if extend is not None or like is not None:
        ignored = o.given(ctx, *(p for p in o.PROBE_PARAMETERS if not (like is not None and p == "probe_file")),
                          *(("n",) if extend is None else ()))
        if ignored:
            source = "--extend FILE" if extend is not None else "the --like file"
            raise typer.BadParameter(f"the probes come from {source}, so {', '.join(ignored)} would be ignored; "
                                     f"drop {'them' if len(ignored) > 1 else 'it'}")
    return output


def _payload(written: Written) -> dict:
    """The --json result: where the file went, what it holds and, when it stopped early, the decision."""
    from seedprints.reports import terminal as report_text

    fp = written.fingerprint
    payload = {
        "path": str(written.path), "model_id": fp.model_id, "n": fp.n, "hidden_size": fp.hidden_size,
        "probe_hash": fp.probe_hash, "probe_spec": fp.spec.describe(), "dtype": fp.metadata.get("dtype"),
        "weight_sketch": None if fp.weights is None else fp.weights.summary(),
    }
    if written.decision is not None:
        payload["decision"] = report_text.result_json(written.decision)
    return payload


def _print(console: Console, written: Written, like: Path | None, model_dir: Path) -> None:
    """The fingerprint's table and, when it stopped early, the verdict against the --like file."""
    from seedprints.reports import terminal as report_text

    console.print(report_text.fingerprint_table(written.fingerprint, str(written.path)))
    if written.decision is not None:
        console.print(report_text.verdict_line(written.decision, str(like), str(model_dir)))
