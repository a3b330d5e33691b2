"""Does the fast extraction path give the plain path's fingerprints and verdicts on the zoo?

Every model of a zoo built by ``seedprints zoo build`` (or a lineage-balanced subset of ``--limit``
models) is fingerprinted on the zoo eval's shared untrained-token probes (one spec per width, picked by the
first pretrained model of that width, as ``seedprints zoo eval`` does) three ways, in one run:

- fast: :func:`seedprints.model.forward.extract_hidden_states` as shipped (inner model, SDPA, the last
  layer on the last position only), logits by :func:`seedprints.api.output_logits`;
- plain: the same with ``last_position_only=False`` (every position through every layer);
- reference: what the paper's code does, a plain transformers forward of the whole causal LM in
  float32 with ``output_hidden_states=True``, the last hidden state and the LM head's logits at the
  last position.

Prints, per comparison (fast vs plain, fast vs reference), the largest absolute difference of hidden
states and of untrained-token logits over models, and the same relative to the largest absolute value of
that model's matrix; then the default lineage test (``METHODS["lineage"]``) on every pair of equal
width, oriented as the zoo eval orients it: verdicts that agree / pairs, and the largest
``|delta log10 p| / max(|log10 p|, 1)`` (the floor of 1 keeps pairs with p near 1 from dividing by
zero: there it is the plain difference). Time ratios plain/fast and reference/fast (forward passes
and logits only, not loading) come from the same run. Nothing is written into the zoo.

Run: ``.venv/bin/python bench/bench_fastpath_zoo.py ZOO_DIR [--n 1000] [--length 64] [--limit K]
[--dtype auto] [--out docs/fastpath-zoo.md] [--json]``
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import transformers

from seedprints import api
from seedprints.model import fastpath
from seedprints.model.fit import read_model_shape
from seedprints.model.forward import extract_hidden_states
from seedprints.model.load import load_model
from seedprints.output_paths import write_atomic
from seedprints.probes import ProbeSpec, generated
from seedprints.stats.methods import METHODS
from seedprints.stats.result import LineageResult
from seedprints.zoo.fingerprinting import probe_spec
from seedprints.zoo.manifest import ModelEntry, scan_zoo
from seedprints.zoo.truth import classify_pair, lineage_order

PATHS = ("fast", "plain", "reference")
COMPARED = ("plain", "reference")  # each against the fast path


@dataclasses.dataclass(frozen=True)
class Features:
    """What the lineage test reads from a fingerprint: hidden states ``[N, d]``, untrained-token logits ``[N, m]``,
    and the probe spec that certifies those tokens untrained."""

    hidden: np.ndarray
    logits: np.ndarray
    spec: ProbeSpec


def zoo_models(zoo_dir: Path) -> tuple[dict[str, ModelEntry], dict[str, Path], list[str]]:
    """Manifests and directories of the zoo's models, names in the zoo eval's lineage order."""
    found, failed = scan_zoo(zoo_dir)
    if failed:
        print(f"skipping {len(failed)} directories with a bad manifest", file=sys.stderr)
    entries = {entry.name: entry for _, entry in found}
    dirs = {entry.name: path for path, entry in found}
    return entries, dirs, sorted(entries, key=lambda name: lineage_order(entries[name]))


def balanced_subset(ordered: list[str], entries: dict[str, ModelEntry], limit: int | None) -> list[str]:
    """``limit`` models spread over lineages: picks dealt round-robin to lineage groups, each group's spread evenly."""
    if limit is None or limit >= len(ordered):
        return ordered
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in ordered:
        groups.setdefault(tuple(sorted(entries[name].lineages)), []).append(name)
    counts = dict.fromkeys(groups, 0)
    for key in itertools.islice(itertools.cycle(groups), 10 * len(ordered)):
        if sum(counts.values()) == limit:
            break
        counts[key] += counts[key] < len(groups[key])
    chosen = set()
    for key, members in groups.items():
        if counts[key]:
            chosen.update(members[int(i)] for i in np.unique(np.linspace(0, len(members) - 1, counts[key]).round()))
    return [name for name in ordered if name in chosen]


def shared_specs(dirs: dict[str, Path], ordered: list[str], *, n: int, length: int,
                 seed: int) -> dict[str, ProbeSpec]:
    """The zoo eval's untrained-token spec of each model's width (from the whole zoo, whatever ``--limit``)."""
    shapes = {name: read_model_shape(dirs[name]) for name in ordered}
    vocab_sizes = [v for _, v in shapes.values() if v]
    options = api.ProbeOptions(n=n, length=length, seed=seed)
    by_width: dict[int, ProbeSpec] = {}
    for hidden in sorted({h for h, _ in shapes.values()}):
        same_width = [dirs[name] for name in ordered if shapes[name][0] == hidden]
        by_width[hidden] = probe_spec(options, same_width, vocab_sizes, hidden)
    return {name: by_width[shapes[name][0]] for name in ordered}


