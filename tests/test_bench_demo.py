"""bench/bench_demo.py: it runs the demo in a fresh process, times a reference workload and prints their ratio."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "bench" / "bench_demo.py"
_SPEC = importlib.util.spec_from_file_location("bench_demo", _PATH)
bench_demo = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench_demo)


@pytest.mark.slow
def test_prints_the_demo_time_and_its_ratio(capsys):
    quick = ["--pretrain-steps", "30", "--finetune-steps", "5", "--n", "100", "--length", "16"]
    code = bench_demo.main(["--reference-steps", "5", *quick])
    out = capsys.readouterr().out
    assert re.search(r"^seedprints demo --pretrain-steps 30 .*: \d+\.\d s wall, 7 pairs$", out, re.M), out
    assert re.search(r"^verdicts matching the truth: lineage \d/7, paper \d/7$", out, re.M), out
    assert re.search(r"^ratio to reference: \d+\.\d$", out, re.M), out
    assert code == (0 if "lineage 7/7" in out else 1)


def test_the_reference_workload_is_timed():
    assert bench_demo.reference_workload(2) > 0
