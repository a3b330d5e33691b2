"""Wall time of ``seedprints demo`` (the README's first command), as a ratio to a fixed reference workload run just before.

The demo runs in a fresh process with its defaults, as a new user runs it (install excluded); the reference is a fixed
torch job (forward, backward and Adam on a small MLP, in the same threads) whose time tracks the machine's speed, so
the ratio travels between machines where seconds do not. Fails (exit 1) if a lineage verdict of the demo is wrong.
Run:

    .venv/bin/python bench/bench_demo.py [--json] [DEMO OPTIONS, e.g. --n 500]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

BUDGET_SECONDS = 180.0  # the ceiling on two idle cores
REFERENCE_STEPS = 60


def reference_workload(steps: int = REFERENCE_STEPS) -> float:
    """Seconds of ``steps`` Adam steps on a 1.1M-parameter MLP over a 2048 x 256 batch (fixed seed, float32)."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 1024), torch.nn.GELU(), torch.nn.Linear(1024, 768))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    inputs, targets = torch.randn(2048, 256), torch.randn(2048, 768)
    start = time.perf_counter()
    for _ in range(steps):
        optimiser.zero_grad()
        torch.nn.functional.mse_loss(model(inputs), targets).backward()
        optimiser.step()
    return time.perf_counter() - start


def run_demo(options: list[str]) -> tuple[float, dict[str, Any]]:
    """Wall seconds and JSON payload of ``seedprints demo --json OPTIONS`` in a fresh process."""
    command = [sys.executable, "-m", "seedprints", "demo", "--json", *options]
    with tempfile.TemporaryDirectory() as cwd:
        start = time.perf_counter()
        ran = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env={**os.environ})
        seconds = time.perf_counter() - start
    if ran.returncode != 0:
        lines = ran.stderr.strip().splitlines() or ["(no output)"]
        raise SystemExit(f"seedprints demo failed (exit {ran.returncode}): {lines[-1]}")
    return seconds, json.loads(ran.stdout)


def correct(payload: dict[str, Any], method: str) -> int:
    """How many of the demo's pairs ``method`` got right."""
    return sum(pair["results"][method]["correct"] for pair in payload["pairs"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    parser.add_argument("--reference-steps", type=int, default=REFERENCE_STEPS, help=argparse.SUPPRESS)
    args, demo_options = parser.parse_known_args(argv)  # the rest goes to seedprints demo
    args.demo_options = [option for option in demo_options if option != "--"]

    reference = reference_workload(args.reference_steps)
    seconds, payload = run_demo(args.demo_options)
    pairs = len(payload["pairs"])
    methods = list(payload["settings"]["methods"])
    scores = {method: correct(payload, method) for method in methods}
    result = {
        "demo_seconds": seconds,
        "reference_seconds": reference,
        "ratio": seconds / reference,
        "pairs": pairs,
        "correct": scores,
        "within_budget": seconds <= BUDGET_SECONDS,
        "budget_seconds": BUDGET_SECONDS,
        "demo_options": args.demo_options,
        "load_average": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"seedprints demo {' '.join(args.demo_options)}".rstrip() + f": {seconds:.1f} s wall, {pairs} pairs")
        print("verdicts matching the truth: " + ", ".join(f"{m} {scores[m]}/{pairs}" for m in methods))
        print(f"reference workload ({args.reference_steps} Adam steps of a 1.1M-parameter MLP): {reference:.1f} s")
        print(f"ratio to reference: {result['ratio']:.1f}")
        print(f"within {BUDGET_SECONDS:.0f} s: {'yes' if result['within_budget'] else 'no'} "
              f"(load average {result['load_average']:.1f}; the budget is for two idle cores)")
    return 0 if scores.get("lineage") == pairs else 1


if __name__ == "__main__":
    sys.exit(main())