def seedprints_path(model_dir: Path, spec: ProbeSpec, *, fast: bool, dtype: str, batch_size: int) -> tuple[Features, float]:
    """Fingerprint through seedprints' extraction, with or without the last-position-only last layer; seconds of work."""
    loaded = load_model(model_dir, dtype=dtype)
    start = time.perf_counter()
    hidden = extract_hidden_states(loaded, generated(spec), batch_size=batch_size, last_position_only=fast)
    logits = api.output_logits(loaded, hidden, spec.output_tokens)
    return Features(hidden, logits, spec), time.perf_counter() - start


def reference_path(model_dir: Path, spec: ProbeSpec, *, batch_size: int) -> tuple[Features, float]:
    """The paper code's way: the whole causal LM in float32 with every hidden state returned; seconds of work."""
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    probes = generated(spec)
    tokens = torch.as_tensor(spec.output_tokens)
    hidden, logits = [], []
    start = time.perf_counter()
    with fastpath.cpu_threads(torch.device("cpu")), torch.inference_mode():
        for first in range(0, spec.n, batch_size):
            ids = torch.from_numpy(np.stack(probes.token_ids(first, min(first + batch_size, spec.n))).astype(np.int64))
            out = model(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True)
            hidden.append(out.hidden_states[-1][:, -1].float().numpy())
            logits.append(out.logits[:, -1, tokens].float().numpy())
    return Features(np.concatenate(hidden), np.concatenate(logits), spec), time.perf_counter() - start


def differences(fast: Features, other: Features) -> dict[str, float]:
    """Largest absolute difference of hidden states and logits, and each over the largest |value| of ``other``."""
    out = {}
    for part in ("hidden", "logits"):
        a, b = getattr(fast, part).astype(np.float64), getattr(other, part).astype(np.float64)
        diff = float(np.abs(a - b).max())
        out[f"{part}_abs"], out[f"{part}_rel"] = diff, diff / float(np.abs(b).max())
    return out


def fingerprint_all(names: list[str], dirs: dict[str, Path], specs: dict[str, ProbeSpec], *, dtype: str,
                    batch_size: int) -> tuple[dict[str, dict[str, Features]], dict[str, float]]:
    """Features of every model by each path, and the seconds each path spent; the order of paths rotates per model."""
    features: dict[str, dict[str, Features]] = {path: {} for path in PATHS}
    seconds = dict.fromkeys(PATHS, 0.0)
    runs = {
        "fast": lambda d, s: seedprints_path(d, s, fast=True, dtype=dtype, batch_size=batch_size),
        "plain": lambda d, s: seedprints_path(d, s, fast=False, dtype=dtype, batch_size=batch_size),
        "reference": lambda d, s: reference_path(d, s, batch_size=batch_size),
    }
    for i, name in enumerate(names):
        print(f"[{i + 1}/{len(names)}] {name}", file=sys.stderr)
        for path in PATHS[i % 3:] + PATHS[: i % 3]:  # so that load from other processes hits every path alike
            features[path][name], spent = runs[path](dirs[name], specs[name])
            seconds[path] += spent
    return features, seconds


def lineage(ref: Features, suspect: Features, alpha: float) -> LineageResult:
    """The default lineage test, its warnings silenced (they do not depend on the path)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return METHODS["lineage"](ref, suspect, alpha=alpha)


def verdicts(features: dict[str, dict[str, Features]], names: list[str], entries: dict[str, ModelEntry],
             specs: dict[str, ProbeSpec], alpha: float) -> dict[str, dict[str, float]]:
    """For each other path: pairs whose verdict agrees with the fast path's, pairs, and the largest log10 p changes."""
    out = {other: {"agree": 0, "pairs": 0, "max_rel_dlog10p": 0.0, "max_abs_dlog10p": 0.0} for other in COMPARED}
    memo: dict = {}
    for a, b in itertools.combinations(names, 2):
        if specs[a].hash != specs[b].hash:
            continue  # another width: the zoo eval does not test it either
        truth = classify_pair(entries[a], entries[b], entries, _memo=memo)
        fast = lineage(features["fast"][truth.ref], features["fast"][truth.suspect], alpha)
        for other in COMPARED:
            result = lineage(features[other][truth.ref], features[other][truth.suspect], alpha)
            delta = abs(fast.log10_p - result.log10_p)
            row = out[other]
            row["pairs"] += 1
            row["agree"] += fast.verdict == result.verdict
            row["max_abs_dlog10p"] = max(row["max_abs_dlog10p"], delta)
            row["max_rel_dlog10p"] = max(row["max_rel_dlog10p"], delta / max(abs(result.log10_p), 1.0))
    return out


