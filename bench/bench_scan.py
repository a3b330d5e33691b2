"""Time a registry scan: the two-stage scan against the full exact scan and the pre-change engine, in one run.

Builds synthetic ranked fingerprints (N probes, d hidden dimensions, m=128 untrained-token logits,
fixed seed): K registry entries, each stored as its compact encoding and its stage-1 data. Some are
relatives of the suspect's parent at growing noise (the first one the parent itself plus noise), the
rest unrelated. Then times
- stage 1: every entry's exact test on its first 128 probes, from its stored stage-1 bytes;
- stage 2: decode and fully test the entries stage 1 flags (plus the 10 strongest, as ``identify`` does), each
  pair in the cheaper exact form (probe Gram matrices when N < 2 d, else the d x d correlation matrix);
- the full exact scan: the full test of every entry, already decoded, forming each d x d correlation matrix;
- the pre-change engine: decode and that full test of every entry (``identify`` before the two stages).
Checks that the Holm and Benjamini-Hochberg verdicts of the two-stage scan equal the full scan's, and
projects 10,000 entries: stage 1 per entry times 10,000, plus stage 2 on the entries it would send there
(the relatives and the screen's level times the unrelated ones, or the kept 10 when that is more).

It also measures stage 1's power against the full test: relatives at each noise level, their full z,
how often the full test reaches the level Holm needs for the top candidate of 10,000 entries, and how
often stage 1 flags them. ``--out PAGE.md`` writes the results page (docs/registry-scan.md).

Run: ``.venv/bin/python bench/bench_scan.py [--entries K] [--d D ...] [--n N] [--power-repeats R] [--json] [--out PAGE.md]``
Its last line is ``projected 10000 entries: X s; verdicts identical: yes|no``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from seedprints.encoding import RankedFingerprint, decode, encode, encoded_size, rank_fingerprint
from seedprints.fingerprint import Fingerprint
from seedprints.search.identification import DEFAULT_TOP
from seedprints.probes import ProbeSpec
from seedprints.search.scan import scan
from seedprints.search.screen import SCREEN_PROBES, decode_screen, encode_screen, make_screen, screen_tests
from seedprints.search.staged_scan import SCREEN_P, flagged
from seedprints.stats.multiple import bh_log10, holm_log10

M_LOGITS, SEED, PROJECTED_ENTRIES, ALPHA, PAGE = 128, 0, 10_000, 0.01, 256
RELATIVE_NOISE = (3.0, 10.0, 20.0)  # noise sd of each relative over the parent's unit-variance states
POWER_NOISE = (10.0, 20.0, 30.0, 40.0, 60.0)


def _spec(n: int) -> ProbeSpec:
    return ProbeSpec(kind="token", n=n, length=512, vocab_bound=33000, input_tokens=tuple(range(32000, 32000 + 2 * M_LOGITS, 2)),
                     output_tokens=tuple(range(32001, 32001 + 2 * M_LOGITS, 2)), untrained_from=32000)


def _random_ranks(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """Each column an independent random permutation of 0..n-1 (min-ranks of an unrelated model)."""
    return rng.permuted(np.broadcast_to(np.arange(n, dtype=np.int32)[:, None], (n, width)), axis=0)


class _Family:
    """A parent model's states and logits; relatives are the parent plus independent noise."""

    def __init__(self, rng: np.random.Generator, n: int, d: int) -> None:
        self.rng, self.spec = rng, _spec(n)
        self.hidden = rng.standard_normal((n, d), dtype=np.float32)
        self.logits = rng.standard_normal((n, M_LOGITS), dtype=np.float32)

    def relative(self, noise: float, name: str) -> RankedFingerprint:
        h = self.hidden + np.float32(noise) * self.rng.standard_normal(self.hidden.shape, dtype=np.float32)
        lg = self.logits + np.float32(noise) * self.rng.standard_normal(self.logits.shape, dtype=np.float32)
        return rank_fingerprint(Fingerprint(hidden=h, spec=self.spec, model_id=name, logits=lg))


