"""The workflows behind the public API and the CLI: fingerprint a model, turn each side of a comparison into a
fingerprint, compare (at once or in rounds with early stopping), extend a fingerprint file.

Every function takes its settings as :class:`~seedprints.options.RunOptions` and
:class:`~seedprints.options.ProbeOptions`, so an option given once reaches every model this run loads.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from seedprints import fingerprint as _fpfile
from seedprints.errors import FingerprintFormatError, IncompatibleFingerprintsError, ModelLoadError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.inputs import special_file
from seedprints.model.reuse import reusing_tokenizers
from seedprints.naming import setting
from seedprints.options import ProbeOptions, RunOptions
from seedprints.probe_files import load_probe_file
from seedprints.probes import Probes, ProbeSpec, generated, probes_for
from seedprints.rounds import ModelRounds
from seedprints.stats import lineage, paper
from seedprints.stats.methods import DEFAULT_METHOD, METHODS
from seedprints.stats.result import LineageResult
from seedprints.stats.sequential import SequentialDesign, run_sequential

Side = Fingerprint | str | Path  # a fingerprint, a fingerprint file, or a model (directory, GGUF file, adapter)


class Compared(NamedTuple):
    """A comparison's result and its two fingerprints: both sides whole for a fixed-N test (which may have read only
    their common prefix, see ``result.settings``), or as they stood at the stopping look of early stopping."""

    result: LineageResult
    reference: Fingerprint
    suspect: Fingerprint


def load_model(model: Any, run: RunOptions) -> Any:
    """:func:`seedprints.model.load.load_model` with the run's loading settings."""
    from seedprints.model.load import load_model as _load

    if isinstance(model, (str, Path)) and special_file(model):
        raise ModelLoadError(f"{model} is not a regular file (a pipe or device); give a model directory")
    return _load(model, dtype=run.dtype, device=run.device, trust_remote_code=run.trust_remote_code,
                 allow_pickle=run.allow_pickle, device_map=run.device_map, base=run.base)


def fingerprint_model(
    model: Any,
    probes: ProbeSpec | Probes | None = None,
    *,
    options: ProbeOptions | None = None,
    run: RunOptions | None = None,
    partial: str | Path | None = None,
    probe_origin: str | None = None,
) -> Fingerprint:
    """Run a model on probes (``probes``, else those ``options`` give for its vocabulary) and return its fingerprint.

    ``partial`` keeps finished rows in a resumable file; ``probe_origin`` names where ``probes`` came from, so
    probes the model cannot take are answered with advice the user can follow.
    """
    from seedprints.model.forward import extract_hidden_states, output_logits
    from seedprints.model.metadata import model_metadata
    from seedprints.model.weights import file_sketch

    run = run or RunOptions()
    loaded = load_model(model, run)
    weights = file_sketch(loaded) if run.weight_sketch else None  # before the forward pass: a refusal comes first
    if probes is None:
        opts = options or ProbeOptions()
        probes = load_probe_file(opts.probe_file) if opts.probe_file else loaded_spec(loaded, opts)
    probe_set = probes if isinstance(probes, Probes) else generated(probes)
    hidden = extract_hidden_states(loaded, probe_set, batch_size=run.batch_size, device=run.device, progress=run.progress,
                                   partial=partial, probe_origin=probe_origin)
    logits = output_logits(loaded, hidden, probe_set.spec.output_tokens) if probe_set.spec.output_tokens else None
    return Fingerprint(hidden=hidden, spec=probe_set.spec, model_id=loaded.model_id, metadata=model_metadata(loaded),
                       logits=logits, weights=weights)


def loaded_spec(loaded: Any, options: ProbeOptions | None = None) -> ProbeSpec:
    """The spec ``options`` give a loaded model alone, from its vocabulary, width and tokenizer length: for a model in
    memory what :func:`resolve_probes` gives a model directory, which reads the same from its files."""
    return (options or ProbeOptions()).spec_for([loaded.vocab_size], loaded.hidden_size, loaded.tokenizer_length)


def probes_like(path: str | Path, options: ProbeOptions | None = None) -> ProbeSpec | Probes:
    """The probes an existing fingerprint file was made with (its probe file, for file probes, from ``options``)."""
    return _file_probes(ProbeSpec.from_json(_fpfile.read_header(path)["probe_spec"]), options, f"fingerprint {path}")


