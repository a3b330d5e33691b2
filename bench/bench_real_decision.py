"""Time to a decision on real weights: ``seedprints compare --early-stop`` from scratch, against a plain forward pass.

Takes a released model directory and a derivative of it (the real-model gallery's, ``bench/real_models.py``) and,
each command in a fresh Python process as a user would run it:

1. ``seedprints compare REF SUSPECT --early-stop --length L --budget B --json``: wall seconds to the decision and
   the probes it used;
2. a plain transformers baseline over the same tokens: load both models with ``AutoModel.from_pretrained`` in the
   dtype seedprints chose, run the probes those looks used through them (batch ``--batch-size``) and read the final
   hidden states; the ratio decision / baseline is seedprints' overhead over the forward pass it cannot avoid;
3. ``seedprints fingerprint REF --n N --length L`` with the default ``--dtype auto`` and with ``--dtype bfloat16``
   (the default before ``auto`` looked at the CPU): their ratio is what the dtype choice buys on this machine.

The model files are read once before anything is timed, so every command finds them in the page cache.
Every number comes from this run. Run (not part of CI; about two minutes on two idle cores for a 0.5B model):

    .venv/bin/python bench/bench_real_decision.py REF_DIR SUSPECT_DIR [--length 16] [--budget 2000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The baseline, run as its own process: what a user of plain transformers would write to get the same states.
_BASELINE = r"""
import json, sys, time
import numpy as np, torch, transformers
request = json.load(sys.stdin)
dtype = getattr(torch, request["dtype"])
ids = torch.tensor(np.asarray(request["ids"], dtype=np.int64))
for model_dir in request["models"]:
    model = transformers.AutoModel.from_pretrained(model_dir, dtype=dtype).eval()
    with torch.inference_mode():
        for start in range(0, len(ids), request["batch_size"]):
            hidden = model(input_ids=ids[start:start + request["batch_size"]]).last_hidden_state[:, -1].float()
            assert torch.isfinite(hidden).all()
"""


def _seedprints() -> list[str]:
    """The seedprints CLI of this interpreter's environment."""
    return [sys.executable, "-m", "seedprints"]


def _timed(command: list[str], stdin: str | None = None) -> tuple[float, str]:
    """Wall seconds and stdout of ``command``; its failure ends the benchmark with its own error line."""
    start = time.perf_counter()
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed (exit {done.returncode}): "
                           f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'no message'}")
    return seconds, done.stdout


def _probe_ids(ref: Path, suspect: Path, budget: int, length: int, used: int, budget_hash: str) -> list[list[int]]:
    """The token ids of the first ``used`` probes of the budget spec that compare used (checked by its hash)."""
    from seedprints.api import ProbeOptions, shared_default_spec
    from seedprints.probes import generated

    spec = shared_default_spec([ref, suspect], ProbeOptions(n=budget, length=length))
    if spec.hash != budget_hash:
        raise RuntimeError(f"the probes rebuilt here ({spec.hash}) are not the ones compare used ({budget_hash})")
    return [row.tolist() for row in generated(spec).token_ids(0, used)]


def _warm(*model_dirs: Path) -> None:
    """Read every file of the models once, so that the first timed command does not pay for the disk alone."""
    for model_dir in model_dirs:
        for file in sorted(model_dir.iterdir()):
            if file.is_file():
                with file.open("rb") as stream:
                    while stream.read(1 << 24):
                        pass


