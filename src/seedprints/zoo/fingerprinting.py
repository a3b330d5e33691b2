"""Fingerprint every model of a zoo once per kind of probes, reusing the cache under ``ZOO_DIR/.fingerprints``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from seedprints import api
from seedprints import fingerprint as _fpfile
from seedprints.errors import SeedprintsError, UsageError, ZooConfigError
from seedprints.fingerprint import Fingerprint
from seedprints.options import ProbeOptions, RunOptions
from seedprints.probes import ProbeSpec
from seedprints.zoo.manifest import ModelEntry, no_models_error, scan_zoo
from seedprints.zoo.results import FailedModel, one_line
from seedprints.zoo.truth import lineage_order

__all__ = ["FINGERPRINT_CACHE", "ZOO_PROBES", "ZooFingerprints", "cached_fingerprint", "check_sizes", "fingerprint_zoo",
           "probe_spec", "probe_words", "require_evaluated", "run_words", "say_nothing"]

FINGERPRINT_CACHE = ".fingerprints"
ZOO_PROBES = ProbeOptions(n=1000, length=64)
"""The zoo's probe settings unless told otherwise: its models have 128 to 256 positions, and every results page was
measured with these (the kind is chosen per run)."""
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def _weights_mtime(model_dir: Path) -> int:
    """Newest modification time (ns) of the weights and config of a model directory."""
    times = [
        p.stat().st_mtime_ns
        for p in model_dir.iterdir()
        if p.is_file() and (p.name == "config.json" or p.name.endswith(_WEIGHT_SUFFIXES))
    ]
    return max(times, default=0)


def cached_fingerprint(path: Path, model_dir: Path, spec: ProbeSpec) -> Fingerprint | None:
    """The cached fingerprint when it exists, is newer than the weights and has the expected probes."""
    try:
        if not path.is_file() or path.stat().st_mtime_ns <= _weights_mtime(model_dir):
            return None
        fp = _fpfile.load(path)
    except (OSError, SeedprintsError):
        return None
    return fp if fp.spec == spec else None


def probe_spec(options: ProbeOptions, model_dirs: list[Path], vocab_sizes: list[int], hidden_size: int) -> ProbeSpec:
    """The spec of one probe kind for the zoo's models of one width; untrained probes from their vocabularies."""
    if options.draws_token_ids and not vocab_sizes:
        raise UsageError("no zoo model gives a vocab_size in its config.json; token probes need one")
    if options.reads_tokenizer:
        return api.resolve_probes(models=model_dirs, options=options).spec
    return options.spec_for(vocab_sizes, hidden_size)  # token ids below the smallest vocabulary of the whole zoo


def check_sizes(probes: ProbeOptions, run: RunOptions) -> None:
    """UsageError for a non-positive N, length or batch size, before any model is read."""
    if probes.n < 1 or probes.length < 1 or (run.batch_size is not None and run.batch_size < 1):
        raise UsageError(f"n, length and batch_size must be positive (got {probes.n}, {probes.length}, {run.batch_size})")


def probe_words(probes: ProbeOptions) -> list[str]:
    """The flags that give ``probes`` on a zoo verb's command line, so a results page names the run that made it."""
    words = ["--n", str(probes.n), "--length", str(probes.length), "--probe-seed", str(probes.seed)]
    return words + (["--rare-tokens", str(probes.rare_tokens)] if probes.rare_tokens is not None else [])


def run_words(run: RunOptions) -> list[str]:
    """The flags that give ``run`` on a zoo verb's command line: the device, and the batch size where one was set."""
    return ["--device", run.device] + (["--batch-size", str(run.batch_size)] if run.batch_size is not None else [])


def say_nothing(_message: str) -> None:
    """The default ``say``: progress lines go nowhere."""
    return None


@dataclasses.dataclass
class ZooFingerprints:
    """Every zoo model's fingerprints, one shared probe spec per (probe kind, hidden size)."""

    entries: dict[str, ModelEntry]
    shapes: dict[str, tuple[int, int | None]]
    specs: dict[tuple[str, int], ProbeSpec]
    fingerprints: dict[str, dict[str, Fingerprint]]  # probe kind -> model name -> fingerprint
    model_info: dict[str, dict[str, Any]]
    failed: list[FailedModel]
    ordered: list[str]  # loadable models, lineage by lineage


