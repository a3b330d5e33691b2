"""A smoke run of bench/bench_real_decision.py on the tests' tiny models: it reaches a decision, times the plain
forward pass over the same tokens and the two dtypes, and prints the lines the docs quote."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "bench" / "bench_real_decision.py"
_SPEC = importlib.util.spec_from_file_location("bench_real_decision", _PATH)
bench_real_decision = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench_real_decision)


@pytest.mark.slow
def test_a_tiny_pair_is_decided_and_every_line_is_printed(capsys, tiny_llama_dir, tiny_llama_derived_dir):
    args = [str(tiny_llama_dir), str(tiny_llama_derived_dir), "--length", "8", "--budget", "400", "--fingerprint-n", "20"]
    assert bench_real_decision.main(args) == 0
    out = capsys.readouterr().out
    assert re.search(r"^decision: same-lineage in \d+\.\d s \(compare --early-stop from scratch\), (\d+) probes used \(\d+ tokens\)$",
                     out, re.M), out
    assert re.search(r"^ratio to plain forward: \d+\.\d\d$", out, re.M), out
    assert re.search(r"^default dtype speedup vs bfloat16: \d+\.\d\dx$", out, re.M), out


def test_a_folder_that_is_not_a_model_is_one_error_line(capsys, tmp_path, tiny_llama_dir):
    assert bench_real_decision.main([str(tiny_llama_dir), str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error: ") and "no config.json" in err and len(err.splitlines()) == 1


def test_a_failing_command_is_one_error_line(tiny_llama_dir):
    """A command that fails ends the benchmark with the command's own error line, not a traceback."""
    with pytest.raises(RuntimeError, match=r"failed \(exit 1\): Error: "):
        bench_real_decision._timed([*bench_real_decision._seedprints(), "compare", str(tiny_llama_dir), "/nonexistent"])
