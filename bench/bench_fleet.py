"""Fleet throughput measured on this machine, and models per GPU-hour projected for 1B and 7B models.

(a) Measured: ``--models`` freshly initialised small Llama models (d=64, 2 layers, vocabulary 512, no
    tokenizer, so uniform token probes) are saved to a temporary folder and listed in a manifest, and
    :func:`seedprints.fleet.driver.run_fleet` fingerprints them on a local Ray instance on this machine's
    cores into a fresh SQLite registry, N probes of length L each. Throughput = models / seconds from the
    first task submitted to the last one registered (Ray's own start is timed apart), times 3600.
(b) Projected from the extraction benchmark ``bench/bench_mfu.py``: one model's forward passes cost
    ``N * F(L)`` FLOPs, F the fast path's matmul FLOPs per probe (``bench_mfu.forward_flops``), so at a
    model FLOP utilisation MFU of a GPU with dense bf16 peak P (FLOP/s)::

        seconds per model   = N * F(L) / (MFU * P)
        models per GPU-hour = 3600 / seconds per model

    MFU and P come from a ``bench_mfu.py --json`` result (``--mfu-json``, measured on a GPU); without one,
    bench_mfu's target MFU and its H200 peak stand in and the output says so. Download and weight-loading
    time are not in the formula: it is the compute bound.

Run: ``python bench/bench_fleet.py [--models 4] [--n 2000] [--length 512] [--mfu-json FILE] [--json]
[--write-doc docs/fleet.md]``; ``--write-doc`` replaces the part of the page between its
``bench_fleet`` markers with these results and the command that made them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import transformers

from seedprints.options import DEFAULT_LENGTH, DEFAULT_N, ProbeOptions
from seedprints.errors import SeedprintsError

_MFU_PATH = Path(__file__).resolve().parent / "bench_mfu.py"
_SPEC = importlib.util.spec_from_file_location("bench_mfu", _MFU_PATH)
bench_mfu = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench_mfu)

SMALL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=512,
             max_position_embeddings=1024)
# public shapes: Llama 3.2 1B (grouped-query attention) and Llama 2 7B
PROJECTED = {
    "Llama 3.2 1B": transformers.LlamaConfig(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32,
                                             num_key_value_heads=8, intermediate_size=8192, vocab_size=128256),
    "Llama 2 7B": transformers.LlamaConfig(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
                                           intermediate_size=11008, vocab_size=32000),
}
BEGIN, END = "<!-- bench_fleet:begin -->", "<!-- bench_fleet:end -->"


def measure(models: int, n: int, length: int) -> dict[str, Any]:
    """Fingerprint ``models`` small models with the fleet on local Ray; seconds, models per hour and settings."""
    import ray

    from seedprints.fleet.driver import run_fleet
    from seedprints.fleet.manifest import read_manifest
    from seedprints.fleet.task import Job
    from seedprints.registry import Registry

    transformers.utils.logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        rows = []
        for seed in range(models):
            torch.manual_seed(seed)
            transformers.LlamaForCausalLM(transformers.LlamaConfig(**SMALL)).save_pretrained(root / f"m{seed}")
            rows.append(json.dumps({"name": f"m{seed}", "model": f"m{seed}"}))
        (root / "models.jsonl").write_text("\n".join(rows) + "\n")
        items = read_manifest(root / "models.jsonl")
        start = time.perf_counter()
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        ray_start = time.perf_counter() - start
        try:
            with Registry.open(root / "refs.db") as reg:
                report = run_fleet(items, reg, Job(options=ProbeOptions(n=n, length=length)))
        finally:
            ray.shutdown()
    if report.of("failed"):
        raise SeedprintsError(f"fleet benchmark models failed: {[o.detail for o in report.of('failed')]}")
    return {
        "models": models, "n": n, "length": length, "cores": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
        "load_average": round(os.getloadavg()[0], 1),
        "ray_start_s": round(ray_start, 1), "seconds": round(report.seconds, 1),
        "models_per_hour": round(models / report.seconds * 3600, 1),
        "task_seconds_median": round(sorted(o.seconds for o in report.outcomes)[models // 2], 2),
        "model": f"Llama d={SMALL['hidden_size']} layers={SMALL['num_hidden_layers']} vocab={SMALL['vocab_size']}",
    }


def project(n: int, length: int, mfu_json: Path | None) -> dict[str, Any]:
    """Models per GPU-hour for each projected shape at N, L: from a bench_mfu result, else its target and H200 peak."""
    if mfu_json is not None:
        measured = json.loads(mfu_json.read_text())
        mfu, peak, source = float(measured["mfu"]), float(measured["peak_tflops"]), (
            f"measured by bench_mfu.py on {measured['device']} ({mfu_json})")
    else:
        h200 = next(entry for entry in bench_mfu.PEAKS_BF16 if "H200" in entry[0])
        mfu, peak, source = bench_mfu.MFU_TARGET, h200[1], (
            "not measured: bench_mfu.py's target MFU and the H200 datasheet peak; replace with --mfu-json")
    rows = {}
    for name, config in PROJECTED.items():
        flops = bench_mfu.forward_flops(config, length)
        seconds = n * flops / (mfu * peak * 1e12)
        rows[name] = {"flops_per_probe": flops, "seconds_per_model": round(seconds, 2),
                      "models_per_gpu_hour": round(3600 / seconds, 1)}
    return {"mfu": mfu, "peak_tflops": peak, "source": source, "n": n, "length": length, "shapes": rows}


def markdown(measured: dict[str, Any], projection: dict[str, Any], command: str) -> str:
    """The page section: the command, the measured run, and the projection with its formula and inputs."""
    m, p = measured, projection
    lines = [
        BEGIN, "", f"Generated by `{command}`.", "",
        "### Measured on this machine", "",
        f"{m['models']} models ({m['model']}), N={m['n']} probes of length L={m['length']}, local Ray on "
        f"{m['cores']} cores ({m['cpu']}), one CPU per task: **{m['models_per_hour']} models per hour** "
        f"({m['seconds']} s from the first task submitted to the last registered; median task {m['task_seconds_median']} s; "
        f"Ray itself took {m['ray_start_s']} s to start; load average {m['load_average']} at the end, as the machine is "
        "shared).", "",
        "### Projected models per GPU-hour", "",
        "```", "seconds per model   = N * F(L) / (MFU * P)", "models per GPU-hour = 3600 / seconds per model", "```", "",
        f"N={p['n']}, L={p['length']}; F(L) = the fast path's matmul FLOPs per probe (`bench_mfu.forward_flops`); "
        f"MFU={p['mfu']:.2f}, P={p['peak_tflops']:g} TFLOP/s dense bf16: {p['source']}.", "",
        "| model | F(L) FLOPs per probe | seconds per model | models per GPU-hour |", "|---|---:|---:|---:|",
        *(f"| {name} | {row['flops_per_probe']:.4g} | {row['seconds_per_model']} | {row['models_per_gpu_hour']} |"
          for name, row in p["shapes"].items()),
        "", "Download and weight loading are not in the formula (it is the compute bound); on a cluster they overlap "
        "with other models' forward passes only when a GPU holds more than one task (`--gpus-per-model` below 1).",
        "", END,
    ]
    return "\n".join(lines)


def write_doc(page: Path, section: str) -> None:
    """Replace the text between the page's markers with ``section``."""
    text = page.read_text()
    if BEGIN not in text or END not in text:
        raise SeedprintsError(f"{page} has no {BEGIN} ... {END} markers; add them where the results go")
    head, rest = text.split(BEGIN, 1)
    page.write_text(head + section + rest.split(END, 1)[1])


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure, project, print (or write the page); errors are one ``Error:`` line and exit 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=4, help="small models to fingerprint (default 4)")
    parser.add_argument("--n", type=int, default=DEFAULT_N, help=f"probes per model (default {DEFAULT_N})")
    parser.add_argument("--length", type=int, default=DEFAULT_LENGTH, help=f"probe length (default {DEFAULT_LENGTH})")
    parser.add_argument("--mfu-json", type=Path, default=None, help="a `bench_mfu.py --json` result measured on a GPU")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--write-doc", type=Path, default=None, help="write the results into this page's markers")
    args = parser.parse_args(argv)
    if min(args.models, args.n, args.length) < 1:
        parser.error("--models, --n and --length must be positive")
    try:
        measured = measure(args.models, args.n, args.length)
        projection = project(args.n, args.length, args.mfu_json)
        command = "python bench/bench_fleet.py " + shlex.join(argv if argv is not None else sys.argv[1:])
        if args.write_doc is not None:
            write_doc(args.write_doc, markdown(measured, projection, command.strip()))
    except (SeedprintsError, OSError, KeyError, ValueError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if args.json or args.write_doc is None:
        print(json.dumps({"measured": measured, "projection": projection}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