def fingerprint_zoo(
    zoo_dir: str | Path,
    kinds: Sequence[str],
    *,
    probes: ProbeOptions = ZOO_PROBES,
    run: RunOptions = RunOptions(),
    say: Callable[[str], Any] | None = None,
) -> ZooFingerprints:
    """Fingerprint every model of a zoo with each probe kind, reusing ``zoo_dir/.fingerprints``.

    ``probes`` gives N, length, seed and untrained tokens of every kind's probes (its own kind is not read); ``run``
    how the models run. A model that fails is recorded in ``failed`` and left out of the fingerprints of that kind;
    the untrained-token spec of each width comes from the vocabularies of the zoo's models of that width (their
    configs and tokenizers).
    """
    if probes.probe_file is not None:
        raise UsageError("the zoo generates its probes of each kind; drop probe_file")
    say = say or say_nothing
    zoo_dir = Path(zoo_dir)
    found, scan_failed = scan_zoo(zoo_dir)
    if not found:
        raise no_models_error(zoo_dir, scan_failed)
    failed = [FailedModel(p.name, str(p), msg) for p, msg in scan_failed]
    entries: dict[str, ModelEntry] = {}
    dirs: dict[str, Path] = {}
    shapes: dict[str, tuple[int, int | None]] = {}
    from seedprints.zoo.model_access import read_model_shape

    first_dir: dict[str, Path] = {}
    for path, entry in found:
        if entry.name in first_dir:
            failed.append(FailedModel(entry.name, str(path), f"duplicate model name {entry.name!r} (also {first_dir[entry.name]})"))
            continue
        first_dir[entry.name] = path
        entries[entry.name] = entry
        try:
            shapes[entry.name] = read_model_shape(path)
        except Exception as exc:  # noqa: BLE001 - any failure of one model is recorded, the eval goes on
            failed.append(FailedModel(entry.name, str(path), one_line(exc)))
            continue
        dirs[entry.name] = path

    vocab_sizes = [v for _, v in shapes.values() if v]
    ordered = sorted(dirs, key=lambda name: lineage_order(entries[name]))
    specs: dict[tuple[str, int], ProbeSpec] = {}
    for probe_kind in sorted(set(kinds)):
        for hidden, _ in shapes.values():
            if (probe_kind, hidden) not in specs:
                same_width = [dirs[name] for name in ordered if name in dirs and shapes[name][0] == hidden]
                options = dataclasses.replace(probes, kind=probe_kind)
                specs[probe_kind, hidden] = probe_spec(options, same_width, vocab_sizes, hidden)
    cache_dir = zoo_dir / FINGERPRINT_CACHE
    by_kind: dict[str, dict[str, Fingerprint]] = {k: {} for k in kinds}
    model_info: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(ordered, 1):
        path = dirs[name]
        model_info[name] = {**entries[name].to_dict(), "path": str(path), "hidden_size": shapes[name][0],
                            "fingerprints": {}, "cached": True}
        for probe_kind, fingerprints in by_kind.items():
            spec = specs[probe_kind, shapes[name][0]]
            cache = cache_dir / f"{name}-{spec.hash}.safetensors"
            fp = cached_fingerprint(cache, path, spec)
            cached = fp is not None
            if fp is None:
                say(f"fingerprinting {i}/{len(ordered)}: {name} ({probe_kind} probes)")
                try:
                    fp = api.fingerprint_model(path, spec, run=run)
                except Exception as exc:  # noqa: BLE001 - seedprints and transformers errors alike
                    failed.append(FailedModel(name, str(path), one_line(exc)))
                    say(f"  failed: {one_line(exc)}")
                    break
                try:
                    cache_dir.mkdir(exist_ok=True)
                    _fpfile.save(fp, cache)
                except (OSError, SeedprintsError) as exc:  # the cache is an optimisation: go on without it
                    say(f"  cannot cache the fingerprint ({one_line(exc)})")
            else:
                say(f"fingerprint {i}/{len(ordered)}: {name} ({probe_kind} probes, cached)")
            fingerprints[name] = fp
            model_info[name]["fingerprints"][probe_kind] = str(cache)
            model_info[name]["cached"] &= cached
    return ZooFingerprints(entries, shapes, specs, by_kind, model_info, failed, ordered)


def require_evaluated(zoo_dir: Path, names: Sequence[str], failed: Sequence[FailedModel]) -> None:
    """ZooConfigError when no model of the zoo could be fingerprinted: a results page of nothing is no result."""
    if not names:
        first = min(failed, key=lambda f: f.name)
        raise ZooConfigError(f"none of the {len(failed)} models of {zoo_dir} could be evaluated; first failure: "
                             f"{first.name}: {first.message}")