def _file_probes(spec: ProbeSpec, options: ProbeOptions | None, origin: str) -> ProbeSpec | Probes:
    """``spec``, or for probes read from a file, that file (``--probe-file``), checked to be the same probes."""
    file = load_probe_file(options.probe_file) if spec.from_file and options and options.probe_file else None
    probes = probes_for(spec, file)
    if probes is not None:
        return probes
    if file is None:
        raise UsageError(f"{origin} was made from a probe file ({spec.describe()}); pass the same file with "
                         f"{setting('probe_file')}")
    raise UsageError(f"{setting('probe_file', str(options.probe_file))} is not the file {origin} was made from")


def is_fingerprint_file(path: str | Path) -> bool:
    """True for an existing file (fingerprints are files; models are directories).

    Raises FingerprintFormatError for a FIFO or device, which is neither and would block a reader.
    """
    if special_file(path):
        raise FingerprintFormatError(f"{path} is not a regular file (a pipe or device); give a fingerprint file or a "
                                     "model directory")
    return Path(path).is_file()


def known_fingerprint(side: Side) -> Fingerprint | None:
    """The fingerprint a side already is (loaded from its file), or None for a model still to run."""
    if isinstance(side, Fingerprint):
        return side
    return _fpfile.load(side) if is_fingerprint_file(side) else None


def _origin(side: Side) -> str:
    return f"fingerprint of {side.model_id}" if isinstance(side, Fingerprint) else f"fingerprint {side}"


@dataclasses.dataclass(frozen=True)
class ResolvedProbes:
    """A run's sides (``sides`` then ``models``), each a fingerprint already (a file loaded) or None for a model to
    run, and the probes every model runs: so that all sides are comparable, whichever command gathered them."""

    fingerprints: tuple[Fingerprint | None, ...]
    probes: ProbeSpec | Probes  # what the model sides run (the first fingerprint's spec when no side is a model)
    origin: str | None  # the fingerprint the probes come from, named in advice; None for the models' own probes

    @property
    def spec(self) -> ProbeSpec:
        """The probe spec every side has or will have."""
        return self.probes if isinstance(self.probes, ProbeSpec) else self.probes.spec


def resolve_probes(sides: Sequence[Side] = (), options: ProbeOptions | None = None, *, models: Sequence[Any] = (),
                   trust_remote_code: bool = False, generated_only: str | None = None) -> ResolvedProbes:
    """The one place a run's probes are decided, for every command that gathers fingerprints and models.

    ``sides`` are fingerprints, fingerprint files (any path that is a file) or models; ``models`` are sides known to be
    models (a GGUF file among them is no fingerprint). Fingerprints (files loaded here) give the spec, the first one's,
    and models follow it: checked by config, before any weight is read, to be as wide as that fingerprint and to take
    its probes; a spec made from a probe file needs that file in ``options`` (``--probe-file``). Without fingerprints,
    the models (paths) share the default probes of their vocabularies (:func:`shared_default_spec`).
    ``generated_only`` refuses probes read from a file, before any is read, with that advice.
    """
    every = [*sides, *models]
    if not every:
        raise UsageError("no fingerprint or model to take probes from; give at least one")
    fps = (*(known_fingerprint(side) for side in sides), *(None for _ in models))
    runs = [side for side, fp in zip(every, fps) if fp is None]
    known = [(fp, side) for fp, side in zip(fps, every) if fp is not None]
    if known:
        first, source = known[0]
        origin = _origin(source)
        if generated_only is not None and first.spec.from_file:
            raise UsageError(f"{origin} was made from a probe file ({first.spec.describe()}); {generated_only}")
        probes = _file_probes(first.spec, options, origin) if runs else first.spec
        check_models_take(runs, first.spec, first.hidden_size, origin=origin, trust_remote_code=trust_remote_code)
        return ResolvedProbes(fps, probes, origin)
    options = options or ProbeOptions()
    if generated_only is not None and options.probe_file:
        raise UsageError(f"{setting('probe_file', str(options.probe_file))} gives probes read from a file; "
                         f"{generated_only}")
    spec = shared_default_spec([Path(str(m)) for m in runs], options, trust_remote_code=trust_remote_code)
    return ResolvedProbes(fps, spec, None)


