"""bench/real_models.py, the bench that writes docs/real-models.md: its seedprints commands carry the weight sketch,
and its page shows the units part, the permutation notes and the fingerprint sizes with and without the sketch."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "bench" / "real_models.py"
_SPEC = importlib.util.spec_from_file_location("real_models", _PATH)
real_models = importlib.util.module_from_spec(_SPEC)
sys.modules["real_models"] = real_models  # its dataclasses look their module up there
_SPEC.loader.exec_module(real_models)

SKETCH = {"embedding_rows": 64, "layers": 2, "mlp_units": 64, "value_channels": 0}


def _args(**extra) -> argparse.Namespace:
    return argparse.Namespace(n=24, length=8, timeout=600, **extra)


def _fp(options: str, size: int, sketch: dict | None) -> dict:
    return {"seconds": 1.0, "rc": 0, "options": options, "bytes": size,
            "json": {"probe_spec": "token n=24", "dtype": "float32", "weight_sketch": sketch}}


def _state(rows: list[dict]) -> dict:
    summary = {"name": "tiny", "parts": [{"package": "p", "version": "1"}], "size": 1000, "sha256": "0" * 64,
               "architecture": "llama", "hidden": 16, "layers": 2, "vocab_rows": 100, "tensor_types": {"F32": 3},
               "token_embd": "F32", "output": None, "unused_ids": None}
    return {"args": _args(), "machine": {"cpu": "cpu", "cores": 1, "memory": 1 << 30, "python": "3", "load": 1.0},
            "source": real_models.BASE, "summary": summary, "version": "seedprints test", "command": "python bench",
            "total_seconds": 60.0, "audits": [], "base_label": "/models/hf", "base_probes": "token n=24",
            "base_fp": _fp("--n 24 --length 8 --weight-sketch --json --force", 5000, SKETCH),
            "base_plain_fp": _fp("--n 24 --length 8 --json --force", 3000, None),
            "attention": {"heads": 4, "kv_heads": 2}, "rows": rows, "recipes": [], "decision": None}


def _row(key: str, truth: str, result: dict, sketch: dict | None = SKETCH) -> dict:
    return {"key": key, "label": f"({key})", "truth": truth, "probes": "token n=24",
            "fp": _fp("--n 24 --length 8 --weight-sketch --json --force", 5000, sketch), "result": result}


def test_the_page_has_a_units_column_the_notes_and_the_sizes(tmp_path):
    seen = "a relabelling or rotation of the hidden dimensions could have been seen"
    rows = [
        _row("permute", "same-lineage", {"verdict": "same-lineage", "log10_p": -30.0, "details": {
            "hidden_z": 0.4, "units_z": 12.25, "units_units": 64, "units_alignment_fit": 0.98765,
            "units_log10_p": -33.3, "permutation_note": seen}}),
        _row("random-init", "independent", {"verdict": "independent", "log10_p": -0.1, "details": {
            "hidden_z": -0.5, "units_z": 0.3, "units_units": 64, "units_alignment_fit": 0.1,
            "units_log10_p": -0.4, "permutation_note": seen}}),
        _row("plain", "same-lineage", {"verdict": "same-lineage", "log10_p": -9.0, "details": {
            "hidden_z": 9.0, "permutation_note": "the units part did not run: none were given"}}, sketch=None),
        _row("broken", "same-lineage", {"error": "Error: compare refused"}),
    ]
    page = tmp_path / "page.md"
    real_models.write_page(page, _state(rows))
    text = page.read_text()
    expected = [
        "| suspect | truth | verdict | hidden z | vocab z | units z | log10 p | seconds |",
        "| (permute) | same-lineage | **same-lineage** | 0.4 | - | 12.2 | -30.0 | 1 |",
        "| (plain) | same-lineage | **same-lineage** | 9.0 | - | did not run | -9.0 | 1 |",
        "| (broken) | same-lineage | compare refused [1] | | | | | 1 |",
        f"- permute, random-init: {seen}",
        "- plain: the units part did not run: none were given",
        "| permute | 64 | 0.988 | -33.3 |",
        "-o base.fp.safetensors --n 24 --length 8 --weight-sketch --json --force` | 4.9 KiB (5000 bytes) |",
        "-o base-plain.fp.safetensors --n 24 --length 8 --json --force` | 2.9 KiB (3000 bytes) |",
        "The sketch adds 2.0 KiB (2000 bytes), 1.7x the file without it.",
        f"- `{json.dumps(SKETCH, sort_keys=True)}`: reference, permute, random-init, broken",
        "- `(none)`: plain",
        "2 key/value heads for 4 attention heads",
    ]
    assert [line for line in expected if line not in text] == [], text


@pytest.mark.slow
def test_fingerprint_records_the_sketch_and_the_file_size(tmp_path, tiny_llama_dir):
    """The command the bench runs, on the suite's tiny model: with the sketch the file is bigger and the JSON says
    what it holds; without it the JSON holds none."""
    with_sketch = real_models.fingerprint(tiny_llama_dir, tmp_path / "a.fp.safetensors", _args())
    without = real_models.fingerprint(tiny_llama_dir, tmp_path / "b.fp.safetensors", _args(), sketch=False)
    assert "error" not in with_sketch and "error" not in without, (with_sketch, without)
    assert "--weight-sketch" in with_sketch["options"] and "--weight-sketch" not in without["options"]
    assert real_models.sketch_of(with_sketch)["embedding_rows"] > 0 and real_models.sketch_of(without) is None
    assert with_sketch["bytes"] > without["bytes"] == (tmp_path / "b.fp.safetensors").stat().st_size
