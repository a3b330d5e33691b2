"""A smoke run of bench/bench_scan.py: the two-stage scan is timed against the full one and ends in its summary line."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "bench" / "bench_scan.py"
_SPEC = importlib.util.spec_from_file_location("bench_scan", _PATH)
bench_scan = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench_scan)


def test_small_run_ends_with_the_projection_and_writes_its_page(capsys, tmp_path):
    assert bench_scan.main(["--entries", "12", "--d", "16", "--n", "200", "--json", "--out", str(tmp_path / "page.md")]) == 0
    out = capsys.readouterr().out.strip()
    [record] = json.loads(out[:out.rindex("]") + 1])
    assert record["verdicts_identical"] is True and record["stage2_entries"] >= 1
    last = out.splitlines()[-1]
    assert re.fullmatch(r"projected 10000 entries: \d+\.\d s; verdicts identical: yes", last), last
    page = (tmp_path / "page.md").read_text()
    assert "bench/bench_scan.py --entries 12 --d 16 --n 200 --json" in page and "## Power of stage 1" in page


def test_measure_finds_the_close_relatives():
    record = bench_scan.measure(12, 200, 16)
    assert record["relatives_flagged"] >= 1 and record["stage1_bytes"] > 0 and record["same_lineage_full"] >= 1