def _registry(rng: np.random.Generator, entries: int, n: int, d: int) -> tuple[RankedFingerprint, list[str], list[bytes], list[bytes]]:
    """The suspect (a noisy copy of the parent), the entries' names, encodings and stage-1 bytes."""
    family = _Family(rng, n, d)
    suspect = family.relative(1.0, "suspect")
    names, blobs, screens = [], [], []
    for i in range(entries):
        if i < len(RELATIVE_NOISE):
            item = family.relative(RELATIVE_NOISE[i], f"relative-{i}")
        else:
            item = RankedFingerprint(spec=family.spec, model_id=f"unrelated-{i}", metadata={},
                                     hidden_ranks=_random_ranks(rng, n, d), logit_ranks=_random_ranks(rng, n, M_LOGITS))
        names.append(f"{i:06d}")
        blobs.append(encode(item))
        screens.append(encode_screen(make_screen(item)))
    return suspect, names, blobs, screens


def _stage1(suspect: RankedFingerprint, names: list[str], screens: list[bytes]) -> dict:
    """Stage-1 results by name, a page of stored stage-1 bytes at a time (as a registry serves them)."""
    mine = make_screen(suspect)
    out = {}
    for start in range(0, len(names), PAGE):
        page = [decode_screen(blob) for blob in screens[start:start + PAGE]]
        out.update(zip(names[start:start + PAGE], screen_tests(mine, page, vocab=True, alpha=ALPHA)))
    return out


def _verdicts(names: list[str], log10_p: dict[str, float]) -> tuple[list[bool], list[bool]]:
    values = np.array([log10_p[name] for name in names])
    level = np.log10(ALPHA)
    return list(holm_log10(values) < level), list(bh_log10(values) < level)


def _power(rng: np.random.Generator, n: int, d: int, repeats: int) -> list[dict[str, float]]:
    """Per noise level: mean full z, how often the full test reaches Holm's first level at 10,000 entries, how
    often stage 1 flags the relative, and how often it flags one the full test finds."""
    family = _Family(rng, n, d)
    suspect = family.relative(1.0, "suspect")
    mine = make_screen(suspect)
    need = np.log10(ALPHA / PROJECTED_ENTRIES)
    rows = []
    for noise in POWER_NOISE:
        items = [family.relative(noise, f"r{k}") for k in range(repeats)]
        full = scan(suspect, items)
        first = screen_tests(mine, [make_screen(item) for item in items], vocab=True, alpha=ALPHA)
        found = [r.log10_p < need for r in full]
        flags = [r.log10_p <= np.log10(SCREEN_P) for r in first]
        rows.append({"noise": noise, "full_z": float(np.mean([r.z for r in full])), "stage1_z": float(np.mean([r.z for r in first])),
                     "full_finds": float(np.mean(found)), "stage1_flags": float(np.mean(flags)),
                     "flagged_of_found": float(np.mean([f for f, g in zip(flags, found) if g])) if any(found) else float("nan")})
    return rows


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _full_scan(suspect: RankedFingerprint, blobs: list[bytes]) -> tuple[list, float]:
    """The full test of every entry, timing only the tests (entries decoded a batch at a time beforehand)."""
    results, seconds = [], 0.0
    for start in range(0, len(blobs), 8):
        batch = [decode(blob) for blob in blobs[start:start + 8]]
        part, took = _timed(lambda batch=batch: scan(suspect, batch, form="product"))
        results += part
        seconds += took
    return results, seconds