def measure(zoo_dir: Path, *, n: int, length: int, seed: int, limit: int | None, dtype: str, batch_size: int,
            alpha: float) -> dict:
    """Fingerprint the chosen models three ways, compare them, and test every pair: the whole result as plain types."""
    entries, dirs, ordered = zoo_models(zoo_dir)
    specs = shared_specs(dirs, ordered, n=n, length=length, seed=seed)
    names = balanced_subset(ordered, entries, limit)
    features, seconds = fingerprint_all(names, dirs, specs, dtype=dtype, batch_size=batch_size)
    per_model = {
        name: {other: differences(features["fast"][name], features[other][name]) for other in COMPARED} for name in names
    }
    summary = {
        other: {key: max(per_model[name][other][key] for name in names) for key in per_model[names[0]][other]}
        for other in COMPARED
    }
    return {
        "zoo": str(zoo_dir), "models": len(names), "zoo_models": len(ordered), "names": names, "n": n, "length": length,
        "probe_hashes": sorted({specs[name].hash for name in names}), "dtype": dtype, "batch_size": batch_size,
        "alpha": alpha, "cores": fastpath.available_cores(),
        "time_ratio": {other: seconds[other] / seconds["fast"] for other in COMPARED},
        "max_difference": summary, "per_model": per_model,
        "verdicts": verdicts(features, names, entries, specs, alpha),
    }


def report_lines(result: dict) -> list[str]:
    """The plain-text report: subset, differences, verdict agreement and time ratios."""
    subset = (f"all {result['models']} models" if result["models"] == result["zoo_models"]
              else f"a lineage-balanced subset of {result['models']} of {result['zoo_models']} models (--limit)")
    lines = [
        f"Zoo {result['zoo']}: {subset}; untrained-token probes N={result['n']}, L={result['length']} "
        f"(spec {', '.join(result['probe_hashes'])}), fast and plain paths in dtype {result['dtype']}, "
        f"{result['cores']} cores.",
    ]
    names = {"plain": "plain path (last_position_only=False)",
             "reference": "reference (transformers causal LM, fp32, output_hidden_states)"}
    for other in COMPARED:
        diff, verdict = result["max_difference"][other], result["verdicts"][other]
        lines += [
            f"fast vs {names[other]}:",
            f"  hidden states: max |difference| {diff['hidden_abs']:.2e}, relative to max |value| {diff['hidden_rel']:.2e}",
            f"  untrained-token logits: max |difference| {diff['logits_abs']:.2e}, relative to max |value| "
            f"{diff['logits_rel']:.2e}",
            f"  lineage verdicts at alpha={result['alpha']:g}: {verdict['agree']}/{verdict['pairs']} pairs agree; "
            f"max |delta log10 p| / max(|log10 p|, 1) = {verdict['max_rel_dlog10p']:.2e} "
            f"(max |delta log10 p| {verdict['max_abs_dlog10p']:.2e})",
            f"  time {other}/fast = {result['time_ratio'][other]:.2f} (forward passes and logits, same run)",
        ]
    return lines


def markdown(result: dict, command: str) -> str:
    """``docs/fastpath-zoo.md``: the report, the per-model table and the command that produced it."""
    rows = [
        "| model | hidden vs plain (abs / rel) | logits vs plain (abs / rel) | hidden vs reference (abs / rel) "
        "| logits vs reference (abs / rel) |",
        "|---|---|---|---|---|",
    ]
    for name, per in result["per_model"].items():
        cells = [f"{per[o][p + '_abs']:.1e} / {per[o][p + '_rel']:.1e}" for o in COMPARED for p in ("hidden", "logits")]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join([
        "# Fast extraction path against the plain path on the zoo",
        "",
        f"Written by `{command}`; every number below comes from that one run.",
        "",
        "```",
        *report_lines(result),
        "```",
        "",
        "Per model (the fast path against each other path):",
        "",
        *rows,
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zoo_dir", type=Path, help="a zoo built by `seedprints zoo build` (read only)")
    parser.add_argument("--n", type=int, default=1000, help="probes (the zoo eval's default)")
    parser.add_argument("--length", type=int, default=64, help="tokens per probe (the zoo eval's default)")
    parser.add_argument("--probe-seed", type=int, default=42)
    parser.add_argument("--limit", type=int, default=None, help="fingerprint a lineage-balanced subset of K models")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"],
                        help="dtype of the fast and plain paths (the reference is always float32)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--out", type=Path, help="also write this markdown report (e.g. docs/fastpath-zoo.md)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 2:
        parser.error("--limit needs at least 2 models to form a pair")
    result = measure(args.zoo_dir, n=args.n, length=args.length, seed=args.probe_seed, limit=args.limit,
                     dtype=args.dtype, batch_size=args.batch_size, alpha=args.alpha)
    if args.out is not None:
        words = sys.argv[1:] if argv is None else argv
        command = " ".join(shlex.quote(w) for w in [".venv/bin/python", "bench/bench_fastpath_zoo.py", *words])
        write_atomic(args.out, markdown(result, command).encode())
    print(json.dumps(result, indent=1) if args.json else "\n".join(report_lines(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