def resolve_pair(ref: Side, suspect: Side, *, options: ProbeOptions | None = None,
                 run: RunOptions | None = None) -> tuple[Fingerprint, Fingerprint]:
    """Turn each side into a fingerprint: files are loaded, models fingerprinted on the fly, on the probes
    :func:`resolve_probes` gives (the other side's when it is a fingerprint, so the pair is always comparable)."""
    run = run or RunOptions()
    resolved = resolve_probes([ref, suspect], options, trust_remote_code=run.trust_remote_code)
    out = [fp if fp is not None else fingerprint_model(side, resolved.probes, run=run, probe_origin=resolved.origin)
           for fp, side in zip(resolved.fingerprints, (ref, suspect))]
    return out[0], out[1]


def check_models_take(models: Iterable[Any], spec: ProbeSpec, hidden_size: int, *, origin: str,
                      trust_remote_code: bool = False) -> None:
    """Refuse, by config before any weight is read, each model path in ``models`` that is not ``hidden_size`` wide
    (the reference fingerprint's) or cannot take the probes of ``spec``; in-memory models are checked later, at
    extraction (see :func:`seedprints.model.fit.check_model_takes`)."""
    from seedprints.model.fit import check_model_takes

    for model in models:
        if isinstance(model, (str, Path)):
            check_model_takes(model, spec, hidden_size=hidden_size, origin=origin, trust_remote_code=trust_remote_code)


def shared_default_spec(model_dirs: list[Path], options: ProbeOptions, *,
                        trust_remote_code: bool = False) -> ProbeSpec | Probes:
    """Probe spec for model directories, from their configs and tokenizers alone (no weights are read).

    Ids stay below the smallest vocabulary; untrained probes take rows past the longest tokenizer,
    so two models of one vocabulary get exactly the spec each would get alone. Models of different
    widths are refused here, by their configs, before any forward pass.
    """
    from seedprints.model.fit import read_model_shape
    from seedprints.model.metadata import read_tokenizer_length

    infos = [read_model_shape(d, trust_remote_code=trust_remote_code) for d in model_dirs]
    if len({hidden for hidden, _ in infos}) > 1:
        widths = ", ".join(f"{d} d={hidden}" for d, (hidden, _) in zip(model_dirs, infos))
        raise IncompatibleFingerprintsError(f"hidden sizes differ by the models' configs ({widths}); the lineage test "
                                            "compares dimensions one to one and needs equal widths")
    if options.probe_file:
        return load_probe_file(options.probe_file)
    lengths = ([read_tokenizer_length(d, trust_remote_code=trust_remote_code) for d in model_dirs]
               if options.reads_tokenizer else [])
    known = [n for n in lengths if n is not None]
    return options.spec_for([i[1] for i in infos], infos[0][0], max(known) if known else None)


@reusing_tokenizers()
def compare(
    ref: Side,
    suspect: Side,
    *,
    method: str = DEFAULT_METHOD,
    alpha: float = 0.01,
    options: ProbeOptions | None = None,
    run: RunOptions | None = None,
    budget: int | None = None,
    early_stop: bool = False,
    **settings: Any,
) -> Compared:
    """Test H0 "the suspect was initialised independently of the reference" (see :func:`seedprints.api.compare`),
    returning the fingerprints the test used with its result, so that a caller can save or bundle them."""
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1 (got {alpha})")
    runner = METHODS.get(method)
    if runner is None:
        raise UsageError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    _check_budget(budget, method, early_stop)
    if "seed" in settings:
        _check_seed(settings["seed"])
    if early_stop:
        if method != "lineage":
            raise UsageError(f"early stopping works with the lineage method only; drop {setting('early_stop', True)} for "
                             f"{setting('method', method)}")
        return compare_in_rounds(ref, suspect, alpha=alpha, budget=budget, options=options, run=run, **settings)
    if budget is not None:
        options = dataclasses.replace(options or ProbeOptions(), n=budget)
    whole = resolve_pair(ref, suspect, options=options, run=run)
    fp_ref, fp_suspect, note = common_probes(*whole, budget)
    _fpfile.check_compatible(fp_ref, fp_suspect, same_width=True)
    result = runner(fp_ref, fp_suspect, alpha=alpha, **settings)
    if note:
        result = dataclasses.replace(result, settings={**result.settings, "common_prefix": note})
    return Compared(dataclasses.replace(result, probe_hash=fp_ref.probe_hash), *whole)


