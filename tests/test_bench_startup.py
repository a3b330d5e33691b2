"""bench/bench_startup.py: the verbs that run no model import neither torch, transformers nor scipy.stats."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "bench" / "bench_startup.py"
_SPEC = importlib.util.spec_from_file_location("bench_startup", _PATH)
bench_startup = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench_startup)


def test_no_model_verb_imports_a_heavy_library(capsys):
    assert bench_startup.main(["--repeats", "1"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("seedprints ")]
    assert len(lines) == len(bench_startup.VERBS)
    assert all(line.endswith("imported none") for line in lines), out
    assert re.search(r"^worst start-up ratio: \d+\.\dx import numpy$", out, re.M), out


def test_the_probe_sees_a_heavy_import():
    """The check is live: the same probe, with torch imported before the verb, reports torch."""
    probe = bench_startup._PROBE.format(heavy=bench_startup.HEAVY).replace("import sys\n", "import sys\nimport torch\n", 1)
    _, stderr = bench_startup._seconds([sys.executable, "-c", probe, "--help"])
    assert stderr.strip().splitlines()[-1] == "IMPORTED torch"


def test_the_quick_paths_leave_out_what_they_do_not_need(tmp_path):
    """--help imports no rich, and registry list no rank code: the cuts that keep them within 3x import numpy."""
    registry = tmp_path / "registry.db"
    bench_startup._registry(registry)
    for args, absent in ((["--help"], ("rich",)),
                         (["registry", "list", "--registry", str(registry)], ("seedprints.encoding", "seedprints.search.screen"))):
        _, stderr = bench_startup._seconds([sys.executable, "-c", bench_startup._PROBE.format(heavy=absent), *args])
        assert stderr.strip().splitlines()[-1].partition("IMPORTED")[2].strip() == "", (args, stderr)
