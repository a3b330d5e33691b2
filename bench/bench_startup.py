"""Start-up time of the verbs that run no model, as a ratio to ``python -c "import numpy"`` measured in the same run.

Each verb runs in a fresh process against a small registry built here (a few numpy fingerprints), five times, in
rounds interleaved with ``import numpy``; the median wall time is divided by the median of ``import numpy``. Also
reports which of torch, transformers and scipy.stats each verb imported (none should). Run:

    .venv/bin/python bench/bench_startup.py [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HEAVY = ("torch", "transformers", "scipy.stats")
# the verbs that run no model: a label and the arguments ({registry} and {out} are filled in)
VERBS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("--help", ("--help",)),
    ("registry list", ("registry", "list", "--registry", "{registry}")),
    ("registry show", ("registry", "show", "entry-0", "--registry", "{registry}")),
    ("registry export", ("registry", "export", "{out}/export.tar", "--registry", "{registry}")),
    ("registry import", ("registry", "import", "{out}/export.tar", "--registry", "{out}/imported.db")),
    ("registry remove", ("registry", "remove", "entry-1", "--registry", "{registry}")),
    ("verify --help", ("verify", "--help")),
    ("keygen", ("keygen", "{out}/key")),
)
# runs a verb in this process and prints, last, the heavy modules it imported
_PROBE = """
import sys
from seedprints.cli import main
code = main(sys.argv[1:])
print("IMPORTED " + ",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
sys.exit(code)
"""


def _registry(path: Path) -> None:
    """A registry of three tiny fingerprints (numpy only)."""
    import numpy as np

    from seedprints.fingerprint import Fingerprint
    from seedprints.probes import token_spec
    from seedprints.registry import Registry

    rng = np.random.default_rng(0)
    with Registry.open(path) as reg:
        for i in range(3):
            fp = Fingerprint(hidden=rng.standard_normal((64, 16)).astype(np.float32), spec=token_spec(64, 4, 100),
                             model_id=f"models/m{i}", metadata={"dtype": "float32"})
            reg.add(fp, name=f"entry-{i}")


def _seconds(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[-6:])} failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return seconds, done.stderr


def measure(repeats: int) -> dict[str, Any]:
    """Median seconds of ``import numpy`` and of each verb; every number comes from this run.

    The runs are interleaved, ``repeats`` rounds of ``import numpy`` then every verb once, so that a change in the
    machine's load during the run moves the baseline and the verbs alike, and their ratio stays meaningful.
    """
    numpy_runs: list[float] = []
    runs: dict[str, list[float]] = {label: [] for label, _ in VERBS}
    imported: dict[str, str] = {}
    for _ in range(repeats):
        numpy_runs.append(_seconds([sys.executable, "-c", "import numpy"])[0])
        for label, verb in VERBS:
            with tempfile.TemporaryDirectory(prefix="bench-startup-") as work:
                registry = Path(work) / "registry.db"
                _registry(registry)
                args = [part.format(registry=registry, out=work) for part in verb]
                if label == "registry import":
                    _seconds([sys.executable, "-m", "seedprints", "registry", "export", f"{work}/export.tar",
                              "--registry", str(registry)])
                seconds, stderr = _seconds([sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args])
            runs[label].append(seconds)
            imported[label] = stderr.strip().splitlines()[-1].partition("IMPORTED")[2].strip()
    baseline = statistics.median(numpy_runs)
    verbs = []
    for label, _ in VERBS:
        median = statistics.median(runs[label])
        verbs.append({"verb": label, "seconds": median, "ratio": median / baseline,
                      "heavy_imports": [m for m in imported[label].split(",") if m]})
    return {"repeats": repeats, "import_numpy_seconds": baseline, "verbs": verbs,
            "worst_ratio": max(v["ratio"] for v in verbs)}


def _print(result: dict[str, Any]) -> None:
    if sys.dont_write_bytecode:
        print("note: PYTHONDONTWRITEBYTECODE is set, so every run compiles seedprints' modules from source (numpy's "
              "come compiled with it): the ratios are higher than an installed seedprints starts with", file=sys.stderr)
    print(f"python -c 'import numpy': {result['import_numpy_seconds']:.3f} s (median of {result['repeats']})")
    for verb in result["verbs"]:
        heavy = ", ".join(verb["heavy_imports"]) or "none"
        print(f"seedprints {verb['verb']}: {verb['seconds']:.3f} s, {verb['ratio']:.1f}x import numpy; imported {heavy}")
    print(f"worst start-up ratio: {result['worst_ratio']:.1f}x import numpy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command; the median counts (default 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        print("Error: --repeats must be at least 1", file=sys.stderr)
        return 1
    try:
        result = measure(args.repeats)
    except RuntimeError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2)) if args.json else _print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
