"""Init-seed identification on a zoo: how far into training the lineage test still picks the true seed.

For each architecture of the zoo, :func:`seed_curve` rebuilds the inits of candidate seeds
``0 .. candidates-1`` (:func:`seedprints.seeds.init_model_from_config`, checked first to reproduce
the zoo's own init weights bit for bit), fingerprints them with the probes of each suspect, ranks
the candidates of every suspect (a model of one lineage: init, checkpoints, pretrained, continual,
fine-tune) by the lineage test's log10 p, and records the true seed's rank and z beside the best
wrong seed's. Two kinds of probes: uniform token probes (one spec per architecture) and the default
untrained-token probes of each suspect's vocabulary (kind ``"rare"``, its old name; one candidate
sweep per distinct spec). The results go to ``results.json``, ``summary.md`` and
``seed-curve.png``: top-1 accuracy against training steps, one line per probe kind.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from seedprints import api, seeds
from seedprints import fingerprint as _fpfile
from seedprints.encoding import RankedFingerprint, decode, encode, rank_fingerprint
from seedprints.errors import FingerprintFormatError, SeedprintsError, UsageError, ZooConfigError
from seedprints.output_paths import write_atomic
from seedprints.probes import ProbeSpec, default_vocab_bound, token_spec
from seedprints.progress import progress_bar
from seedprints.stats.lineage import lineage_test_ranked
from seedprints.zoo.fingerprinting import FINGERPRINT_CACHE, cached_fingerprint
from seedprints.zoo.manifest import STAGES, ModelEntry, no_models_error, scan_zoo
from seedprints.zoo.outdir import check_out_dir, make_out_dir

__all__ = ["DEFAULT_STAGES", "PROBE_KINDS", "SeedCurveReport", "SuspectResult", "seed_curve"]

PROBE_KINDS = ("token", "rare")
DEFAULT_STAGES = ("init", "checkpoint", "pretrained", "continual", "finetune")
"""Stages on a lineage's own training path: the suspects whose true seed is known and unambiguous."""
SEEDS_CACHE = "seeds"  # candidate fingerprints (as their encoded ranks) under ZOO_DIR/.fingerprints/seeds


@dataclasses.dataclass(frozen=True)
class SuspectResult:
    """How the candidates ranked for one suspect and one kind of probes.

    Attributes
    ----------
    suspect, lineage, stage, label : str
        The zoo model and its manifest fields.
    steps : int
        Training steps since init (the curve's x).
    probe : {"token", "rare"}
        Kind of probes.
    probe_hash : str
        Hash of the probe spec.
    true_seed : int
        The suspect's init seed.
    rank : int
        1-based rank of the true seed among the candidates by log10 p (ties with a wrong seed count against it).
    top1 : bool
        ``rank == 1``.
    z_true, log10_p_true : float
        The true seed's lineage-test z and log10 p.
    best_wrong_seed : int
        The wrong candidate with the smallest log10 p.
    z_best_wrong, log10_p_best_wrong : float
        Its z and log10 p.
    detected : bool
        The true seed's verdict is same-lineage at ``alpha``.
    """

    suspect: str
    lineage: str
    stage: str
    label: str
    steps: int
    probe: str
    probe_hash: str
    true_seed: int
    rank: int
    top1: bool
    z_true: float
    log10_p_true: float
    best_wrong_seed: int
    z_best_wrong: float
    log10_p_best_wrong: float
    detected: bool

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class SeedCurveReport:
    """Everything :func:`seed_curve` measured and wrote.

    Attributes
    ----------
    results : list of SuspectResult
        One per suspect and probe kind, in lineage then step order.
    curve : dict of str to list of dict
        Per probe kind: ``{"steps", "suspects", "top1", "accuracy"}`` for every training-step value.
    architectures : list of dict
        Per architecture: ``config_sha256``, ``family``, ``lineages``, ``true_seeds`` and
        ``init_reproduced`` (per lineage whose init is in the zoo: True when the rebuilt init equals it).
    settings : dict
        Arguments of the run and ``command`` (the CLI line).
    paths : dict of str to Path
        Files written (``results``, ``summary``, ``plot``).
    """

    results: list[SuspectResult]
    curve: dict[str, list[dict[str, Any]]]
    architectures: list[dict[str, Any]]
    settings: dict[str, Any]
    paths: dict[str, Path] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "results_schema_version": 1,
            "settings": self.settings,
            "architectures": self.architectures,
            "curve": self.curve,
            "results": [r.to_dict() for r in self.results],
            "paths": {k: str(v) for k, v in self.paths.items()},
        }


