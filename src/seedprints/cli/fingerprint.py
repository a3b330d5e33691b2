"""``seedprints fingerprint``: run a model on probes and save its fingerprint file."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer

from seedprints.cli import _options as o
from seedprints.cli._hub import RevisionOpt, local_model
from seedprints.cli._interrupt import on_interrupt
from seedprints.cli._output import Output
from seedprints.cli._output_files import ForceOpt, refuse_existing
from seedprints.options import ProbeOptions, RunOptions

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
@o.model_options()
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
    from seedprints import pipeline
    from seedprints.reports import terminal as report_text
    from seedprints import fingerprint as fpfile
    from seedprints.errors import OutputPathError
    from seedprints.output_paths import check_output_path, same_file
    from seedprints.resume import partial_path
    from seedprints.probes import ProbeSpec

    out = Output(json_output, quiet)
    output = output or extend
    if output is None:
        raise typer.BadParameter("give the file to write with -o/--output (or grow one with --extend FILE)")
    if early_stop and like is None:
        raise typer.BadParameter("--early-stop needs a reference to decide against: add --like REFERENCE_FILE")
    if extend is not None and (like is not None or early_stop):
        raise typer.BadParameter("--extend takes its probes from FILE; drop --like and --early-stop")
    if extend is not None and not extend.is_file():
        raise OutputPathError(f"--extend {extend} is not an existing fingerprint file; give the file to grow "
                              "(make one first with -o)")
    if extend is not None or like is not None:
        ignored = o.given(ctx, *(p for p in o.PROBE_PARAMETERS if not (like is not None and p == "probe_file")),
                          *(("n",) if extend is None else ()))
        if ignored:
            source = "--extend FILE" if extend is not None else "the --like file"
            raise typer.BadParameter(f"the probes come from {source}, so {', '.join(ignored)} would be ignored; "
                                     f"drop {'them' if len(ignored) > 1 else 'it'}")
    check_output_path(output, [model_dir, *([like] if like is not None else [])])
    if extend is None or not same_file(output, extend):  # --extend FILE grows FILE in place: that is what it is for
        refuse_existing(output, force)
    partial = partial_path(output)
    if partial.exists() and (partial.is_symlink() or not partial.is_file()):
        raise OutputPathError(f"{partial} is in the way of this run's resume file (it is not a regular file); remove it")
    model_dir, _ = local_model(model_dir, revision, trust_remote_code=run.trust_remote_code, out=out)
    decision = None
    if like is not None and extend is None:  # by config, before any weight is read
        pipeline.check_model_takes_like(model_dir, like, trust_remote_code=run.trust_remote_code)
    if extend is not None:
        fp = pipeline.extend_fingerprint(model_dir, fpfile.load(extend), budget or probes.n, source=str(extend), run=run)
    elif early_stop:
        fp, decision = pipeline.fingerprint_until_decided(model_dir, fpfile.load(like), alpha=alpha, budget=budget, run=run)
    else:
        options = dataclasses.replace(probes, n=budget or probes.n)
        spec = pipeline.probes_like(like, options) if like is not None else None
        if budget is not None and isinstance(spec, ProbeSpec):
            spec = spec.with_n(budget)
        on_interrupt(lambda: _resume_note(partial, output))
        fp = pipeline.fingerprint_model(model_dir, spec, options=options, run=run, partial=partial)
    fp.save(output)
    partial.unlink(missing_ok=True)
    payload = {
        "path": str(output), "model_id": fp.model_id, "n": fp.n, "hidden_size": fp.hidden_size,
        "probe_hash": fp.probe_hash, "probe_spec": fp.spec.describe(), "dtype": fp.metadata.get("dtype"),
    }
    if decision is not None:
        payload["decision"] = report_text.result_json(decision)

    def human(console) -> None:
        console.print(report_text.fingerprint_table(fp, str(output)))
        if decision is not None:
            console.print(report_text.verdict_line(decision, str(like), str(model_dir)))

    out.result(payload, human)


def _resume_note(partial: Path, output: Path) -> str | None:
    """What an interrupted run kept (the rows in its partial file) and that the same command resumes from them."""
    from seedprints.resume import kept_rows

    kept = kept_rows(partial)
    if kept is None or kept[0] == 0:
        return None
    return (f"interrupted; {kept[0]} of {kept[1]} probe rows are kept in {partial}; run the same command again to "
            f"resume (nothing was written under {output})")
