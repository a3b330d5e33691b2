"""Init-seed identification on a zoo: how far into training the lineage test still picks the true seed.

For each architecture of the zoo, :func:`seed_curve` rebuilds the inits of candidate seeds
``0 .. candidates-1`` (:func:`seedprints.seeds.init_model_from_config`, checked first to reproduce
the zoo's own init weights bit for bit), fingerprints them with the probes of each suspect, ranks
the candidates of every suspect (a model of one lineage: init, checkpoints, pretrained, continual,
fine-tune) by the lineage test's log10 p, and records the true seed's rank and z beside the best
wrong seed's. Two kinds of probes: uniform token probes (one spec per architecture) and the default
untrained-token probes of each suspect's vocabulary (kind ``"rare"``, its old name; one candidate
sweep per distinct spec). :mod:`seedprints.zoo.seedcurve_report` holds what it measured and writes
``results.json``, ``summary.md`` and ``seed-curve.png``.
"""

from __future__ import annotations

import dataclasses
import math
import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from seedprints import api, seeds
from seedprints import fingerprint as _fpfile
from seedprints.encoding import RankedFingerprint, decode, encode, rank_fingerprint
from seedprints.errors import FingerprintFormatError, SeedprintsError, UsageError, ZooConfigError
from seedprints.options import ProbeOptions, RunOptions
from seedprints.output_paths import write_atomic
from seedprints.probes import ProbeSpec
from seedprints.progress import progress_bar
from seedprints.stats.lineage import lineage_test_ranked
from seedprints.zoo.fingerprinting import (
    FINGERPRINT_CACHE, ZOO_PROBES, cached_fingerprint, check_sizes, probe_words, run_words, say_nothing,
)
from seedprints.zoo.manifest import STAGES, ModelEntry, no_models_error, scan_zoo
from seedprints.zoo.outdir import check_out_dir
from seedprints.zoo.seedcurve_report import PROBE_KINDS, SeedCurveReport, SuspectResult, curve_of, write_outputs

__all__ = ["DEFAULT_STAGES", "PROBE_KINDS", "SeedCurveReport", "SuspectResult", "seed_curve"]

DEFAULT_STAGES = ("init", "checkpoint", "pretrained", "continual", "finetune")
"""Stages on a lineage's own training path: the suspects whose true seed is known and unambiguous."""
SEEDS_CACHE = "seeds"  # candidate fingerprints (as their encoded ranks) under ZOO_DIR/.fingerprints/seeds


# ----------------------------------------------------------------------------------------------------------------------
# Fingerprints, cached


def _suspect_fingerprint(name: str, path: Path, spec: ProbeSpec, cache_dir: Path, run: RunOptions) -> RankedFingerprint:
    """The suspect's fingerprint, cached like ``zoo eval`` caches it (``<name>-<probe hash>.safetensors``)."""
    cache = cache_dir / f"{name}-{spec.hash}.safetensors"
    fp = cached_fingerprint(cache, path, spec)
    if fp is None:
        fp = api.fingerprint_model(path, spec, run=run)
        try:
            cache_dir.mkdir(exist_ok=True)
            _fpfile.save(fp, cache)
        except (OSError, SeedprintsError):
            pass  # the cache only saves time
    return rank_fingerprint(fp)


def _candidate_cache(cache_dir: Path, config_sha: str, seed: int, spec: ProbeSpec) -> Path:
    return cache_dir / SEEDS_CACHE / f"{config_sha[:16]}-seed-{seed}-{spec.hash}.ranks"


def _cached_candidate(path: Path, spec: ProbeSpec, versions: Mapping[str, str]) -> RankedFingerprint | None:
    """A cached candidate when its probes and init framework versions are the ones asked for."""
    try:
        ranked = decode(path.read_bytes(), source=str(path))
    except (OSError, FingerprintFormatError):
        return None
    ok = ranked.spec == spec and all(ranked.metadata.get(k) == v for k, v in versions.items())
    return ranked if ok else None


# ----------------------------------------------------------------------------------------------------------------------
# Suspects and architectures


def _suspects(found: list[tuple[Path, ModelEntry]], stages: Sequence[str], lineages: Sequence[str] | None) -> list[tuple[Path, ModelEntry]]:
    """Models of one lineage, grown from that lineage's own init seed, at the chosen stages."""
    chosen = [
        (path, entry) for path, entry in found
        if entry.stage in stages and len(entry.lineages) == 1
        and entry.lineages[0] == f"{entry.family}-s{entry.init_seed}"
        and (lineages is None or entry.lineages[0] in lineages)
    ]
    return sorted(chosen, key=lambda item: (item[1].lineages[0], item[1].steps, item[1].name))