# ----------------------------------------------------------------------------------------------------------------------
# Fingerprints, cached


def _suspect_fingerprint(name: str, path: Path, spec: ProbeSpec, cache_dir: Path, device: str, batch_size: int) -> RankedFingerprint:
    """The suspect's fingerprint, cached like ``zoo eval`` caches it (``<name>-<probe hash>.safetensors``)."""
    cache = cache_dir / f"{name}-{spec.hash}.safetensors"
    fp = cached_fingerprint(cache, path, spec)
    if fp is None:
        fp = api.fingerprint_model(path, spec, device=device, batch_size=batch_size)
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


def _curve(results: Sequence[SuspectResult]) -> dict[str, list[dict[str, Any]]]:
    curve: dict[str, list[dict[str, Any]]] = {}
    for kind in PROBE_KINDS:
        rows = [r for r in results if r.probe == kind]
        points = []
        for steps in sorted({r.steps for r in rows}):
            at = [r for r in rows if r.steps == steps]
            hits = sum(r.top1 for r in at)
            points.append({"steps": steps, "stages": sorted({r.label for r in at}), "suspects": len(at),
                           "top1": hits, "accuracy": hits / len(at)})
        if points:
            curve[kind] = points
    return curve


def _command(zoo_dir: Path, out_dir: Path, candidates: int, kinds: Sequence[str], stages: Sequence[str],
             lineages: Sequence[str] | None, rare_suspects: Sequence[str] | None, n: int, length: int, seed: int, alpha: float, device: str,
             batch_size: int) -> str:
    words = ["seedprints", "zoo", "seeds", str(zoo_dir), "--out", str(out_dir), "--candidates", str(candidates)]
    for kind in kinds:
        words += ["--probe", kind]
    for stage in stages:
        words += ["--stage", stage]
    for lineage in lineages or ():
        words += ["--lineage", lineage]
    for name in rare_suspects or ():
        words += ["--rare-suspect", name]
    words += ["--n", str(n), "--length", str(length), "--probe-seed", str(seed), "--alpha", f"{alpha:g}",
              "--device", device, "--batch-size", str(batch_size)]
    return " ".join(shlex.quote(w) for w in words)


def _quiet(_message: str) -> None:
    return None


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
    n: int = 1000,
    length: int = 64,
    seed: int = 42,
    rare_tokens: int | None = None,
    alpha: float = 0.01,
    device: str = "cpu",
    batch_size: int = 64,
    progress: bool = False,
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
    n, length, seed, rare_tokens
        Probe settings: N sequences of ``length`` tokens from generator ``seed``; rare probes use
        ``rare_tokens`` input and as many logit tokens (default 128, at most 1/8 of the vocabulary).
    alpha : float
        Level of each suspect's ``detected`` verdict.
    device, batch_size
        Forward-pass settings.
    progress : bool
        Show a progress bar over candidate seeds on stderr.
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
    say = say or _quiet
    zoo_dir, out_dir = Path(zoo_dir), Path(out_dir)
    bad_kinds = [k for k in kinds if k not in PROBE_KINDS]
    if bad_kinds or not kinds:
        raise UsageError(f"unknown probe kind {bad_kinds[0] if bad_kinds else '(none)'!r}; use {', '.join(PROBE_KINDS)}")
    bad_stages = [s for s in stages if s not in STAGES]
    if bad_stages or not stages:
        raise UsageError(f"unknown stage {bad_stages[0] if bad_stages else '(none)'!r}; use {', '.join(STAGES)}")
    if min(candidates, n, length, batch_size) < 1 or candidates < 2:
        raise UsageError(f"candidates must be >= 2 and n, length, batch_size positive (got {candidates}, {n}, {length}, {batch_size})")
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
    measure = dict(candidates=candidates, kinds=kinds, rare_suspects=rare_suspects, n=n, length=length, seed=seed,
                   rare_tokens=rare_tokens, alpha=alpha, device=device, batch_size=batch_size)
    init_dirs = {entry.name: path for path, entry in found if entry.stage == "init"}
    for sha, arch in _architectures(suspects).items():
        info, measured = _measure_architecture(sha, arch, init_dirs, zoo_dir / FINGERPRINT_CACHE, progress=progress, say=say,
                                               **measure)
        architectures.append(info)
        results.extend(measured)
    results.sort(key=lambda r: (r.lineage, r.steps, r.suspect, r.probe))
    settings = {
        "zoo_dir": str(zoo_dir), "out_dir": str(out_dir), "candidates": candidates, "kinds": list(kinds),
        "stages": list(stages), "lineages": list(lineages) if lineages else None,
        "rare_suspects": list(rare_suspects) if rare_suspects else None, "n": n, "length": length, "probe_seed": seed,
        "rare_tokens": rare_tokens, "alpha": alpha, "device": device, "batch_size": batch_size,
        "command": _command(zoo_dir, out_dir, candidates, kinds, stages, lineages, rare_suspects, n, length, seed, alpha, device, batch_size),
    }
    report = SeedCurveReport(results=results, curve=_curve(results), architectures=architectures, settings=settings)
    _write_outputs(report, out_dir)
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


