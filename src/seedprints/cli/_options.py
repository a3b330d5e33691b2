"""Options shared by several verbs, defined once: ``Annotated`` aliases, and decorators that add the model and probe
options to a verb and hand it one :class:`RunOptions` / :class:`ProbeOptions` built from them."""

from __future__ import annotations

import functools
import inspect
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from seedprints.options import DEFAULT_DEVICE, DEFAULT_LENGTH, DEFAULT_N, ProbeOptions, RunOptions
from seedprints.probes import DEFAULT_PROBE_SEED
from seedprints.registry import RegistryLocation
from seedprints.stats.defaults import DEFAULT_METHOD, METHOD_PROBES


class ProbeKindChoice(str, Enum):
    untrained = "untrained"
    rare = "rare"
    token = "token"
    embedding = "embedding"


class DtypeChoice(str, Enum):
    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


MethodChoice = Enum("MethodChoice", {name: name for name in METHOD_PROBES}, type=str)  # type: ignore[misc]
DEFAULT_METHOD_CHOICE = MethodChoice(DEFAULT_METHOD)


def positive_int(value: int) -> int:
    if value is not None and value < 1:
        raise typer.BadParameter(f"must be a positive integer (got {value})")
    return value


def _non_negative_int(value: int) -> int:
    if value is not None and value < 0:
        raise typer.BadParameter(f"must be 0 or a positive integer (got {value})")
    return value


def _probe_count(value: int) -> int:
    """A number of probes: positive, and at most what a fingerprint file may hold."""
    from seedprints.fingerprint import MAX_ROWS

    if value is not None and value > MAX_ROWS:
        raise typer.BadParameter(f"must be at most {MAX_ROWS} probes, the most a fingerprint file holds (got {value})")
    return positive_int(value)


def given(ctx: typer.Context, *names: str) -> list[str]:
    """The flags among the parameters ``names`` that the user set (command line or environment), not defaults."""
    flags = {param.name: param.opts[0] for param in ctx.command.params}
    sources = {name: getattr(ctx.get_parameter_source(name), "name", None) for name in names}  # typer's own click enum
    return [flags[name] for name in names if sources[name] in ("COMMANDLINE", "ENVIRONMENT")]


PROBE_PARAMETERS = ("probe", "length", "probe_seed", "vocab_bound", "probe_file", "rare_tokens")
MODEL_PARAMETERS = ("device", "dtype", "batch_size", "trust_remote_code", "allow_pickle", "device_map", "base")


def meaningless_parameters(ctx: typer.Context, inputs: list[Path], *, probe_file_used: bool = True) -> list[str]:
    """The parameters the inputs make meaningless: a fingerprint file carries its own probes (so probe options and
    --n do nothing once one is given), and nothing is run when every input is a file (model options)."""
    from seedprints.api import is_fingerprint_file

    files = [is_fingerprint_file(path) for path in inputs]
    known = {param.name for param in ctx.command.params}
    probe = [p for p in ("n", *PROBE_PARAMETERS) if p in known and (p != "probe_file" or not probe_file_used or all(files))]
    meaningless = probe if any(files) else []
    if all(files):
        meaningless += [p for p in MODEL_PARAMETERS if p in known]
    return meaningless


def refuse_ignored_options(ctx: typer.Context, inputs: list[Path], *, probe_file_used: bool = True) -> None:
    """Usage error for options the inputs make meaningless (see :func:`meaningless_parameters`): silently ignoring
    them would let a user believe they took effect."""
    from seedprints.api import is_fingerprint_file

    ignored = given(ctx, *meaningless_parameters(ctx, inputs, probe_file_used=probe_file_used))
    every_file = all(is_fingerprint_file(path) for path in inputs)
    refuse_ignored(ignored, "every input is a fingerprint file" if every_file else "a fingerprint file carries its own probes")