def compare_in_rounds(
    ref: Side,
    suspect: Side,
    *,
    alpha: float = 0.01,
    budget: int | None = None,
    options: ProbeOptions | None = None,
    run: RunOptions | None = None,
    **settings: Any,
) -> Compared:
    """The lineage test with early stopping: looks after 25, 50, 100, ... probes, up to the budget.

    Models are fingerprinted in rounds (only the rows each look needs); fingerprint files are read on row
    prefixes. The budget defaults to ``options.n`` for two models, else every row of the fingerprint file(s) (the
    shorter one's count when both are files). ``alpha`` is the total false-positive rate (Bonferroni spending over
    the looks). The result's ``probe_hash`` is that of the probes used up to the stopping look,
    ``settings["budget_probe_hash"]`` the hash at the full budget.

    Raises UsageError for probes read from a file (no prefix property) and IncompatibleFingerprintsError when the
    two sides' probes differ other than in their count, or their widths differ.
    """

    run = run or RunOptions()
    opts = options or ProbeOptions()
    opts = dataclasses.replace(opts, n=budget or opts.n)  # two models: their probes at the budget
    refusal = f"early stopping needs generated probes: drop {setting('early_stop', True)}"
    resolved = resolve_probes([ref, suspect], opts, trust_remote_code=run.trust_remote_code, generated_only=refusal)
    sides = resolved.fingerprints
    known = [fp for fp in sides if fp is not None]
    spec = resolved.spec
    if len(known) == 2 and not (spec == known[1].spec or spec.differs_only_in_n(known[1].spec)):
        _fpfile.check_compatible(known[0], known[1])  # names both specs
    n_budget = min(budget or known[0].n, *(fp.n for fp in known)) if known else opts.n
    if not spec.extendable:
        raise UsageError(f"probes {spec.describe()} have no prefixes; {refusal}")
    spec = spec.with_n(n_budget)
    growers = [side.prefix if side is not None else ModelRounds(load_model(source, run), spec, run).upto
               for side, source in zip(sides, (ref, suspect))]
    current: list[Fingerprint] = []

    def result_at(n: int) -> LineageResult:
        current[:] = [grow(n) for grow in growers]
        _fpfile.check_compatible(current[0], current[1], same_width=True)
        return METHODS["lineage"](current[0], current[1], alpha=alpha, **settings)

    result = run_sequential(SequentialDesign.doubling(n_budget, alpha), result_at, length=spec.length)
    result = dataclasses.replace(result, probe_hash=current[0].probe_hash,
                                 settings={**result.settings, "budget_probe_hash": spec.hash})
    return Compared(result, current[0], current[1])


def fingerprint_until_decided(model: Any, reference: Fingerprint, *, alpha: float = 0.01, budget: int | None = None,
                              run: RunOptions | None = None) -> tuple[Fingerprint, LineageResult]:
    """Fingerprint ``model`` with the reference's probes in rounds, stopping once the lineage verdict is decided.

    Returns the suspect's fingerprint at the stopping look (extend it later with :func:`extend_fingerprint`) and
    the sequential result against ``reference``.
    """
    compared = compare_in_rounds(reference, model, alpha=alpha, budget=budget, run=run)
    return compared.suspect, compared.result


def extend_fingerprint(model: Any, existing: Fingerprint, n: int, *, source: str = "the fingerprint",
                       run: RunOptions | None = None) -> Fingerprint:
    """Grow ``existing`` to ``n`` probes of its spec with the model that made it (see
    :func:`seedprints.rounds.extend_fingerprint`), loading that model with the run's settings."""
    from seedprints import rounds

    rounds.check_growth(existing, n, source)  # before the model loads
    run = run or RunOptions()
    return rounds.extend_fingerprint(load_model(model, run), existing, n, run, source=source)


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
