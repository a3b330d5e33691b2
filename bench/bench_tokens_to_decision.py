"""Probe tokens to a decision with early stopping, against the fixed budget, on every pair of a zoo.

Reads the zoo's cached default-probe fingerprints (``ZOO_DIR/.fingerprints``, written by
``seedprints zoo eval``), forms every pair of models with the same probes and labels it as
``seedprints zoo eval`` does (:func:`seedprints.zoo.truth.classify_pair`), and runs on each pair
both the fixed-budget default test (all N probes) and the sequential test on row prefixes (the
looks extraction in rounds would take: row i of a probe spec does not depend on N). Prints the
false-positive rate over independent pairs with its 95% Clopper-Pearson interval, the detection
rate, and the median probe tokens to decision per category as a ratio to the fixed budget; all
numbers come from this one run.

Run: ``.venv/bin/python bench/bench_tokens_to_decision.py ZOO_DIR [--alpha 0.01] [--futility-margin 2] [--json]``
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from seedprints import fingerprint as _fpfile
from seedprints.probes import ProbeSpec
from seedprints.stats.lineage import scores_lineage_test, standardized_ranks
from seedprints.stats.result import LineageResult
from seedprints.stats.sequential import DEFAULT_FUTILITY_MARGIN, SequentialDesign, run_sequential
from seedprints.zoo.fingerprinting import FINGERPRINT_CACHE
from seedprints.zoo.metrics import clopper_pearson
from seedprints.zoo.manifest import scan_zoo
from seedprints.zoo.truth import INDEPENDENT_CATEGORIES, classify_pair

SAME = "same-lineage"
FINE_TUNES = ("finetune", "init→finetune")


def _default_fingerprints(zoo_dir: Path) -> dict[str, _fpfile.Fingerprint]:
    """The zoo's cached fingerprints on untrained-token probes (the default test's), by model name.

    The cache may hold several such specs (other runs, other N); the one most models share is used.
    """
    entries = {entry.name: entry for _, entry in scan_zoo(zoo_dir)[0]}
    by_spec: dict[str, dict[str, Path]] = {}
    for path in sorted((zoo_dir / FINGERPRINT_CACHE).glob("*.safetensors")):
        match = re.fullmatch(r"(.+)-([0-9a-f]{16})\.safetensors", path.name)
        if match and match.group(1) in entries and ProbeSpec.from_json(
                _fpfile.read_header(path)["probe_spec"]).scores_untrained_logits:
            by_spec.setdefault(match.group(2), {})[match.group(1)] = path
    if not by_spec:
        return {}
    chosen = max(by_spec.values(), key=len)
    return {name: _fpfile.load(path) for name, path in chosen.items()}


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def _group(rows: list[dict], budget_tokens: int) -> dict:
    tokens = [r["tokens"] for r in rows]
    median = _median(tokens)
    return {
        "pairs": len(rows),
        "fixed_positive": sum(r["fixed"] == SAME for r in rows),
        "sequential_positive": sum(r["sequential"] == SAME for r in rows),
        "median_tokens": median,
        "ratio": median / budget_tokens if median is not None else None,
        "stops": {s: sum(r["stop"] == s for r in rows) for s in ("same-lineage", "futility", "budget")},
    }


def _prefix_scores(fp: _fpfile.Fingerprint, looks: tuple[int, ...]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Standardised ranks of the first n rows of hidden states and logits, for every look n (each model once)."""
    return {n: (standardized_ranks(fp.hidden[:n].astype(np.float64)), standardized_ranks(fp.logits[:n].astype(np.float64)))
            for n in looks}


def _look(ref: tuple[np.ndarray, np.ndarray], sus: tuple[np.ndarray, np.ndarray], alpha: float) -> LineageResult:
    """The default test on one look: identical to ``lineage_test`` on the row prefixes (ranks computed once per model)."""
    return scores_lineage_test((ref[0], sus[0]), (ref[1], sus[1]), alpha, n_permutations=0, seed=0)