def measure(ref: Path, suspect: Path, *, length: int, budget: int, fingerprint_n: int, batch_size: int) -> dict[str, Any]:
    """Run the three measurements; every field of the result comes from this run."""
    _warm(ref, suspect)
    decision_s, out = _timed([*_seedprints(), "compare", str(ref), str(suspect), "--early-stop", "--length", str(length),
                              "--budget", str(budget), "--json"])
    report = json.loads(out)
    sequential = report["details"]["sequential"]
    with tempfile.TemporaryDirectory(prefix="bench-real-decision-") as work:
        fingerprints = {}
        for dtype in ("auto", "bfloat16"):
            seconds, out = _timed([*_seedprints(), "fingerprint", str(ref), "-o", str(Path(work) / f"{dtype}.fp"),
                                   "--n", str(fingerprint_n), "--length", str(length), "--dtype", dtype, "--json"])
            fingerprints[dtype] = {"seconds": seconds, "dtype": json.loads(out)["dtype"]}
    ids = _probe_ids(ref, suspect, budget, length, sequential["probes"], report["settings"]["budget_probe_hash"])
    request = {"models": [str(ref), str(suspect)], "dtype": fingerprints["auto"]["dtype"], "ids": ids,
               "batch_size": batch_size}
    baseline_s, _ = _timed([sys.executable, "-c", _BASELINE], stdin=json.dumps(request))
    return {
        "reference": str(ref), "suspect": str(suspect), "length": length, "budget": budget,
        "verdict": report["verdict"], "probes_used": sequential["probes"], "probe_tokens": sequential["probe_tokens"],
        "decision_seconds": decision_s, "baseline_seconds": baseline_s, "baseline_dtype": request["dtype"],
        "ratio_to_plain_forward": decision_s / baseline_s,
        "fingerprint_n": fingerprint_n,
        "fingerprint_seconds_auto": fingerprints["auto"]["seconds"], "auto_dtype": fingerprints["auto"]["dtype"],
        "fingerprint_seconds_bfloat16": fingerprints["bfloat16"]["seconds"],
        "auto_speedup_vs_bfloat16": fingerprints["bfloat16"]["seconds"] / fingerprints["auto"]["seconds"],
        "cpu_count": os.cpu_count(),
    }


def _print(result: dict[str, Any]) -> None:
    print(f"reference {result['reference']}, suspect {result['suspect']}, L={result['length']}, budget {result['budget']}")
    print(f"decision: {result['verdict']} in {result['decision_seconds']:.1f} s (compare --early-stop from scratch), "
          f"{result['probes_used']} probes used ({result['probe_tokens']} tokens)")
    print(f"plain transformers forward over the same tokens ({result['baseline_dtype']}, both models loaded): "
          f"{result['baseline_seconds']:.1f} s")
    print(f"ratio to plain forward: {result['ratio_to_plain_forward']:.2f}")
    print(f"fingerprint of the reference, N={result['fingerprint_n']}: default --dtype auto ({result['auto_dtype']}) "
          f"{result['fingerprint_seconds_auto']:.1f} s, --dtype bfloat16 {result['fingerprint_seconds_bfloat16']:.1f} s")
    print(f"default dtype speedup vs bfloat16: {result['auto_speedup_vs_bfloat16']:.2f}x")


def _positive_int(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="the released model (a Hugging Face directory)")
    parser.add_argument("suspect", type=Path, help="a derivative of it (a Hugging Face directory)")
    parser.add_argument("--length", type=_positive_int, default=16, help="probe length L (default 16)")
    parser.add_argument("--budget", type=_positive_int, default=2000, help="compare's probe budget (default 2000)")
    parser.add_argument("--fingerprint-n", type=_positive_int, default=50,
                        help="probes of the dtype comparison's fingerprints (default 50)")
    parser.add_argument("--batch-size", type=_positive_int, default=64, help="the baseline's batch (default 64)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    for path in (args.reference, args.suspect):
        if not (path / "config.json").is_file():
            print(f"Error: {path} is not a Hugging Face model directory (no config.json); pass the gallery's "
                  "derived/hf and a derivative", file=sys.stderr)
            return 1
    try:
        result = measure(args.reference, args.suspect, length=args.length, budget=args.budget,
                         fingerprint_n=args.fingerprint_n, batch_size=args.batch_size)
    except RuntimeError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
