"""JSON names and printed numbers: the lineage method's mean correlation under its right name, p-values after
underflow in the usual mantissa-exponent form, and no ``-0.0`` in a heatmap."""

from __future__ import annotations

import json
import re

import pytest

from seedprints.reports.terminal import format_p, tags_cell
from seedprints.reports.figures import short_number

from .bad_inputs import build_workspace
from .conftest import run


@pytest.mark.parametrize(("p_value", "log10_p", "shown"), [
    (0.0, -1284.4, "4e-1285"),
    (0.0, -649.85, "1.4e-650"),
    (0.0, -999.99999, "1e-1000"),
    (0.0, -1000.001, "1e-1000"),
    (0.0, -400.0, "1e-400"),
    (3.12e-5, -4.5058, "3.1e-05"),
    (0.03124, -1.5053, "0.0312"),
    (1.0, 0.0, "1"),
])
def test_p_values_print_as_mantissa_and_exponent(p_value, log10_p, shown):
    assert format_p(p_value, log10_p) == shown
    assert format_p(None, log10_p) == shown  # from log10 p alone, as reports that keep only log10 p do


def test_a_hash_tag_shows_its_first_12_hex_digits():
    digest = "ab12" * 16
    cell = tags_cell({"seed": "3", "config": digest, "lab": "deadbeef", "note": digest + "!"})
    assert cell.plain == f"seed=3 config=ab12ab12ab12… lab=deadbeef note={digest}!"  # only a whole hex value is cut
    assert cell.no_wrap and cell.overflow == "ellipsis"  # a narrow terminal cuts the cell, it never wraps the row


def test_demo_and_verify_print_p_readably(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(build_workspace(tmp_path))
    code, out, err = run(capsys, "compare", "base.fp", "suspect.fp", "--bundle", "ev.json")
    assert code == 0, err
    code, out, err = run(capsys, "verify", "ev.json")
    assert code == 0, err
    line = next(line for line in out.splitlines() if " vs " in line)
    assert re.search(r"p = \d(\.\d)?e-\d+, log10 p = ", line) or re.search(r"p = 0\.\d+, log10 p = ", line), line


def test_a_heatmap_cell_never_shows_minus_zero():
    assert short_number(-0.0) == "0.0" and short_number(-1e-17) == "0.0" and short_number(2.34) == "2.3"


@pytest.mark.parametrize(("method", "named"), [("lineage", True), ("paper", False)])
def test_the_lineage_methods_mean_is_named_spearman(capsys, tmp_path, monkeypatch, method, named):
    monkeypatch.chdir(build_workspace(tmp_path))
    code, out, err = run(capsys, "compare", "base.fp", "suspect.fp", "--method", method, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert ("spearman_mean" in result) == named and result["tau_mean"] is not None
    if named:
        assert result["spearman_mean"] == result["tau_mean"]
