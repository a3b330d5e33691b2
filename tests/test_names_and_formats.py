"""JSON names and printed numbers: the lineage method's mean correlation under its right name, p-values after
underflow in the usual mantissa-exponent form, and no ``-0.0`` in a heatmap."""

from __future__ import annotations

import json

import pytest

from seedprints.report import format_p
from seedprints.report_html import _short_number

from .bad_inputs import build_workspace
from .conftest import run


@pytest.mark.parametrize(("p_value", "log10_p", "shown"), [
    (0.0, -649.85, "1.41e-650"),
    (0.0, -999.99999, "1e-1000"),
    (0.0, -400.0, "1e-400"),
    (3.21e-5, -4.4935, "3.21e-05"),
])
def test_p_values_print_as_mantissa_and_exponent(p_value, log10_p, shown):
    assert format_p(p_value, log10_p) == shown


def test_a_heatmap_cell_never_shows_minus_zero():
    assert _short_number(-0.0) == "0.0" and _short_number(-1e-17) == "0.0" and _short_number(2.34) == "2.3"


@pytest.mark.parametrize(("method", "named"), [("lineage", True), ("paper", False)])
def test_the_lineage_methods_mean_is_named_spearman(capsys, tmp_path, monkeypatch, method, named):
    monkeypatch.chdir(build_workspace(tmp_path))
    code, out, err = run(capsys, "compare", "base.fp", "suspect.fp", "--method", method, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert ("spearman_mean" in result) == named and result["tau_mean"] is not None
    if named:
        assert result["spearman_mean"] == result["tau_mean"]