def _rare_spec(path: Path, options: api.ProbeOptions) -> ProbeSpec:
    """The default (untrained-token) probes of the suspect's vocabulary, as an auditor holding only the suspect gets them."""
    spec = api.shared_default_spec([path], options)
    assert isinstance(spec, ProbeSpec)
    return spec


def _measure_architecture(
    sha: str, arch: Mapping[str, Any], init_dirs: Mapping[str, Path], cache_dir: Path, *, candidates: int,
    kinds: Sequence[str], rare_suspects: Sequence[str] | None, n: int, length: int, seed: int, rare_tokens: int | None,
    alpha: float, device: str, batch_size: int, progress: bool, say: Callable[[str], Any],
) -> tuple[dict[str, Any], list[SuspectResult]]:
    """Check the inits, fingerprint the suspects and every candidate of one architecture, rank the candidates."""
    info = {"config_sha256": sha, "family": arch["family"], "lineages": sorted(arch["lineages"]),
            "true_seeds": sorted(set(arch["lineages"].values())), "init_reproduced": _check_init(arch, init_dirs, say)}
    token = token_spec(n, length, default_vocab_bound(int(arch["config"].vocab_size)), seed=seed)
    rare_options = api.ProbeOptions(kind="rare", n=n, length=length, seed=seed, rare_tokens=rare_tokens)
    jobs: list[tuple[Path, ModelEntry, str, ProbeSpec]] = []
    for path, entry in arch["suspects"]:
        if "token" in kinds:
            jobs.append((path, entry, "token", token))
        if "rare" in kinds and (rare_suspects is None or entry.name in rare_suspects):
            jobs.append((path, entry, "rare", _rare_spec(path, rare_options)))
    suspect_fps = {}
    for path, entry, kind, spec in jobs:
        say(f"fingerprinting {entry.name} ({kind} probes)")
        suspect_fps[entry.name, kind] = _suspect_fingerprint(entry.name, path, spec, cache_dir, device, batch_size)
    specs = list({spec.hash: spec for *_, spec in jobs}.values())
    candidate_fps = _sweep(arch["config"], sha, range(candidates), specs, cache_dir, device=device, batch_size=batch_size,
                           progress=progress, say=say)
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
    device: str, batch_size: int, progress: bool, say: Callable[[str], Any],
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
                    fp = seeds.fingerprint_init(model, spec, seed=k, config_sha=config_sha, device=device, batch_size=batch_size)
                    ranked = rank_fingerprint(fp)
                    try:
                        path.parent.mkdir(parents=True, exist_ok=True)
                        write_atomic(path, encode(ranked))
                    except (OSError, SeedprintsError):
                        pass  # the cache only saves time
                out[k, spec.hash] = ranked
            advance(1)
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Outputs


def _write_outputs(report: SeedCurveReport, out_dir: Path) -> None:
    make_out_dir(out_dir)
    report.paths["results"] = out_dir / "results.json"
    report.paths["summary"] = out_dir / "summary.md"
    report.paths["plot"] = out_dir / "seed-curve.png"
    _plot(report, report.paths["plot"])
    text = json.dumps(report.to_dict(), indent=1, allow_nan=False, ensure_ascii=False) + "\n"
    write_atomic(report.paths["results"], text.encode())
    write_atomic(report.paths["summary"], render_summary(report).encode())


