"""Time a registry scan: the batched engine against the naive loop of pairwise tests, in one run.

Builds synthetic ranked fingerprints (N=2000 probes, d=768 hidden dimensions, m=128 rare-token
logits, fixed seed): M registry entries, one of them the suspect's parent, each stored as its compact
encoding. Then times
- the naive loop a user would run: decode each entry and ``lineage_test_ranked`` it against the
  suspect with the default Monte Carlo check (``n_permutations=999``), one pair at a time;
- the engine as ``identify`` runs it: decode each entry and ``scan`` in batches (float64 product);
- the engine alone on entries already decoded.
Checks that every verdict agrees and reports the largest relative deviation of log10 p and z from
the naive loop, the ratio, the time per entry and the projected time for 10,000 entries.

Run: ``.venv/bin/python bench/bench_scan.py [--entries M] [--naive-entries K] [--batch-size B] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from seedprints.encoding import RankedFingerprint, decode, encode, rank_fingerprint
from seedprints.fingerprint import Fingerprint
from seedprints.probes import ProbeSpec
from seedprints.scan import DEFAULT_BATCH_SIZE, scan
from seedprints.stats.lineage import DEFAULT_PERMUTATIONS, lineage_test_ranked

N, D, M_LOGITS, SEED, PROJECTED_ENTRIES = 2000, 768, 128, 0, 10_000
SPEC = ProbeSpec(kind="token", n=N, length=512, vocab_bound=32000, input_tokens=tuple(range(0, 2 * M_LOGITS, 2)),
                 output_tokens=tuple(range(1, 2 * M_LOGITS, 2)))


def _random_ranks(rng: np.random.Generator, width: int) -> np.ndarray:
    """Each column an independent random permutation of 0..N-1 (min-ranks of an unrelated model)."""
    return rng.permuted(np.broadcast_to(np.arange(N, dtype=np.int32)[:, None], (N, width)), axis=0)


def _registry(rng: np.random.Generator, entries: int) -> tuple[RankedFingerprint, list[bytes]]:
    """The suspect (a noisy copy of entry 0's model) and the encoded entries."""
    parent = Fingerprint(hidden=rng.standard_normal((N, D), dtype=np.float32), spec=SPEC, model_id="parent",
                         logits=rng.standard_normal((N, M_LOGITS), dtype=np.float32))
    noise = np.float32(3.0)
    child = Fingerprint(hidden=parent.hidden + noise * rng.standard_normal((N, D), dtype=np.float32), spec=SPEC,
                        model_id="child", logits=parent.logits + noise * rng.standard_normal((N, M_LOGITS), dtype=np.float32))
    blobs = [encode(parent)] + [
        encode(RankedFingerprint(spec=SPEC, model_id=f"unrelated-{i}", metadata={}, hidden_ranks=_random_ranks(rng, D),
                                 logit_ranks=_random_ranks(rng, M_LOGITS)))
        for i in range(entries - 1)
    ]
    return rank_fingerprint(child), blobs


def _max_rel(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-12)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200, help="registry entries M (default 200)")
    parser.add_argument("--naive-entries", type=int, default=None, help="time the naive loop on the first K entries only (default: all)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="references per matrix product")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    naive_count = min(args.naive_entries or args.entries, args.entries)

    suspect, blobs = _registry(np.random.default_rng(SEED), args.entries)

    start = time.perf_counter()
    naive = [lineage_test_ranked(decode(blob), suspect, n_permutations=DEFAULT_PERMUTATIONS) for blob in blobs[:naive_count]]
    t_naive = (time.perf_counter() - start) / naive_count

    start = time.perf_counter()
    engine = scan(suspect, (decode(blob) for blob in blobs), batch_size=args.batch_size)
    t_engine = (time.perf_counter() - start) / args.entries

    decoded = [decode(blob) for blob in blobs]
    start = time.perf_counter()
    scan(suspect, decoded, batch_size=args.batch_size)
    t_scan64 = (time.perf_counter() - start) / args.entries

    head = engine[:naive_count]
    record = {
        "n": N, "d": D, "m": M_LOGITS, "entries": args.entries, "naive_entries": naive_count, "batch_size": args.batch_size,
        "naive_s_per_entry": t_naive, "engine_s_per_entry": t_engine, "engine_decoded_s_per_entry": t_scan64,
        "speedup_engine": t_naive / t_engine, "speedup_engine_decoded": t_naive / t_scan64,
        "projected_10k_engine_s": t_engine * PROJECTED_ENTRIES, "projected_10k_engine_decoded_s": t_scan64 * PROJECTED_ENTRIES,
        "projected_10k_naive_s": t_naive * PROJECTED_ENTRIES,
        "verdicts_agree": [r.verdict for r in head] == [r.verdict for r in naive],
        "parent_found": engine[0].verdict == "same-lineage" and sum(r.verdict == "same-lineage" for r in engine[1:]) <= 0.05 * args.entries,
        "max_rel_diff_log10_p": _max_rel([r.log10_p for r in head], [r.log10_p for r in naive]),
        "max_rel_diff_z": _max_rel([r.z for r in head], [r.z for r in naive]),
        "cpu": platform.processor() or platform.machine(), "cpus_available": len(os.sched_getaffinity(0)),
        "numpy": np.__version__,
    }
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        print(
            f"scan of {args.entries} entries (N={N}, d={D}, m={M_LOGITS}) on {record['cpus_available']} CPUs: "
            f"naive {t_naive * 1e3:.0f} ms/entry, engine {t_engine * 1e3:.0f} ms/entry (x{record['speedup_engine']:.1f}; "
            f"{t_scan64 * 1e3:.0f} ms on decoded entries, x{record['speedup_engine_decoded']:.1f}); 10,000 entries: "
            f"engine {record['projected_10k_engine_s']:.0f} s ({record['projected_10k_engine_decoded_s']:.0f} s decoded), "
            f"naive {record['projected_10k_naive_s']:.0f} s; verdicts agree: {record['verdicts_agree']}; max rel. diff "
            f"log10 p {record['max_rel_diff_log10_p']:.1e}, z {record['max_rel_diff_z']:.1e}"
        )
    return 0 if record["verdicts_agree"] and record["parent_found"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