def measure(zoo_dir: Path, alpha: float, futility_margin: float | None) -> dict:
    """Run both tests on every pair; return per-pair rows and the summaries."""
    entries = {entry.name: entry for _, entry in scan_zoo(zoo_dir)[0]}
    fps = _default_fingerprints(zoo_dir)
    names = sorted(fps)
    designs = {fp.n: SequentialDesign.doubling(fp.n, alpha, futility_margin=futility_margin) for fp in fps.values()}
    scores = {name: _prefix_scores(fp, designs[fp.n].looks) for name, fp in fps.items()}
    rows = []
    budget_tokens = None
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if fps[a].spec != fps[b].spec or fps[a].hidden_size != fps[b].hidden_size:
                continue
            truth = classify_pair(entries[a], entries[b], entries)
            ref, sus = scores[truth.ref], scores[truth.suspect]
            design = designs[fps[a].n]
            fixed = _look(ref[design.budget], sus[design.budget], alpha)
            seq = run_sequential(design, lambda n: _look(ref[n], sus[n], alpha), length=fps[a].spec.length)
            info = seq.details["sequential"]
            budget_tokens = info["budget_tokens"]
            rows.append({"ref": truth.ref, "suspect": truth.suspect, "truth": truth.truth, "category": truth.category,
                         "fixed": fixed.verdict, "sequential": seq.verdict, "stop": info["stop"],
                         "probes": info["probes"], "tokens": info["probe_tokens"]})
    if not rows:
        raise SystemExit(f"no pairs of cached default-probe fingerprints under {zoo_dir / FINGERPRINT_CACHE}; "
                         f"run `seedprints zoo eval {zoo_dir} --out OUT` first")
    indep = [r for r in rows if r["truth"] != SAME]
    same = [r for r in rows if r["truth"] == SAME]
    categories = sorted({r["category"] for r in rows}, key=lambda c: (c in INDEPENDENT_CATEGORIES, c))
    fp_seq = sum(r["sequential"] == SAME for r in indep)
    fp_fixed = sum(r["fixed"] == SAME for r in indep)
    return {
        "zoo_dir": str(zoo_dir), "alpha": alpha, "futility_margin": futility_margin,
        "design": SequentialDesign.doubling(fps[names[0]].n, alpha, futility_margin=futility_margin).to_dict(),
        "probe_length": fps[names[0]].spec.length, "budget_probes": fps[names[0]].n, "budget_tokens": budget_tokens,
        "false_positive": {"sequential": fp_seq, "fixed": fp_fixed, "pairs": len(indep),
                           "sequential_ci": clopper_pearson(fp_seq, len(indep)),
                           "fixed_ci": clopper_pearson(fp_fixed, len(indep))},
        "same_lineage": _group(same, budget_tokens),
        "independent": _group(indep, budget_tokens),
        "fine_tunes": _group([r for r in rows if r["category"] in FINE_TUNES], budget_tokens),
        "categories": {c: _group([r for r in rows if r["category"] == c], budget_tokens) for c in categories},
        "pairs": rows,
    }


def _pct(k: int, n: int) -> str:
    return f"{100 * k / n:.1f}%" if n else "n/a"


def _print(report: dict) -> None:
    fp = report["false_positive"]
    lo, hi = fp["sequential_ci"]
    flo, fhi = fp["fixed_ci"]
    print(f"zoo {report['zoo_dir']}: budget {report['budget_probes']} probes x {report['probe_length']} tokens "
          f"= {report['budget_tokens']} probe tokens per model; alpha {report['alpha']}; looks {report['design']['looks']}; "
          f"futility margin {report['futility_margin']}")
    print(f"false-positive rate over {fp['pairs']} independent pairs: sequential {_pct(fp['sequential'], fp['pairs'])} "
          f"(95% CI [{100 * lo:.2f}%, {100 * hi:.2f}%]), fixed budget {_pct(fp['fixed'], fp['pairs'])} "
          f"(95% CI [{100 * flo:.2f}%, {100 * fhi:.2f}%])")
    header = f"{'category':44s} {'pairs':>5s} {'fixed':>7s} {'seq.':>7s} {'median tokens':>13s} {'ratio':>6s}  stops (same/futility/budget)"
    print(header)
    groups = [("ALL same-lineage", report["same_lineage"]), ("ALL independent", report["independent"]),
              ("fine-tunes (finetune, init→finetune)", report["fine_tunes"])] + list(report["categories"].items())
    for name, g in groups:
        stops = g["stops"]
        print(f"{name:44s} {g['pairs']:5d} {_pct(g['fixed_positive'], g['pairs']):>7s} "
              f"{_pct(g['sequential_positive'], g['pairs']):>7s} {g['median_tokens']:13.0f} {g['ratio']:6.3f}  "
              f"{stops['same-lineage']}/{stops['futility']}/{stops['budget']}")
    print("(fixed / seq. = share of pairs called same-lineage: detection for same-lineage rows, false positives for "
          "independent ones; ratio = median probe tokens to decision / fixed budget)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zoo_dir", type=Path)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--futility-margin", type=float, default=DEFAULT_FUTILITY_MARGIN,
                        help="negative: no futility stopping")
    parser.add_argument("--json", action="store_true", help="print one JSON object (with every pair) instead")
    args = parser.parse_args(argv)
    margin = args.futility_margin if args.futility_margin >= 0 else None
    report = measure(args.zoo_dir, args.alpha, margin)
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        print()
    else:
        _print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