def measure(entries: int, n: int, d: int, power_repeats: int = 8) -> dict:
    """Every timing, the verdict comparison, the projection and the power table, as one record."""
    rng = np.random.default_rng(SEED)
    suspect, names, blobs, screens = _registry(rng, entries, n, d)
    by_name = dict(zip(names, blobs))
    first, t_stage1 = _timed(lambda: _stage1(suspect, names, screens))
    chosen = sorted(flagged(first, DEFAULT_TOP))
    second, t_stage2 = _timed(lambda: scan(suspect, (decode(by_name[name]) for name in chosen)))
    full, t_full = _full_scan(suspect, blobs)
    _, t_before = _timed(lambda: scan(suspect, (decode(blob) for blob in blobs), form="product"))
    staged = {name: 0.0 for name in names}
    staged.update({name: r.log10_p for name, r in zip(chosen, second)})
    full_p = {name: r.log10_p for name, r in zip(names, full)}
    identical = bool(_verdicts(names, staged) == _verdicts(names, full_p))
    stage2_per_entry = t_stage2 / max(1, len(chosen))
    unrelated = [name for name in names[len(RELATIVE_NOISE):]]
    false_flags = sum(1 for name in unrelated if first[name].log10_p <= np.log10(SCREEN_P)) / max(1, len(unrelated))
    # the kept strongest of stage 1 are flagged entries whenever there are that many: the union is the larger set
    expected_flags = max(DEFAULT_TOP, len(RELATIVE_NOISE) + max(SCREEN_P, false_flags) * PROJECTED_ENTRIES)
    projected = t_stage1 / entries * PROJECTED_ENTRIES + stage2_per_entry * expected_flags
    return {
        "n": n, "d": d, "m": M_LOGITS, "entries": entries, "prefix": SCREEN_PROBES, "screen_p": SCREEN_P, "keep": DEFAULT_TOP,
        "stage1_s_per_entry": t_stage1 / entries, "stage2_s_per_entry": stage2_per_entry, "stage2_entries": len(chosen),
        "full_s_per_entry": t_full / entries, "before_s_per_entry": t_before / entries,
        "false_flag_rate": false_flags, "expected_flags_10k": expected_flags,
        "projected_10k_s": projected, "projected_10k_full_s": t_full / entries * PROJECTED_ENTRIES,
        "projected_10k_before_s": t_before / entries * PROJECTED_ENTRIES,
        "speedup_vs_full": t_full / entries * PROJECTED_ENTRIES / projected,
        "verdicts_identical": identical,
        "same_lineage_full": int(sum(_verdicts(names, full_p)[0])),
        "relatives_flagged": sum(1 for name in names[:len(RELATIVE_NOISE)] if name in chosen),
        "entry_bytes": len(blobs[0]), "stage1_bytes": len(screens[0]),
        "power": _power(rng, n, d, power_repeats) if power_repeats else [], "power_repeats": power_repeats,
        "cpu": platform.processor() or platform.machine(), "cpus_available": len(os.sched_getaffinity(0)),
        "numpy": np.__version__,
    }


def _page(runs: list[dict], command: str) -> str:
    """The results page: one section per shape measured, then the power of stage 1 and the entry sizes."""
    r0 = runs[0]
    lines = [
        "# Registry scan and entry size",
        "",
        f"Produced by `{command}` on {_dt.date.today().isoformat()} ({r0['cpus_available']} CPUs, {r0['cpu']}, numpy "
        f"{r0['numpy']}). Synthetic entries with m={r0['m']} untrained-token logit columns; the first "
        f"{len(RELATIVE_NOISE)} are relatives of the suspect's parent (noise sd {', '.join(map(str, RELATIVE_NOISE))} over "
        "unit-variance states), the rest unrelated. Timings on a shared machine are noisy.",
        "",
        f"`identify` scans in two stages. Stage 1 is the exact lineage test on the first {r0['prefix']} probes of every "
        "entry, re-ranked among themselves, from data stored at registration: the uint8 ranks of those probes and their "
        f"{r0['prefix']} x {r0['prefix']} Gram matrix. The permutation null needs sum(C^2) = <A A^T, B B^T> / n^2, the "
        "row and column sums of C (also from the Gram matrices and the row sums) and trace(C) (a dot product of "
        "integer ranks), so a pair costs O(n d + n^2), not the O(n d^2) of forming the d x d correlation matrix. Stage 2 "
        f"runs the full exact test on the entries whose stage-1 p-value is at most {r0['screen_p']}, plus the "
        f"{r0['keep']} strongest, each pair in the cheaper exact form: the d x d correlation matrix when N >= 2 d, else the "
        "N x N probe Gram matrices (N^2 d operations as a symmetric product instead of 2 N d^2). The others count with p = 1 in Holm and Benjamini-Hochberg, which can only keep a "
        "verdict or lose a rejection, never add one.",
        "",
        "| N | d | entries | stage 1 per entry | stage 2 per flagged entry | full exact scan per entry | pre-change engine per entry "
        "| 10,000 entries: two-stage (projected) | full exact | pre-change | speed-up vs full | verdicts identical |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['n']} | {r['d']} | {r['entries']} | {r['stage1_s_per_entry'] * 1e3:.2f} ms | "
            f"{r['stage2_s_per_entry'] * 1e3:.0f} ms | {r['full_s_per_entry'] * 1e3:.0f} ms | "
            f"{r['before_s_per_entry'] * 1e3:.0f} ms | {r['projected_10k_s']:.1f} s | {r['projected_10k_full_s']:.0f} s | "
            f"{r['projected_10k_before_s']:.0f} s | x{r['speedup_vs_full']:.0f} | {'yes' if r['verdicts_identical'] else 'no'} |"
        )
    lines += [
        "",
        "The projection is stage 1 per entry times 10,000 plus stage 2 on the entries it would send there: those it "
        f"flags (the relatives and {r0['screen_p']} of the unrelated ones, or the rate this run saw when higher), or the "
        f"{r0['keep']} strongest when fewer are flagged, since the strongest of stage 1 are the flagged ones. Verdicts compare the two-stage scan with the full exact scan of the same entries, Holm and BH at "
        f"alpha={ALPHA}.",
        "",
        f"## Power of stage 1 ({r0['prefix']} probes) against the full test",
        "",
        "Relatives of the suspect's parent at growing noise (the count per level in each heading). \"Full test finds\" is how often "
        f"the full test's p-value is below alpha / 10,000 = {ALPHA / PROJECTED_ENTRIES:g}, the level Holm needs for the "
        "top candidate of a 10,000-entry registry; \"stage 1 flags\" how often stage 1 sends the relative to stage 2. "
        "A relative the full test finds and stage 1 does not flag is a verdict the two-stage scan misses.",
        "",
    ]
    for r in (run for run in runs if run["power"]):
        lines += [f"N={r['n']}, d={r['d']}, {r['power_repeats']} relatives per level:", "",
                  "| noise sd | mean full z | mean stage-1 z | full test finds | stage 1 flags | flagged of those found |",
                  "|---|---|---|---|---|---|"]
        for p in r["power"]:
            of_found = "-" if p["flagged_of_found"] != p["flagged_of_found"] else f"{p['flagged_of_found']:.0%}"
            lines.append(f"| {p['noise']:g} | {p['full_z']:.1f} | {p['stage1_z']:.1f} | {p['full_finds']:.0%} | "
                         f"{p['stage1_flags']:.0%} | {of_found} |")
        lines.append("")
    lines += [
        "## Size of a registry entry",
        "",
        "An entry stores each column's ranks over the probes as bit-packed min-ranks (tests on an entry give the full "
        "matrix's numbers exactly), and its stage-1 data.",
        "",
        "| N | d | float32 fingerprint | packed ranks | stage-1 data |",
        "|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(f"| {r['n']} | {r['d']} | {4 * r['n'] * (r['d'] + r['m']) / 1e6:.2f} MB | "
                     f"{encoded_size(r['n'], r['d'], r['m']) / 1e6:.2f} MB | {r['stage1_bytes'] / 1e3:.0f} KB |")
    lines.append("")
    return "\n".join(lines)


