"""The public Python API: fingerprint a model, load a fingerprint, compare two of them.

Example:
    >>> import seedprints
    >>> fp_a = seedprints.fingerprint_model("models/base", n=500, length=64)   # doctest: +SKIP
    >>> fp_b = seedprints.fingerprint_model("models/suspect", fp_a.spec)      # doctest: +SKIP
    >>> seedprints.compare(fp_a, fp_b).verdict                                 # doctest: +SKIP
    'same-lineage'
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from seedprints import fingerprint as _fpfile
from seedprints.errors import FingerprintFormatError, IncompatibleFingerprintsError, ModelLoadError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.inputs import special_file
from seedprints.probes import (
    DEFAULT_PROBE_SEED,
    MAX_UNTRAINED_TOKENS,
    Probes,
    ProbeSpec,
    default_vocab_bound,
    embedding_spec,
    generated,
    load_probe_file,
    token_spec,
    untrained_token_spec,
)
from seedprints.stats.lineage import MIN_DIMS
from seedprints.stats.methods import DEFAULT_METHOD, METHODS
from seedprints.stats.result import LineageResult

DEFAULT_N = 2000
DEFAULT_LENGTH = 512
DEFAULT_KIND = "untrained"
PROBE_KIND_ALIASES = {"rare": DEFAULT_KIND}  # the name of the default probes before 0.2


@dataclasses.dataclass(frozen=True)
class ProbeOptions:
    """How to build probes when no spec is given: kind, N, L, seed, and optional vocabulary bound or file."""

    kind: str = DEFAULT_KIND
    n: int = DEFAULT_N
    length: int = DEFAULT_LENGTH
    seed: int = DEFAULT_PROBE_SEED
    vocab_bound: int | None = None
    embedding_std: float = 0.02
    probe_file: str | None = None
    rare_tokens: int | None = None  # untrained probes: at most this many input and logit tokens (default 128)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", PROBE_KIND_ALIASES.get(self.kind, self.kind))

    def bound(self, vocab_sizes: list[int | None]) -> int:
        """Token ids stay below this: ``--vocab-bound``, else min(smallest vocabulary, 32000)."""
        return default_vocab_bound(self._rows(vocab_sizes)) if self.vocab_bound is None else self.vocab_bound

    def _rows(self, vocab_sizes: list[int | None]) -> int:
        """The embedding rows the probes may use: ``--vocab-bound``, else the smallest vocabulary."""
        known = [v for v in vocab_sizes if v]
        if self.vocab_bound is None and not known:
            raise UsageError("cannot tell the model's vocabulary size; pass --vocab-bound")
        return self.vocab_bound if self.vocab_bound is not None else min(known)

    def spec_for(self, vocab_sizes: list[int | None], hidden_size: int, tokenizer_length: int | None = None) -> ProbeSpec:
        """The spec these options give for models of the given vocabularies, width and tokenizer length.

        Untrained probes depend on nothing else (:func:`seedprints.probes.untrained_token_spec`), so two
        models of the same vocabulary get the same spec wherever they are fingerprinted.
        """
        if self.kind == "untrained":
            count = MAX_UNTRAINED_TOKENS if self.rare_tokens is None else self.rare_tokens
            if count < MIN_DIMS:
                raise UsageError(f"--rare-tokens {count} is too few; the lineage test needs at least {MIN_DIMS} logit tokens")
            return untrained_token_spec(self.n, self.length, self._rows(vocab_sizes), tokenizer_length, seed=self.seed,
                                        max_tokens=count)
        if self.kind == "token":
            return token_spec(self.n, self.length, self.bound(vocab_sizes), seed=self.seed)
        if self.kind == "embedding":
            return embedding_spec(self.n, self.length, hidden_size, seed=self.seed, std=self.embedding_std)
        raise UsageError(f"unknown probe kind {self.kind!r}; use 'untrained', 'token' or 'embedding' (or a probe file)")


def _as_probes(spec: ProbeSpec | Probes) -> Probes:
    return spec if isinstance(spec, Probes) else generated(spec)


def fingerprint_model(
    model: Any,
    probes: ProbeSpec | Probes | None = None,
    *,
    options: ProbeOptions | None = None,
    n: int | None = None,
    length: int | None = None,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int | None = 32,
    trust_remote_code: bool = False,
    progress: bool = False,
    allow_pickle: bool = False,
    device_map: str | None = None,
    base: str | Path | None = None,
    partial: str | Path | None = None,
    probe_origin: str | None = None,
    **probe_options: Any,
) -> Fingerprint:
    """Run a model on probes and return its fingerprint.

    Parameters
    ----------
    model : str, Path or torch.nn.Module
        A local Hugging Face model directory, GGUF file or PEFT adapter directory, or an in-memory model.
    probes : ProbeSpec or Probes, optional
        The probes to use (e.g. another fingerprint's ``spec`` so the two can be compared). When
        omitted, probes are built from ``options`` (or ``n``, ``length`` and the keyword options of
        :class:`ProbeOptions`) for this model's vocabulary: by default its untrained-token probes,
        the same for every model of that vocabulary.
    device, dtype, batch_size, trust_remote_code, progress
        Forward-pass settings (``dtype="auto"``: bf16 for half-precision checkpoints, else fp32).
    allow_pickle, device_map, base, partial
        Loading and resuming, passed to :func:`seedprints.extract.load_model` and
        :func:`seedprints.extract.extract_hidden_states`.
    probe_origin : str, optional
        Where ``probes`` came from (e.g. ``"fingerprint base.fp"``), so that probes this model cannot
        take are answered with advice the user can follow (re-fingerprint that reference).

    Returns
    -------
    Fingerprint
        The ``[N, d]`` hidden states at the last position plus metadata.
    """
    from seedprints import extract

    if isinstance(model, (str, Path)) and special_file(model):
        raise ModelLoadError(f"{model} is not a regular file (a pipe or device); give a model directory")
    loaded = extract.load_model(
        model, dtype=dtype, device=device, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle,
        device_map=device_map, base=base,
    )
    if probes is None:
        opts = options or ProbeOptions()
        overrides = {k: v for k, v in dict(n=n, length=length, **probe_options).items() if v is not None}
        opts = dataclasses.replace(opts, **overrides)
        if opts.probe_file:
            probes = load_probe_file(opts.probe_file)
        else:
            probes = opts.spec_for([loaded.vocab_size], loaded.hidden_size, loaded.tokenizer_length)
    probe_set = _as_probes(probes)
    hidden = extract.extract_hidden_states(
        loaded, probe_set, batch_size=batch_size, device=device, progress=progress, partial=partial, probe_origin=probe_origin
    )
    logits = None
    if probe_set.spec.output_tokens:
        logits = output_logits(loaded, hidden, probe_set.spec.output_tokens)
    return Fingerprint(hidden=hidden, spec=probe_set.spec, model_id=loaded.model_id,
                       metadata=extract.model_metadata(loaded), logits=logits)


def output_logits(loaded: Any, hidden: np.ndarray, tokens: tuple[int, ...]) -> np.ndarray:
    """float32 logits ``h . w_t`` of ``tokens`` for each row of ``hidden``, summed in float64 so that a row's
    logits do not depend on the other rows in the product (an extended fingerprint equals a fresh one)."""
    from seedprints import extract

    unembedding = extract.unembedding_rows(loaded, tokens).astype(np.float64)
    return (hidden.astype(np.float64) @ unembedding.T).astype(np.float32)


def load_fingerprint(path: str | Path) -> Fingerprint:
    """Load a fingerprint file written by :func:`fingerprint_model` / ``seedprints fingerprint``."""
    return _fpfile.load(path)


def probes_like(path: str | Path, options: ProbeOptions | None = None) -> ProbeSpec | Probes:
    """The probes an existing fingerprint file was made with (its probe file, for file probes, from ``options``)."""
    spec = ProbeSpec.from_json(_fpfile.read_header(path)["probe_spec"])
    if spec.kind not in ("token-file", "text-file"):
        return spec
    if not (options and options.probe_file):
        raise UsageError(f"{path} was made from a probe file ({spec.describe()}); pass the same file with --probe-file")
    probes = load_probe_file(options.probe_file)
    if probes.spec != spec:
        raise UsageError(f"--probe-file {options.probe_file} is not the file {path} was made from")
    return probes


def is_fingerprint_file(path: str | Path) -> bool:
    """True for an existing file (fingerprints are files; models are directories).

    Raises FingerprintFormatError for a FIFO or device, which is neither and would block a reader.
    """
    if special_file(path):
        raise FingerprintFormatError(f"{path} is not a regular file (a pipe or device); give a fingerprint file or a "
                                     "model directory")
    return Path(path).is_file()


def resolve_pair(
    ref: Fingerprint | str | Path,
    suspect: Fingerprint | str | Path,
    *,
    options: ProbeOptions | None = None,
    fingerprint_kwargs: dict[str, Any] | None = None,
) -> tuple[Fingerprint, Fingerprint]:
    """Turn each side into a fingerprint: files are loaded, model directories fingerprinted on the fly.

    A model directory is fingerprinted with the other side's probe spec when the other side is a
    fingerprint, so the pair is always comparable. Two directories share the probes of their
    vocabularies (:func:`shared_default_spec`).
    """
    kwargs = fingerprint_kwargs or {}
    sides: list[Fingerprint | None] = [
        x if isinstance(x, Fingerprint) else (load_fingerprint(x) if is_fingerprint_file(x) else None) for x in (ref, suspect)
    ]
    known = [s for s in sides if s is not None]
    if len(known) == 2:
        return sides[0], sides[1]  # type: ignore[return-value]
    if known:
        spec: ProbeSpec | Probes = known[0].spec
        if spec.kind in ("token-file", "text-file"):
            if not (options and options.probe_file):
                raise UsageError(
                    f"the fingerprint was made from a probe file ({spec.describe()}); pass the same file with --probe-file"
                )
            spec = load_probe_file(options.probe_file)
            if spec.spec != known[0].spec:
                raise UsageError(f"--probe-file {options.probe_file} is not the file the fingerprint was made from")
    else:
        spec = shared_default_spec([Path(str(ref)), Path(str(suspect))], options or ProbeOptions())
    origin = next((f"fingerprint {x}" if not isinstance(x, Fingerprint) else f"fingerprint of {x.model_id}")
                   for s, x in zip(sides, (ref, suspect)) if s is not None) if known else None
    if known:
        check_models_take([x for s, x in zip(sides, (ref, suspect)) if s is None], known[0].spec, known[0].hidden_size,
                          origin=str(origin), trust_remote_code=kwargs.get("trust_remote_code", False))
    out = [s if s is not None else fingerprint_model(x, spec, probe_origin=origin, **kwargs)
           for s, x in zip(sides, (ref, suspect))]
    return out[0], out[1]


def check_models_take(models: Iterable[Any], spec: ProbeSpec, hidden_size: int, *, origin: str,
                      trust_remote_code: bool = False) -> None:
    """Refuse, by config before any weight is read, each model path in ``models`` that is not ``hidden_size`` wide
    (the reference fingerprint's) or cannot take the probes of ``spec``; in-memory models are checked later, at
    extraction (see :func:`seedprints.extract.check_model_takes`)."""
    from seedprints import extract

    for model in models:
        if isinstance(model, (str, Path)):
            extract.check_model_takes(model, spec, hidden_size=hidden_size, origin=origin, trust_remote_code=trust_remote_code)


def check_model_takes_like(model: str | Path, like: str | Path, *, trust_remote_code: bool = False) -> None:
    """:func:`check_models_take` against the fingerprint file ``like``, reading only its header."""
    header = _fpfile.read_header(like)
    check_models_take([model], ProbeSpec.from_json(header["probe_spec"]), int(header["hidden_size"]),
                      origin=f"--like {like}", trust_remote_code=trust_remote_code)


def shared_default_spec(model_dirs: list[Path], options: ProbeOptions) -> ProbeSpec | Probes:
    """Probe spec for model directories, from their configs and tokenizers alone (no weights are read).

    Ids stay below the smallest vocabulary; untrained probes take rows past the longest tokenizer,
    so two models of one vocabulary get exactly the spec each would get alone. Models of different
    widths are refused here, by their configs, before any forward pass.
    """
    from seedprints import extract

    infos = [extract.read_model_shape(d) for d in model_dirs]
    if len({hidden for hidden, _ in infos}) > 1:
        widths = ", ".join(f"{d} d={hidden}" for d, (hidden, _) in zip(model_dirs, infos))
        raise IncompatibleFingerprintsError(f"hidden sizes differ by the models' configs ({widths}); the lineage test "
                                            "compares dimensions one to one and needs equal widths")
    if options.probe_file:
        return load_probe_file(options.probe_file)
    lengths = [extract.read_tokenizer_length(d) for d in model_dirs] if options.kind == "untrained" else []
    known = [n for n in lengths if n is not None]
    return options.spec_for([i[1] for i in infos], infos[0][0], max(known) if known else None)


def compare(
    ref: Fingerprint | str | Path,
    suspect: Fingerprint | str | Path,
    *,
    method: str = DEFAULT_METHOD,
    alpha: float = 0.01,
    options: ProbeOptions | None = None,
    fingerprint_kwargs: dict[str, Any] | None = None,
    budget: int | None = None,
    early_stop: bool = False,
    **settings: Any,
) -> LineageResult:
    """Test H0 "the suspect was initialised independently of the reference".

    Parameters
    ----------
    ref, suspect : Fingerprint, or path to a fingerprint file or a model directory
        Model directories are fingerprinted on the fly (see :func:`resolve_pair`).
    method : str
        ``"paper"``: the published SeedPrints statistic (:func:`seedprints.stats.paper_test`).
    alpha : float
        Significance level of the verdict.
    budget : int, optional
        At most this many probes: model directories are fingerprinted with N = ``budget``, longer
        fingerprint files are cut to their first ``budget`` rows. Default: ``options.n``, or every row.
        At least the method's minimum of probes (20 lineage, 10 paper; 25 with ``early_stop``).
    early_stop : bool
        Test after growing rounds of probes and stop once the verdict is decided
        (:func:`seedprints.sequential.compare_sequential`; ``method="lineage"`` only).
    **settings
        Method settings, e.g. ``seed`` (an int >= 0) of the lineage method's permutation checks, or
        ``buffer_k`` (default: 10% of d, as in the paper), ``identity_mode``, ``use_agg`` for paper mode.

    Returns
    -------
    LineageResult
        Verdict, p-value, log10 p, z, k, n, and the probe hash both sides share. Fingerprints of the
        same probes with different counts are compared on their common prefix, recorded in
        ``settings["common_prefix"]``.
    """
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1 (got {alpha})")
    runner = METHODS.get(method)
    if runner is None:
        raise UsageError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    _check_budget(budget, method, early_stop)
    if "seed" in settings:
        _check_seed(settings["seed"])
    if early_stop:
        from seedprints import sequential

        if method != "lineage":
            raise UsageError(f"early stopping works with the lineage method only; drop --early-stop for --method {method}")
        return sequential.compare_sequential(ref, suspect, alpha=alpha, budget=budget, options=options,
                                             fingerprint_kwargs=fingerprint_kwargs, **settings)
    if budget is not None:
        options = dataclasses.replace(options or ProbeOptions(), n=budget)
    fp_ref, fp_suspect = resolve_pair(ref, suspect, options=options, fingerprint_kwargs=fingerprint_kwargs)
    fp_ref, fp_suspect, note = common_probes(fp_ref, fp_suspect, budget)
    _fpfile.check_compatible(fp_ref, fp_suspect, same_width=True)
    result = runner(fp_ref, fp_suspect, alpha=alpha, **settings)
    if note:
        result = dataclasses.replace(result, settings={**result.settings, "common_prefix": note})
    return dataclasses.replace(result, probe_hash=fp_ref.probe_hash)


def _check_int(name: str, value: Any) -> None:
    """TypeError unless ``value`` is an integer (a bool, float or string is not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"compare's {name} must be an int, got {type(value).__name__} {value!r}")


def _check_seed(seed: Any) -> None:
    _check_int("seed", seed)
    if seed < 0:
        raise UsageError(f"compare's seed must be 0 or more (it seeds the permutation checks), got {seed}")


def _check_budget(budget: Any, method: str, early_stop: bool) -> None:
    """A budget is a number of probes the test can use: at least its minimum, or the first look of early stopping."""
    if budget is None:
        return
    from seedprints.stats import lineage, paper
    from seedprints.stats.sequential import DEFAULT_FIRST_LOOK

    _check_int("budget", budget)
    least = paper.MIN_PROBES if method == "paper" else lineage.MIN_PROBES
    if early_stop and budget < DEFAULT_FIRST_LOOK:
        raise UsageError(f"budget of {budget} probes is below the first look of early stopping ({DEFAULT_FIRST_LOOK} "
                         "probes); raise the budget or drop early stopping")
    if budget < least:
        raise UsageError(f"budget of {budget} probes is too small; the {method} test needs at least {least}")


def common_probes(
    ref: Fingerprint, suspect: Fingerprint, budget: int | None = None
) -> tuple[Fingerprint, Fingerprint, dict[str, int] | None]:
    """Cut two fingerprints to their common probes (at most ``budget``) when their specs differ only in N.

    Returns both fingerprints and, when any was cut, ``{"n", "reference_n", "suspect_n"}``; fingerprints
    of different specs come back unchanged.
    """
    if not (ref.spec == suspect.spec or ref.spec.differs_only_in_n(suspect.spec)):
        return ref, suspect, None
    n = min(ref.n, suspect.n, budget or ref.n)
    if n == ref.n == suspect.n:
        return ref, suspect, None
    return ref.prefix(n), suspect.prefix(n), {"n": n, "reference_n": ref.n, "suspect_n": suspect.n}
