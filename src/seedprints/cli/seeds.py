"""``seedprints seeds register``: fingerprint the inits of candidate seeds and register them, for ``identify``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from seedprints.cli import _options as o
from seedprints.cli._help import PlainHelp
from seedprints.cli._output import Output
from seedprints.cli.registry import TagOpt, like_file, open_registry, tag_dict
from seedprints.options import ProbeOptions, RunOptions

if TYPE_CHECKING:
    from seedprints.probes import ProbeSpec

app = typer.Typer(help="Candidate init seeds: fingerprint and register them, then `identify` a trained model's seed.",
                  no_args_is_help=True)

REGISTER_EXAMPLES = """Examples:

\b
  seedprints seeds register --config ./my-model/config.json --seeds 0-999
  seedprints seeds register --config config.json --seeds 0-9,42 --like suspect.fp.safetensors --name-prefix llama-
  seedprints seeds register --config config.json --seeds 1,5,9 --n 500 --length 16 --registry seeds.db --tag lab=acme
  seedprints identify ./trained-model --registry seeds.db
"""


@app.command("register", epilog=REGISTER_EXAMPLES, cls=PlainHelp)
@o.probe_options(only=("n", "length", "probe_seed", "vocab_bound"))
@o.model_options(only=("device", "batch_size"))
def register(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option("--config", help="The architecture: a config.json file or a model directory.")],
    seeds: Annotated[str, typer.Option("--seeds", help="Seeds to register: 0-999, 1,5,9 or 0-9,100.")],
    init: Annotated[str, typer.Option("--init", help="How the framework initialises the model: transformers.")] = "transformers",
    registry: o.RegistryOpt = o.DEFAULT_REGISTRY,
    name_prefix: Annotated[str, typer.Option("--name-prefix", help="Entries are named PREFIXseed-K.")] = "",
    tag: TagOpt = None,
    like: Annotated[
        Optional[Path], typer.Option("--like", help="Use the probes of this fingerprint file (e.g. the suspect's).")
    ] = None,
    json_output: o.JsonOpt = False,
    *,
    probes: ProbeOptions,
    run: RunOptions,
) -> None:
    """Initialise the architecture with each seed, fingerprint it and register it as PREFIXseed-K (resumable).

    Without --like the probes are the default (untrained-token) probes of the architecture's
    vocabulary, read from the tokenizer files beside the config, the same spec a default fingerprint
    of a model of that vocabulary has.
    """
    from seedprints import seeds as _seeds
    from seedprints.errors import UsageError
    from seedprints.progress import progress_bar

    if like is not None:
        o.refuse_ignored(o.given(ctx, "n", "length", "probe_seed", "vocab_bound"), f"the probes are those of --like {like}")
    if init not in _seeds.INIT_METHODS:
        raise UsageError(f"unknown init method {init!r}; known: {', '.join(_seeds.INIT_METHODS)}")
    seed_list = _seeds.parse_seeds(seeds)
    extra_tags = _seeds.check_seed_tags(tag_dict(tag))  # these checks come before the registry is made,
    _seeds.check_prefix(name_prefix, seed_list, option="--name-prefix")  # so that a bad input leaves nothing behind
    cfg = _seeds.check_config(config)
    spec = _probes_like(like_file(like)) if like is not None else _seeds.default_probes(config, cfg, probes)
    output = Output(json_output)
    with open_registry(registry, create=True) as reg, progress_bar(output.progress, len(seed_list), "seeds") as advance:
        report = _seeds.register_seeds(
            reg, cfg, seed_list, spec, init=init, prefix=name_prefix, tags=extra_tags,
            run=dataclasses.replace(run, progress=False), on_seed=lambda _seed, _added: advance(1),  # one bar: the seeds
        )
    output.result(report.to_dict(), lambda c: c.print(
        f"registered {len(report.added)} seed(s) in {report.registry} ({len(report.skipped)} already there), "
        f"probes {report.probe_hash}, config {report.config_sha256[:12]}"))


def _probes_like(like: Path) -> ProbeSpec:
    """The probes of the fingerprint file ``like``; probes read from a file are refused (this verb has no --probe-file)."""
    from seedprints.api import resolve_probes

    return resolve_probes([like], generated_only="seeds register takes generated probes only; give a fingerprint "
                                                 "made with --probe untrained or token").spec