def refuse_ignored(ignored: list[str], why: str) -> None:
    """Usage error (exit 2) for options that were given but would do nothing, so no one believes they took effect."""
    if ignored:
        raise typer.BadParameter(f"{', '.join(ignored)} would be ignored: {why}; drop {'them' if len(ignored) > 1 else 'it'}")


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout (no progress bars).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes on stderr (errors and warnings still print).")]
ProbeKindOpt = Annotated[
    Optional[ProbeKindChoice],
    typer.Option(
        "--probe",
        help="Probe kind: untrained = random tokenizer ids and random sequences of padding tokens past the tokenizer, "
        "plus the logits of other padding tokens (the lineage test's default; uniform tokens where the vocabulary has "
        "no padding); rare = its old name; "
        "token = uniform random token ids (the paper's); embedding = Gaussian input embeddings.",
    ),
]
RareTokensOpt = Annotated[
    Optional[int],
    typer.Option(
        "--rare-tokens", help="Untrained probes: at most this many input tokens, and as many logit tokens (default 128).",
        callback=positive_int,
    ),
]
NOpt = Annotated[int, typer.Option("--n", help="Number of probe sequences.", callback=_probe_count)]
LengthOpt = Annotated[int, typer.Option("--length", help="Tokens per probe sequence.", callback=positive_int)]
ProbeSeedOpt = Annotated[int, typer.Option("--probe-seed", help="Seed of the probe generator.", callback=_non_negative_int)]
VocabBoundOpt = Annotated[
    Optional[int],
    typer.Option("--vocab-bound", help="Token ids are drawn below this (default: min(vocab, 32000)).", callback=positive_int),
]
ProbeFileOpt = Annotated[
    Optional[Path],
    typer.Option("--probe-file", help="Your own probes: JSON {\"token_ids\": [[...]]} or {\"texts\": [...]}, or a .txt file."),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="Torch device: auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, ...")]
DtypeOpt = Annotated[DtypeChoice, typer.Option("--dtype", help="Forward-pass dtype; auto = bf16 for half-precision checkpoints (float32 on a CPU without native bf16, when it fits).")]
BATCH_SIZE_HELP = "Probes per forward pass."
BatchSizeOpt = Annotated[int, typer.Option("--batch-size", help=BATCH_SIZE_HELP, callback=positive_int)]
TrustRemoteCodeOpt = Annotated[
    bool, typer.Option("--trust-remote-code", help="Allow a model directory to run its own Python code (only if you trust it).")
]
WeightSketchOpt = Annotated[
    bool, typer.Option("--weight-sketch", help="Also record a sketch of the model's weights (megabytes; docs/real-models.md "
                       "gives a 0.5B model's): comparing two such fingerprints runs the units part, which sees a copy "
                       "whose hidden dimensions were relabelled or rotated (llama-style models).")
]
AutoBatchSizeOpt = Annotated[
    Optional[int],
    typer.Option("--batch-size", help=BATCH_SIZE_HELP, callback=positive_int,
                 show_default="32 on CPU, from free memory on a GPU; halved on out-of-memory"),
]
AllowPickleOpt = Annotated[
    bool, typer.Option("--allow-pickle", help="Also load pickled .bin/.pt weights, which can run code (only if you trust them).")
]
DeviceMapOpt = Annotated[
    Optional[str],
    typer.Option("--device-map", help="auto = spread the model over GPUs and CPU with accelerate, offloading what does not "
                 "fit (replaces --device)."),
]
BaseOpt = Annotated[
    Optional[Path],
    typer.Option("--base", help="Base model directory of a PEFT adapter (default: the adapter's base_model_name_or_path)."),
]


def _alpha_in_unit_interval(value: float) -> float:
    if not 0 < value < 1:
        raise typer.BadParameter(f"must be between 0 and 1 (got {value})")
    return value


DEFAULT_REGISTRY = Path("~/.seedprints/registry.db")

# --registry is parsed once, here (the default too): verbs get a RegistryLocation, a server URL or a SQLite file
RegistryOpt = Annotated[
    RegistryLocation,
    typer.Option(
        "--registry", envvar="SEEDPRINTS_REGISTRY", parser=RegistryLocation.parse, metavar="PATH|URL",
        help="Registry: a SQLite file, or a postgresql://USER@HOST/DATABASE URL of a team's server; "
             "default ~/.seedprints/registry.db or $SEEDPRINTS_REGISTRY.",
    ),
]
AlphaOpt = Annotated[float, typer.Option("--alpha", help="Significance level of the verdict.", callback=_alpha_in_unit_interval)]
BudgetOpt = Annotated[
    Optional[int],
    typer.Option("--budget", metavar="N_PROBES", help="At most this many probes (where --n exists, this replaces it).",
                 callback=_probe_count),
]
EarlyStopOpt = Annotated[
    bool,
    typer.Option(
        "--early-stop/--no-early-stop",
        help="Test after 25, 50, 100, ... probes and stop once the verdict is decided (lineage method; the "
        "false-positive rate stays at most alpha).",
    ),
]



def _non_negative(value: int) -> int:
    if value < 0:
        raise typer.BadParameter(f"must be 0 or more (got {value})")
    return value


def _gpu_share(value: Optional[float]) -> Optional[float]:
    if value is not None and not value > 0:
        raise typer.BadParameter(f"must be a positive number of GPUs, e.g. 1 or 0.25 (got {value})")
    return value


