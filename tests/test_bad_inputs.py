"""Every bad input of the cases table gets its one-line answer, and docs/bad-inputs.md shows exactly those answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .bad_inputs import CASES, render, run_all

DOC = Path(__file__).resolve().parents[1] / "docs" / "bad-inputs.md"
LONG_FLOAT = re.compile(r"-?\d+\.\d{7,}")  # a statistic quoted in a message: its last digits depend on the BLAS build


def _portable(text: str) -> str:
    """``text`` with long floats cut to 6 decimals, so a page made on another machine still matches."""
    return LONG_FLOAT.sub(lambda m: f"{float(m.group()):.6f}", text)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    return {o.case.id: o for o in run_all(tmp_path_factory.mktemp("bad-inputs"))}


def _param(case):
    marks = [pytest.mark.xfail(strict=True, reason=case.known_bug)] if case.known_bug else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_one_clear_line_and_nothing_written(outcomes, case):
    outcome = outcomes[case.id]
    assert outcome.exit_code == case.exit_code, outcome.stderr
    assert "Traceback" not in outcome.stderr and "unexpected" not in outcome.answer
    assert case.fragment in outcome.answer, outcome.stderr
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    if case.exit_code == 1:  # errors: exactly one line; usage errors: click's usage hint, then one Error line
        assert lines == [outcome.answer]
    else:
        assert [line for line in lines if line.startswith("Error")] == [outcome.answer]
    assert not outcome.changed_files


def test_case_ids_are_unique():
    assert len({c.id for c in CASES}) == len(CASES)


def test_docs_page_matches_the_cases(outcomes):
    expected = render(list(outcomes.values()))
    assert DOC.is_file(), "run `make docs-bad-inputs`"
    assert _portable(DOC.read_text()) == _portable(expected), "docs/bad-inputs.md is stale: run `make docs-bad-inputs`"


def test_long_floats_are_compared_to_six_decimals():
    assert _portable("log10 p is -81.05085022289192 but") == _portable("log10 p is -81.0508502228919 but")
    assert _portable("z 3.1234567") != _portable("z 3.1234577")