def _architectures(suspects: list[tuple[Path, ModelEntry]]) -> dict[str, dict[str, Any]]:
    """Suspects grouped by the SHA-256 of their config: each group shares one set of candidate inits."""
    by_arch: dict[str, dict[str, Any]] = {}
    for path, entry in suspects:
        arch = by_arch.setdefault(seeds.config_sha256(path), {"config": seeds.load_config(path), "family": entry.family,
                                                              "lineages": {}, "suspects": []})
        arch["lineages"].setdefault(entry.lineages[0], entry.init_seed)
        arch["suspects"].append((path, entry))
    return by_arch


def _reproduces(model_dir: Path, config: Any, seed: int) -> bool:
    """True when the rebuilt init of ``seed`` has exactly the weights stored in ``model_dir``."""
    import torch
    from transformers import AutoModelForCausalLM

    from seedprints.zoo.model_access import quiet_transformers

    with quiet_transformers():
        stored = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).state_dict()
    rebuilt = seeds.init_model_from_config(config, seed).state_dict()
    return stored.keys() == rebuilt.keys() and all(torch.equal(stored[k], rebuilt[k]) for k in stored)


def _rank_candidates(
    suspect: RankedFingerprint, candidates: Mapping[int, RankedFingerprint], true_seed: int, alpha: float
) -> dict[str, Any]:
    scored = {}
    for seed, ranked in candidates.items():
        result = lineage_test_ranked(ranked, suspect, alpha, n_permutations=0)  # the candidate init is the reference
        scored[seed] = (result.log10_p, -result.z)
    true = scored[true_seed]
    wrong = {s: v for s, v in scored.items() if s != true_seed}
    best_wrong = min(wrong, key=lambda s: (wrong[s], s))
    rank = 1 + sum(1 for v in wrong.values() if v <= true)
    return {"rank": rank, "top1": rank == 1, "z_true": -true[1], "log10_p_true": true[0],
            "best_wrong_seed": best_wrong, "z_best_wrong": -wrong[best_wrong][1],
            "log10_p_best_wrong": wrong[best_wrong][0]}


def _command(zoo_dir: Path, out_dir: Path, candidates: int, kinds: Sequence[str], stages: Sequence[str],
             lineages: Sequence[str] | None, rare_suspects: Sequence[str] | None, alpha: float, probes: ProbeOptions,
             run: RunOptions) -> str:
    words = ["seedprints", "zoo", "seeds", str(zoo_dir), "--out", str(out_dir), "--candidates", str(candidates)]
    for kind in kinds:
        words += ["--probe", kind]
    for stage in stages:
        words += ["--stage", stage]
    for lineage in lineages or ():
        words += ["--lineage", lineage]
    for name in rare_suspects or ():
        words += ["--rare-suspect", name]
    words += [*probe_words(probes), "--alpha", f"{alpha:g}", *run_words(run)]
    return " ".join(shlex.quote(w) for w in words)


# ----------------------------------------------------------------------------------------------------------------------
# The measurement


