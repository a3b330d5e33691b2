"""Score lineage tests on a zoo of known lineage: every pair, every method, against the ground truth.

:func:`evaluate_zoo` fingerprints each zoo model once (:mod:`seedprints.zoo.fingerprinting`),
tests every unordered pair of models of equal hidden size with each method of
:data:`seedprints.stats.methods.METHODS`, labels each pair with its ground truth
(:mod:`seedprints.zoo.truth`), and summarises per method (:mod:`seedprints.zoo.metrics`). The
results go to ``results.json`` (:mod:`seedprints.zoo.results`), ``summary.md`` (rendered by
:mod:`seedprints.zoo.summary`) and PNG plots (:mod:`seedprints.zoo.plots`).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from seedprints import LineageResult, api
from seedprints.errors import LowPowerWarning, SeedprintsError, UsageError
from seedprints.options import ProbeOptions, RunOptions
from seedprints.output_paths import write_atomic
from seedprints.probes import ProbeSpec
from seedprints.progress import progress_bar
from seedprints.stats.methods import METHOD_PROBES, METHODS
from seedprints.zoo import plots, summary
from seedprints.zoo.fingerprinting import (
    ZOO_PROBES, check_sizes, fingerprint_zoo, probe_words, require_evaluated, run_words, say_nothing,
)
from seedprints.zoo.manifest import check_zoo_dir
from seedprints.zoo.metrics import summarize_method
from seedprints.zoo.outdir import check_out_dir, make_out_dir
from seedprints.zoo.results import EvalReport, PairResult, one_line
from seedprints.zoo.truth import CROSS_REGIME, classify_pair

__all__ = ["PROBE_KINDS", "evaluate_zoo"]

PROBE_KINDS = ("untrained", "rare", "token", "embedding")


def _command(zoo_dir: Path, out_dir: Path, methods: Sequence[str] | None, alpha: float, kind: str | None,
             probes: ProbeOptions, run: RunOptions) -> str:
    words = ["seedprints", "zoo", "eval", str(zoo_dir), "--out", str(out_dir)]
    for method in methods or ():
        words += ["--method", method]
    words += ["--alpha", f"{alpha:g}"] + (["--probe", kind] if kind else [])
    words += [*probe_words(probes), *run_words(run)]
    return " ".join(shlex.quote(w) for w in words)


def _spec_table(specs: Mapping[tuple[str, int], ProbeSpec]) -> dict[str, dict[str, Any]]:
    """The distinct probe specs of a run by hash, each with its kind and the hidden sizes it served."""
    table: dict[str, dict[str, Any]] = {}
    for (kind, hidden), spec in sorted(specs.items()):
        row = table.setdefault(spec.hash, {**json.loads(spec.to_json()), "probe_kind": kind, "hash": spec.hash,
                                           "describe": spec.describe(), "hidden_sizes": []})
        row["hidden_sizes"].append(hidden)
    return table


def evaluate_zoo(
    zoo_dir: str | Path,
    out_dir: str | Path,
    *,
    methods: Sequence[str] | None = None,
    alpha: float = 0.01,
    kind: str | None = None,
    probes: ProbeOptions = ZOO_PROBES,
    run: RunOptions = RunOptions(),
    say: Callable[[str], Any] | None = None,
    command: str | None = None,
) -> EvalReport:
    """Fingerprint every zoo model, test every pair of equal width with each method, and write the results.

    Parameters
    ----------
    zoo_dir : str or Path
        A zoo built by ``seedprints zoo build``: one model directory per model, each with
        ``zoo_manifest.json``. Fingerprints are cached in ``zoo_dir/.fingerprints`` as
        ``<name>-<probe hash>.safetensors`` and reused while newer than the model's weights.
    out_dir : str or Path
        Where ``results.json``, ``summary.md`` and the PNG plots go (created if needed).
    methods : sequence of str, optional
        Names in :data:`seedprints.stats.methods.METHODS`; default all of them.
    alpha : float
        Significance level of every verdict.
    kind : str, optional
        Probes: None (default) gives each method its own (:data:`METHOD_PROBES`); else one kind for
        all: ``"untrained"`` (the default probes of the zoo's vocabulary: padding rows past the
        tokenizer, with the logits of others; ``"rare"`` is its old name), ``"token"`` (ids below
        the smallest vocabulary of the zoo, bounded by 32000) or ``"embedding"`` (one spec per
        hidden size).
    probes : ProbeOptions
        N sequences of ``length`` tokens from generator ``seed``; untrained probes use at most
        ``rare_tokens`` input and as many logit tokens (default 128); its ``kind`` is not read.
        Default :data:`~seedprints.zoo.fingerprinting.ZOO_PROBES`.
    run : RunOptions
        How the models run (device, batch size, progress bars), as for :func:`seedprints.api.fingerprint_model`.
    say : callable, optional
        Called with one line per step (e.g. ``print`` to stderr); silent by default.
    command : str, optional
        The command line to print in ``summary.md``; default: rebuilt from the arguments.

    Returns
    -------
    EvalReport
        Pairs, per-method summaries, failed models and the paths written.

    Raises
    ------
    UsageError
        Unknown method or probe kind, alpha outside (0, 1).
    ZooConfigError
        ``zoo_dir`` does not exist, holds no model directory, or none of its models could be evaluated.
    OutputPathError
        ``out_dir`` cannot be created or written (checked before fingerprinting; it is created only
        when there are results to write).

    Notes
    -----
    A model that fails (bad manifest or config, weights that do not load, an error during
    extraction) is listed in ``failed`` with a one-line message, and the others are still evaluated.
    Pairs are oriented ancestor -> descendant, else fewer steps first (see :func:`classify_pair`).
    """
    say = say or say_nothing
    zoo_dir, out_dir = Path(zoo_dir), Path(out_dir)
    chosen = list(METHODS) if methods is None else list(methods)
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise UsageError(f"unknown method {unknown[0] if unknown else '(none)'!r}; choose from {', '.join(METHODS)}")
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1 (got {alpha})")
    if kind is not None and kind not in PROBE_KINDS:
        raise UsageError(f"unknown probe kind {kind!r}; use one of {', '.join(PROBE_KINDS)}")
    kind = api.PROBE_KIND_ALIASES.get(kind, kind)
    method_kind = {m: kind or METHOD_PROBES[m] for m in chosen}
    check_sizes(probes, run)
    check_zoo_dir(zoo_dir)
    check_out_dir(out_dir)

    zoo = fingerprint_zoo(zoo_dir, sorted(set(method_kind.values())), probes=probes, run=run, say=say)
    entries, shapes, specs, by_kind, model_info, failed = (
        zoo.entries, zoo.shapes, zoo.specs, zoo.fingerprints, zoo.model_info, zoo.failed
    )
    ordered = zoo.ordered
    # a model that failed with one kind of probes is left out of every method
    names = [name for name in ordered if all(name in fps for fps in by_kind.values())]
    require_evaluated(zoo_dir, names, failed)
    pairs: list[PairResult] = []
    skipped = {"different_width": 0}
    low_power = dict.fromkeys(chosen, 0)
    memo: dict[str, frozenset[str]] = {}
    say(f"testing pairs of {len(names)} models with {', '.join(chosen)}")
    with progress_bar(run.progress, len(names) * (len(names) - 1) // 2, "testing pairs", unit="pairs") as advance:
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                width = shapes[a][0]
                if width != shapes[b][0]:
                    skipped["different_width"] += 1
                    continue
                truth = classify_pair(entries[a], entries[b], entries, _memo=memo)
                results: dict[str, LineageResult | None] = {}
                errors: dict[str, str] = {}
                for method in chosen:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        try:
                            fps = by_kind[method_kind[method]]
                            result = METHODS[method](fps[truth.ref], fps[truth.suspect], alpha=alpha)
                            results[method] = dataclasses.replace(result, probe_hash=fps[truth.ref].probe_hash)
                        except SeedprintsError as exc:
                            results[method] = None
                            errors[method] = one_line(exc)
                    for warning in caught:
                        if issubclass(warning.category, LowPowerWarning):
                            low_power[method] += 1
                        else:
                            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
                regime = entries[a].regime if entries[a].regime == entries[b].regime else CROSS_REGIME
                pairs.append(PairResult(truth.ref, truth.suspect, truth.truth, truth.category, width, results, errors,
                                        regime))
            advance(len(names) - i - 1)

    summaries = {m: summarize_method(pairs, m, alpha, entries, low_power=low_power[m]) for m in chosen}
    settings = {
        "zoo_dir": str(zoo_dir),
        "out_dir": str(out_dir),
        "methods": chosen,
        "alpha": alpha,
        "probe": {"kind": kind, "n": probes.n, "length": probes.length, "seed": probes.seed, "per_method": method_kind},
        "probe_specs": _spec_table(specs),
        "device": run.device,
        "batch_size": run.batch_size,
        "command": command or _command(zoo_dir, out_dir, methods, alpha, kind, probes, run),
    }
    report = EvalReport(
        pairs=pairs,
        summaries=summaries,
        failed=sorted(failed, key=lambda f: f.name),
        models=[model_info[name] for name in names],
        settings=settings,
        skipped=skipped,
    )
    _write_outputs(report, out_dir, say)
    return report


def _write_outputs(report: EvalReport, out_dir: Path, say: Callable[[str], Any]) -> None:
    make_out_dir(out_dir)
    report.paths["results"] = out_dir / "results.json"
    report.paths["summary"] = out_dir / "summary.md"
    say(f"drawing plots in {out_dir}")
    report.paths.update(plots.write_plots(report, out_dir))
    text = json.dumps(report.to_dict(), indent=1, allow_nan=False, ensure_ascii=False) + "\n"
    write_atomic(report.paths["results"], text.encode())
    write_atomic(report.paths["summary"], summary.render_summary(report).encode())
    say(f"wrote {report.paths['summary']}")