def _summary(r: dict) -> str:
    return (
        f"N={r['n']}, d={r['d']}, {r['entries']} entries: stage 1 {r['stage1_s_per_entry'] * 1e3:.2f} ms/entry, stage 2 "
        f"{r['stage2_s_per_entry'] * 1e3:.0f} ms on each of {r['stage2_entries']} flagged, full exact scan "
        f"{r['full_s_per_entry'] * 1e3:.0f} ms/entry, pre-change engine {r['before_s_per_entry'] * 1e3:.0f} ms/entry; "
        f"10,000 entries: full {r['projected_10k_full_s']:.0f} s, pre-change {r['projected_10k_before_s']:.0f} s, "
        f"two-stage x{r['speedup_vs_full']:.0f} faster than full"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200, help="registry entries K (default 200)")
    parser.add_argument("--d", type=int, nargs="+", default=[768], help="hidden sizes, one run each, each ending in its "
                        "`projected 10000 entries` line (default 768)")
    parser.add_argument("--n", type=int, default=2000, help="probes N (default 2000)")
    parser.add_argument("--power-repeats", type=int, default=8, help="relatives per noise level in the power table "
                        "(default 8; 0 leaves the table out)")
    parser.add_argument("--json", action="store_true", help="print the records as JSON")
    parser.add_argument("--out", type=Path, default=None, help="also write the results page (Markdown) here")
    args = parser.parse_args(argv)
    if args.entries <= len(RELATIVE_NOISE) or args.n <= SCREEN_PROBES:
        parser.error(f"need more than {len(RELATIVE_NOISE)} entries and more than {SCREEN_PROBES} probes")
    runs = [measure(args.entries, args.n, d, args.power_repeats) for d in args.d]
    if args.out is not None:
        command = " ".join([".venv/bin/python bench/bench_scan.py", *(argv if argv is not None else sys.argv[1:])])
        args.out.write_text(_page(runs, command))
    if args.json:
        print(json.dumps(runs, indent=2))
    for r in runs:  # with one --d, the last line is that run's projection
        print(_summary(r))
        print(f"projected 10000 entries: {r['projected_10k_s']:.1f} s; verdicts identical: {'yes' if r['verdicts_identical'] else 'no'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