def seed_curve(
    zoo_dir: str | Path,
    out_dir: str | Path,
    *,
    candidates: int = 100,
    kinds: Sequence[str] = PROBE_KINDS,
    stages: Sequence[str] = DEFAULT_STAGES,
    lineages: Sequence[str] | None = None,
    rare_suspects: Sequence[str] | None = None,
    alpha: float = 0.01,
    probes: ProbeOptions = ZOO_PROBES,
    run: RunOptions = RunOptions(),
    say: Callable[[str], Any] | None = None,
) -> SeedCurveReport:
    """Rank candidate init seeds for every suspect of a zoo, and write the identification curve.

    Parameters
    ----------
    zoo_dir : str or Path
        A zoo built by ``seedprints zoo build``. Suspect fingerprints are cached in
        ``zoo_dir/.fingerprints`` as ``zoo eval`` does; candidate fingerprints, as their encoded
        ranks, in ``zoo_dir/.fingerprints/seeds``.
    out_dir : str or Path
        Where ``results.json``, ``summary.md`` and ``seed-curve.png`` go.
    candidates : int
        Candidate seeds are ``0 .. candidates-1``; every suspect's true seed must be among them.
    kinds : sequence of {"token", "rare"}
        Probe kinds to measure.
    stages : sequence of str
        Manifest stages whose single-lineage models are suspects (default :data:`DEFAULT_STAGES`).
    lineages : sequence of str, optional
        Only these lineage ids (e.g. ``"llama-s1"``); default all.
    rare_suspects : sequence of str, optional
        Rare-token probes only for these suspects (each costs one sweep of every candidate); default all.
    alpha : float
        Level of each suspect's ``detected`` verdict.
    probes : ProbeOptions
        N sequences of ``length`` tokens from generator ``seed``; rare probes use ``rare_tokens`` input and as many
        logit tokens (default 128, at most 1/8 of the vocabulary); its ``kind`` is not read (``kinds`` chooses).
        Default :data:`~seedprints.zoo.fingerprinting.ZOO_PROBES`.
    run : RunOptions
        Forward-pass settings; ``progress`` shows a progress bar over candidate seeds on stderr.
    say : callable, optional
        Called with one line per step.

    Returns
    -------
    SeedCurveReport

    Raises
    ------
    UsageError
        Unknown probe kind or stage, a non-positive size, alpha outside (0, 1), a true seed outside
        the candidates, or a ``rare_suspects`` name that is not a suspect.
    ZooConfigError
        No suspect in the zoo, or a rebuilt init that differs from the zoo's own init weights.
    OutputPathError
        ``out_dir`` cannot be written.
    """
    say = say or say_nothing
    zoo_dir, out_dir = Path(zoo_dir), Path(out_dir)
    bad_kinds = [k for k in kinds if k not in PROBE_KINDS]
    if bad_kinds or not kinds:
        raise UsageError(f"unknown probe kind {bad_kinds[0] if bad_kinds else '(none)'!r}; use {', '.join(PROBE_KINDS)}")
    bad_stages = [s for s in stages if s not in STAGES]
    if bad_stages or not stages:
        raise UsageError(f"unknown stage {bad_stages[0] if bad_stages else '(none)'!r}; use {', '.join(STAGES)}")
    if candidates < 2:
        raise UsageError(f"candidates must be >= 2 (got {candidates})")
    check_sizes(probes, run)
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1 (got {alpha})")
    found, scan_failed = scan_zoo(zoo_dir)
    if not found:
        raise no_models_error(zoo_dir, scan_failed)
    suspects = _suspects(found, stages, lineages)
    if not suspects:
        raise ZooConfigError(f"{zoo_dir} has no single-lineage model at stages {', '.join(stages)}; build a zoo with `seedprints zoo build`")
    names = {entry.name for _, entry in suspects}
    unknown = sorted(set(rare_suspects or ()) - names)
    if unknown:
        raise UsageError(f"--rare-suspect {unknown[0]!r} is not a suspect of this run; choose among {', '.join(sorted(names))}")
    outside = sorted({e.init_seed for _, e in suspects if e.init_seed >= candidates})
    if outside:
        raise UsageError(f"true seed {outside[0]} is not among candidates 0..{candidates - 1}; raise --candidates to {outside[-1] + 1}")
    check_out_dir(out_dir)

    results: list[SuspectResult] = []
    architectures: list[dict[str, Any]] = []
    measure = dict(candidates=candidates, kinds=kinds, rare_suspects=rare_suspects, alpha=alpha, probes=probes, run=run)
    init_dirs = {entry.name: path for path, entry in found if entry.stage == "init"}
    for sha, arch in _architectures(suspects).items():
        info, measured = _measure_architecture(sha, arch, init_dirs, zoo_dir / FINGERPRINT_CACHE, say=say, **measure)
        architectures.append(info)
        results.extend(measured)
    results.sort(key=lambda r: (r.lineage, r.steps, r.suspect, r.probe))
    settings = {
        "zoo_dir": str(zoo_dir), "out_dir": str(out_dir), "candidates": candidates, "kinds": list(kinds),
        "stages": list(stages), "lineages": list(lineages) if lineages else None,
        "rare_suspects": list(rare_suspects) if rare_suspects else None, "n": probes.n, "length": probes.length,
        "probe_seed": probes.seed, "rare_tokens": probes.rare_tokens, "alpha": alpha, "device": run.device,
        "batch_size": run.batch_size,
        "command": _command(zoo_dir, out_dir, candidates, kinds, stages, lineages, rare_suspects, alpha, probes, run),
    }
    report = SeedCurveReport(results=results, curve=curve_of(results), architectures=architectures, settings=settings)
    write_outputs(report, out_dir)
    say(f"wrote {report.paths['summary']}")
    return report


