"""Do the two-stage scan's verdicts equal the full exact scan's on the zoo identify set?

Takes the zoo's fingerprints as ``seedprints zoo identify`` makes them (cached in ``ZOO/.fingerprints``),
the pretrained and distilled models as registry entries and every other model as a suspect, and for
each suspect compares the Holm and Benjamini-Hochberg verdicts (alpha 0.01) of every entry: the full
exact scan against the two-stage scan, with the 10 strongest of stage 1 always tested in full (as
``identify`` runs it) and with none kept (stage 1 alone decides which entries get the full test).
Lists every verdict that differs. ``--out PAGE.md`` writes the results page.

Run: ``.venv/bin/python bench/bench_scan_zoo.py ZOO [--out PAGE.md]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from seedprints.encoding import rank_fingerprint
from seedprints.options import RunOptions
from seedprints.search.identification import DEFAULT_TOP
from seedprints.search.scan import scan
from seedprints.search.screen import SCREEN_PROBES, make_screen
from seedprints.search.staged_scan import SCREEN_P, staged_scan
from seedprints.stats.multiple import bh_log10, holm_log10
from seedprints.zoo.fingerprinting import fingerprint_zoo
from seedprints.zoo.identify_eval import DEFAULT_CANDIDATE_STAGES

ALPHA = 0.01


def _verdicts(names: list[str], results: dict) -> dict[str, np.ndarray]:
    log10_p = np.array([results[name].log10_p for name in names])
    return {"Holm": holm_log10(log10_p) < np.log10(ALPHA), "BH": bh_log10(log10_p) < np.log10(ALPHA)}


def compare(zoo_dir: Path) -> dict:
    """Per setting (keep 10, keep 0): pairs compared, same-lineage verdicts of the full scan, and the differing ones."""
    zoo = fingerprint_zoo(zoo_dir, ["untrained"], run=RunOptions(device="cpu", batch_size=64))  # the zoo's probes
    fingerprints = zoo.fingerprints["untrained"]
    names = [name for name in zoo.ordered if name in fingerprints]
    candidates = [name for name in names if zoo.entries[name].stage in DEFAULT_CANDIDATE_STAGES]
    entries = {name: rank_fingerprint(fingerprints[name]) for name in candidates}
    screens = {name: make_screen(item) for name, item in entries.items()}
    out = {"suspects": 0, "candidates": len(candidates), "keep": {DEFAULT_TOP: [], 0: []}, "pairs": 0, "full_same": 0,
           "full_entries": {DEFAULT_TOP: 0, 0: 0}}
    for suspect_name in (name for name in names if name not in candidates):
        suspect = rank_fingerprint(fingerprints[suspect_name])
        usable = sorted(name for name, item in entries.items() if item.hidden_ranks.shape == suspect.hidden_ranks.shape)
        if not usable:
            continue
        out["suspects"] += 1
        out["pairs"] += len(usable)
        full = dict(zip(usable, scan(suspect, [entries[name] for name in usable])))
        want = _verdicts(usable, full)
        out["full_same"] += int(want["Holm"].sum())
        for keep in (DEFAULT_TOP, 0):
            staged = staged_scan(suspect, [[(name, screens[name]) for name in usable]],
                                 lambda chosen: ((name, entries[name]) for name in chosen), wanted=set(usable),
                                 alpha=ALPHA, keep=keep)
            out["full_entries"][keep] += sum(1 for r in staged.values() if not r.details.get("screened_out"))
            got = _verdicts(usable, staged)
            for method in want:
                for name, a, b in zip(usable, got[method], want[method]):
                    if a != b:
                        out["keep"][keep].append((suspect_name, name, method, bool(b), full[name].z, staged[name].z))
    return out


def _page(r: dict, command: str) -> str:
    lines = [
        "# Two-stage scan on the zoo identify set",
        "",
        f"Produced by `{command}`. The registry holds the zoo's {r['candidates']} pretrained and distilled models; "
        f"{r['suspects']} other models are suspects ({r['pairs']} suspect-entry pairs; the full exact scan finds "
        f"{r['full_same']} same-lineage after Holm at alpha = {ALPHA}). Stage 1 reads the first {SCREEN_PROBES} of "
        f"the 1000 probes and flags entries with p <= {SCREEN_P}.",
        "",
        "| entries always tested in full | pairs tested in full | verdicts (Holm and BH) that differ from the full scan |",
        "|---|---|---|",
    ]
    for keep, differ in r["keep"].items():
        lines.append(f"| {keep} strongest of stage 1 | {r['full_entries'][keep]} of {r['pairs']} | {len(differ)} |")
    for keep, differ in r["keep"].items():
        for suspect, name, method, full_same, full_z, staged_z in differ:
            lines.append(f"- keep {keep}: {suspect} vs {name} ({method}): full scan says "
                         f"{'same-lineage' if full_same else 'independent'} (z {full_z:.1f}), stage 1 z {staged_z:.1f}")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zoo", type=Path, help="a built zoo with its fingerprint cache")
    parser.add_argument("--out", type=Path, default=None, help="also write the results page (Markdown) here")
    args = parser.parse_args(argv)
    result = compare(args.zoo)
    command = " ".join([".venv/bin/python bench/bench_scan_zoo.py", *(argv if argv is not None else sys.argv[1:])])
    page = _page(result, command)
    if args.out is not None:
        args.out.write_text(page)
    print(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