def _plot(report: SeedCurveReport, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=110, layout="constrained")
    acc_ax, z_ax = fig.subplots(1, 2)
    colours = {"token": "tab:blue", "rare": "tab:orange"}
    for kind, points in report.curve.items():
        acc_ax.plot([p["steps"] for p in points], [p["accuracy"] for p in points], "o-", color=colours[kind],
                    label=f"{kind} probes")
        rows = [r for r in report.results if r.probe == kind]
        z_ax.scatter([r.steps for r in rows], [r.z_true for r in rows], color=colours[kind], label=f"true seed ({kind})")
        z_ax.scatter([r.steps for r in rows], [r.z_best_wrong for r in rows], facecolors="none", edgecolors=colours[kind],
                     label=f"best wrong seed ({kind})")
    candidates = report.settings["candidates"]
    acc_ax.set(xlabel="training steps since init", ylabel=f"top-1 accuracy among {candidates} seeds", ylim=(-0.05, 1.05),
               title="Which seed? Top-1 accuracy")
    z_ax.set(xlabel="training steps since init", ylabel="lineage-test z", yscale="symlog", title="z of the true and the best wrong seed")
    acc_ax.legend()
    z_ax.legend(fontsize="small")
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return write_atomic(path, buffer.getvalue())


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def render_summary(report: SeedCurveReport) -> str:
    """The results page: settings, the curve per probe kind, and every suspect's ranking."""
    s = report.settings
    lines = [
        "# Init-seed identification on the zoo",
        "",
        f"Measured by `{s['command']}`.",
        "",
        f"For each suspect (a model grown from a known init seed), the inits of candidate seeds 0..{s['candidates'] - 1} "
        "are rebuilt with transformers, fingerprinted with the suspect's probes and tested against it (candidate = "
        f"reference); candidates are ranked by log10 p. Probes: N={s['n']}, L={s['length']}, probe seed {s['probe_seed']}; "
        "`token` = uniform token ids (one spec per architecture), `rare` = the default untrained-token probes of "
        "each suspect's vocabulary (padding rows past its tokenizer).",
        "",
    ]
    if s["rare_suspects"] and "rare" in s["kinds"]:
        lines += [f"Rare-token probes were run for {', '.join(s['rare_suspects'])} only (each suspect's own probes cost a "
                  "fresh fingerprint of every candidate).", ""]
    for arch in report.architectures:
        checks = ", ".join(f"{k}: {'identical' if v else 'DIFFERENT'}" for k, v in arch["init_reproduced"].items()) or "no init in the zoo"
        lines.append(f"- {arch['family']} (config `{arch['config_sha256'][:12]}`), lineages {', '.join(arch['lineages'])}; "
                     f"rebuilt init vs the zoo's init weights: {checks}.")
    lines += ["", "## Top-1 accuracy against training steps", "", "![seed curve](seed-curve.png)", ""]
    lines += ["| probes | steps | stages | suspects | true seed ranked first | accuracy |", "|---|---|---|---|---|---|"]
    for kind, points in report.curve.items():
        for p in points:
            lines.append(f"| {kind} | {p['steps']} | {', '.join(p['stages'])} | {p['suspects']} | {p['top1']} | "
                         f"{100 * p['accuracy']:.0f}% |")
    lines += ["", "## Every suspect", "",
              f"Rank of the true seed among {s['candidates']}; z and log10 p of the true seed and of the best wrong seed; "
              f"detected = true seed's p < {s['alpha']:g}.", "",
              "| suspect | steps | probes | true seed | rank | z true | log10 p true | best wrong seed | z | log10 p | detected |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report.results:
        lines.append(f"| {r.suspect} | {r.steps} | {r.probe} | {r.true_seed} | {r.rank} | {_fmt(r.z_true)} | "
                     f"{_fmt(r.log10_p_true)} | {r.best_wrong_seed} | {_fmt(r.z_best_wrong)} | {_fmt(r.log10_p_best_wrong)} | "
                     f"{'yes' if r.detected else 'no'} |")
    return "\n".join(lines) + "\n"