# the Ray options of verbs that run models as Ray tasks (fleet, claims --fleet)
RayAddressOpt = Annotated[
    Optional[str],
    typer.Option("--ray-address", metavar="auto|ADDR", help="Ray cluster to run on (auto: the one `ray start` made "
                 "on this machine); default: start Ray here on this machine's cores."),
]
GpusPerModelOpt = Annotated[
    Optional[float],
    typer.Option("--gpus-per-model", metavar="F", callback=_gpu_share,
                 help="GPUs each model's task asks for when the cluster has GPUs (default 1; fractions share one)."),
]
RetriesOpt = Annotated[
    int, typer.Option("--retries", metavar="K", callback=_non_negative,
                      help="Retries of a task that crashed or hit an unexpected error before it is reported failed."),
]


def _with_parameters(extra: list[inspect.Parameter], build: Callable[[dict[str, Any], dict[str, Any]], Any],
                     into: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding the ``extra`` typer parameters to a verb's signature and passing the verb, as ``into``, what
    ``build`` makes of their values (and of the verb's own arguments, e.g. --json for progress)."""
    names = [param.name for param in extra]

    def decorate(verb: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(verb, eval_str=True)
        own = [param for name, param in signature.parameters.items() if name != into]

        @functools.wraps(verb)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in names}
            return verb(*args, **kwargs, **{into: build(values, kwargs)})

        wrapper.__signature__ = signature.replace(parameters=[*own, *extra])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {param.name: param.annotation for param in (*own, *extra)}
        return wrapper

    return decorate


def _option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def model_options(
    only: tuple[str, ...] | None = None, *, weight_sketch: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add --device, --dtype, --batch-size, --trust-remote-code, --allow-pickle, --device-map and --base (or the
    parameters ``only`` names of them), and --weight-sketch where the verb's fingerprints can carry one, to a verb,
    which receives them as ``run: RunOptions`` (the others at their defaults); progress shows unless --json or
    --quiet."""
    sketch = [_option("weight_sketch", WeightSketchOpt, False)] if weight_sketch else []
    extra = sketch + _chosen([
        _option("device", DeviceOpt, DEFAULT_DEVICE),
        _option("dtype", DtypeOpt, DtypeChoice.auto),
        _option("batch_size", AutoBatchSizeOpt, None),
        _option("trust_remote_code", TrustRemoteCodeOpt, False),
        _option("allow_pickle", AllowPickleOpt, False),
        _option("device_map", DeviceMapOpt, None),
        _option("base", BaseOpt, None),
    ], only)

    def build(values: dict[str, Any], verb_args: dict[str, Any]) -> RunOptions:
        progress = not (verb_args.get("json_output") or verb_args.get("quiet"))
        return RunOptions(**{k: v.value if isinstance(v, Enum) else v for k, v in values.items()}, progress=progress)

    return _with_parameters(extra, build, "run")


def probe_options(only: tuple[str, ...] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add --probe, --n, --length, --probe-seed, --vocab-bound, --probe-file and --rare-tokens (or the parameters
    ``only`` names of them) to a verb, which receives them as ``probes: ProbeOptions`` (the others at their defaults);
    without --probe, the probes of the verb's --method (if it has one)."""
    extra = _chosen([
        _option("probe", ProbeKindOpt, None),
        _option("n", NOpt, DEFAULT_N),
        _option("length", LengthOpt, DEFAULT_LENGTH),
        _option("probe_seed", ProbeSeedOpt, DEFAULT_PROBE_SEED),
        _option("vocab_bound", VocabBoundOpt, None),
        _option("probe_file", ProbeFileOpt, None),
        _option("rare_tokens", RareTokensOpt, None),
    ], only)

    def build(values: dict[str, Any], verb_args: dict[str, Any]) -> ProbeOptions:
        method, probe, probe_file = verb_args.get("method"), values.pop("probe", None), values.pop("probe_file", None)
        kind = probe.value if probe else METHOD_PROBES[method.value if method else DEFAULT_METHOD]
        fields = {_PROBE_FIELDS.get(name, name): value for name, value in values.items()}
        return ProbeOptions(kind=kind, probe_file=str(probe_file) if probe_file else None, **fields)

    return _with_parameters(extra, build, "probes")


_PROBE_FIELDS = {"probe_seed": "seed"}  # a --flag's parameter whose ProbeOptions field has another name


def _chosen(parameters: list[inspect.Parameter], only: tuple[str, ...] | None) -> list[inspect.Parameter]:
    """The ``parameters`` that ``only`` names, in their shared order (all of them without it)."""
    return parameters if only is None else [param for param in parameters if param.name in only]
