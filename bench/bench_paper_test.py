"""Time paper_test against the per-column scipy.stats.kendalltau loop of the released code.

Builds a reference and a related suspect (N=10000 probes, d=768, fixed seed), runs
``paper_test(buffer_k=400)``, then runs ``scipy.stats.kendalltau`` column by column on the same
selected and softmax-normalised columns, checks that both give the same taus and z, and prints
one line with both times and the speed-up (``--json`` prints one JSON object instead).

Run: ``.venv/bin/python bench/bench_paper_test.py [--json] [--repeat R]``
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time

import numpy as np
from scipy import stats

from seedprints.stats import kendall_tau_b_columns, paper_test
from seedprints.stats.kendall import kendall_null_sd
from seedprints.stats.paper import _identity_dims, _softmax_rows

N, D, BUFFER_K, TEMPERATURE, SEED = 10000, 768, 400, 10.0, 0


def _best(fn, repeat):
    best, out = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=3, help="best of R runs (default 3)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(SEED)
    offsets = rng.standard_normal(D).astype(np.float32)
    ref = rng.standard_normal((N, D), dtype=np.float32) + offsets
    sus = ref + np.float32(3.0) * rng.standard_normal((N, D), dtype=np.float32)

    t_paper, result = _best(lambda: paper_test(ref, sus, buffer_k=BUFFER_K), args.repeat)

    dims = np.intersect1d(_identity_dims(ref, BUFFER_K), _identity_dims(sus, BUFFER_K))
    a, b = _softmax_rows(ref[:, dims], TEMPERATURE), _softmax_rows(sus[:, dims], TEMPERATURE)
    t_kendall, taus = _best(lambda: kendall_tau_b_columns(a, b), args.repeat)

    def scipy_loop():
        return np.array([stats.kendalltau(a[:, j], b[:, j]).statistic for j in range(a.shape[1])])

    t_scipy, taus_scipy = _best(scipy_loop, args.repeat)

    z_scipy = taus_scipy.mean() * math.sqrt(dims.size) / kendall_null_sd(N)
    max_diff = float(np.max(np.abs(taus - taus_scipy)))
    agree = (
        max_diff <= 1e-12
        and result.k == dims.size
        and math.isclose(result.z, z_scipy, rel_tol=1e-9)
    )

    record = {
        "n": N,
        "d": D,
        "buffer_k": BUFFER_K,
        "k": result.k,
        "z": result.z,
        "paper_test_s": t_paper,
        "kendall_tau_b_columns_s": t_kendall,
        "scipy_kendalltau_loop_s": t_scipy,
        "speedup_kendall": t_scipy / t_kendall,
        "speedup_paper_test": t_scipy / t_paper,
        "max_abs_tau_diff": max_diff,
        "agree": agree,
        "repeat": args.repeat,
        "numpy": np.__version__,
        "machine": platform.machine(),
    }
    if args.json:
        print(json.dumps(record))
    else:
        print(
            f"N={N} d={D} k={result.k}: scipy.stats.kendalltau loop {t_scipy:.3f} s, "
            f"kendall_tau_b_columns {t_kendall:.3f} s ({t_scipy / t_kendall:.1f}x), "
            f"whole paper_test {t_paper:.3f} s ({t_scipy / t_paper:.1f}x); "
            f"max |tau diff| {max_diff:.1e}, z {result.z:.2f} - {'agree' if agree else 'DISAGREE'}"
        )
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