def _check_init(arch: Mapping[str, Any], init_dirs: Mapping[str, Path], say: Callable[[str], Any]) -> dict[str, bool]:
    """Rebuild each lineage's init and compare it with the zoo's own init weights; ZooConfigError on a difference."""
    reproduced = {}
    for lineage, true_seed in sorted(arch["lineages"].items()):
        init_dir = init_dirs.get(f"{lineage}-init")
        if init_dir is None:
            continue
        say(f"checking that seed {true_seed} rebuilds {init_dir.name}")
        reproduced[lineage] = _reproduces(init_dir, arch["config"], true_seed)
        if not reproduced[lineage]:
            raise ZooConfigError(
                f"the init rebuilt from seed {true_seed} differs from {init_dir}; the zoo was built with another "
                "transformers/torch version, rebuild it or measure with the versions that built it"
            )
    return reproduced


def _spec(path: Path, options: ProbeOptions) -> ProbeSpec:
    """The probes ``options`` give for the model at ``path`` alone, as an auditor holding only that model gets them."""
    return api.resolve_probes(models=[path], options=options).spec


def _measure_architecture(
    sha: str, arch: Mapping[str, Any], init_dirs: Mapping[str, Path], cache_dir: Path, *, candidates: int,
    kinds: Sequence[str], rare_suspects: Sequence[str] | None, alpha: float, probes: ProbeOptions, run: RunOptions,
    say: Callable[[str], Any],
) -> tuple[dict[str, Any], list[SuspectResult]]:
    """Check the inits, fingerprint the suspects and every candidate of one architecture, rank the candidates.

    Only the sweep over candidates shows progress (``run.progress``); each fingerprint runs without a bar of its own.
    """
    info = {"config_sha256": sha, "family": arch["family"], "lineages": sorted(arch["lineages"]),
            "true_seeds": sorted(set(arch["lineages"].values())), "init_reproduced": _check_init(arch, init_dirs, say)}
    token = _spec(arch["suspects"][0][0], dataclasses.replace(probes, kind="token"))  # the architecture's one spec
    rare_options = dataclasses.replace(probes, kind="rare")
    quiet = dataclasses.replace(run, progress=False)
    jobs: list[tuple[Path, ModelEntry, str, ProbeSpec]] = []
    for path, entry in arch["suspects"]:
        if "token" in kinds:
            jobs.append((path, entry, "token", token))
        if "rare" in kinds and (rare_suspects is None or entry.name in rare_suspects):
            jobs.append((path, entry, "rare", _spec(path, rare_options)))
    suspect_fps = {}
    for path, entry, kind, spec in jobs:
        say(f"fingerprinting {entry.name} ({kind} probes)")
        suspect_fps[entry.name, kind] = _suspect_fingerprint(entry.name, path, spec, cache_dir, quiet)
    specs = list({spec.hash: spec for *_, spec in jobs}.values())
    candidate_fps = _sweep(arch["config"], sha, range(candidates), specs, cache_dir, run=quiet, progress=run.progress, say=say)
    results = []
    for _, entry, kind, spec in jobs:
        ranked = _rank_candidates(suspect_fps[entry.name, kind], {s: candidate_fps[s, spec.hash] for s in range(candidates)},
                                  entry.init_seed, alpha)
        results.append(SuspectResult(
            suspect=entry.name, lineage=entry.lineages[0], stage=entry.stage, label=entry.label, steps=entry.steps,
            probe=kind, probe_hash=spec.hash, true_seed=entry.init_seed,
            detected=ranked["log10_p_true"] < math.log10(alpha), **ranked,
        ))
    return info, results


def _sweep(
    config: Any, config_sha: str, candidate_seeds: range, specs: list[ProbeSpec], cache_dir: Path, *,
    run: RunOptions, progress: bool, say: Callable[[str], Any],
) -> dict[tuple[int, str], RankedFingerprint]:
    """Every candidate's init fingerprinted with every spec: each init built once, cached fingerprints reused."""

    versions = {k: v for k, v in seeds.init_metadata(config_sha, 0).items() if k == "init_framework"}
    out: dict[tuple[int, str], RankedFingerprint] = {}
    say(f"fingerprinting {len(candidate_seeds)} candidate inits with {len(specs)} probe spec(s)")
    with progress_bar(progress, len(candidate_seeds), "candidate seeds") as advance:
        for k in candidate_seeds:
            model = None
            for spec in specs:
                path = _candidate_cache(cache_dir, config_sha, k, spec)
                ranked = _cached_candidate(path, spec, versions)
                if ranked is None:
                    model = model if model is not None else seeds.init_model_from_config(config, k)
                    fp = seeds.fingerprint_init(model, spec, seed=k, config_sha=config_sha, run=run)
                    ranked = rank_fingerprint(fp)
                    try:
                        path.parent.mkdir(parents=True, exist_ok=True)
                        write_atomic(path, encode(ranked))
                    except (OSError, SeedprintsError):
                        pass  # the cache only saves time
                out[k, spec.hash] = ranked
            advance(1)
    return out
