"""The claims report: the table and the claimed-beside-measured graph, offline and escaped, rendered in headless
Chromium like the other reports."""

from __future__ import annotations

import html
import json
import re

import pytest

from seedprints.reports.claims_page import GRAPH_FILE, graph_svg
from seedprints.reports.html import write_report
from tests.test_report_html import EVIL, chromium, external_references, rendered_check, with_check_script  # noqa: F401


def _payload(model: str) -> dict:
    """A claims JSON with one row of each outcome, the model named ``model``."""
    def row(base, outcome, entry=None, log10_p=None):
        return {"model": model, "claimed_base": base, "relation": "finetune" if base else None, "outcome": outcome,
                "p_value": None if log10_p is None else 10**log10_p, "log10_p": log10_p,
                "p_adjusted": None if log10_p is None else min(1.0, 3 * 10**log10_p),
                "log10_p_adjusted": None if log10_p is None else min(0.0, log10_p + 0.48),
                "z": None if log10_p is None else -log10_p / 2, "reason": f"because {outcome}", "entry": entry or base}

    rows = [row("org/base", "confirmed", "base", -40.0), row("org/other", "not-supported", "other", -0.2),
            row("org/gone", "cannot-tell"), row(None, "unclaimed", "third", -12.0)]
    return {"claims": rows, "models": [{"name": model, "card": "model card: 3 claimed bases", "fingerprint": "computed",
                                        "error": None}],
            "registry": "refs.db", "alpha": 0.01, "correction": "holm", "tested": 2,
            "counts": {"confirmed": 1, "not-supported": 1, "cannot-tell": 1, "unclaimed": 1}, "command": "seedprints claims x"}


class TestPage:
    @pytest.mark.slow  # the claims run it reads
    def test_the_run_writes_a_report(self, world_run):
        payload, out = world_run
        index = out / "report" / "index.html"
        page = index.read_text()
        saved = json.loads((out / "report" / "results.json").read_text())
        assert saved["kind"] == "claims" and saved["claims"] == payload["claims"]
        for anchor in ('id="summary"', 'id="graph"', 'id="claims"', 'id="models"', 'id="provenance"'):
            assert anchor in page
        for outcome, count in payload["counts"].items():
            assert page.count(f'<tr class="{outcome}">') == count
        assert "10 models, 5 claims tested against registry" in page
        assert (out / "report" / GRAPH_FILE).read_text() in page
        assert external_references(page) == []

    def test_the_graph_draws_claims_by_outcome_and_measured_edges(self):
        svg = graph_svg(_payload("m"))
        lines = re.findall(r'<line [^>]*stroke="(#[0-9a-f]{6})"[^>]*><title>([^<]*)</title>', svg)
        claimed = [t for _, t in lines]
        assert claimed == ["m \u2192 base: agreeing: confirmed", "m \u2192 other: contradicting: not-supported",
                           "m \u2192 org/gone: cannot tell",  # left panel: every claim
                           "m \u2192 base: agreeing: confirmed", "m \u2192 third: unclaimed: measured, not claimed"]
        assert svg.count("<circle") == 2 * 5  # each panel: 4 bases and 1 model

    def test_names_are_escaped(self, tmp_path):
        index = write_report(tmp_path / "r", "claims", _payload(EVIL))
        page, svg = index.read_text(), (tmp_path / "r" / GRAPH_FILE).read_text()
        assert "<img src=x" not in page and "<img src=x" not in svg
        assert html.escape(EVIL, quote=True) in page


class TestChromium:
    @pytest.mark.slow  # the claims run it reads
    def test_the_page_renders_without_errors(self, chromium, world_run, tmp_path):  # noqa: F811
        _, out = world_run
        seen, console = rendered_check(chromium, with_check_script(out / "report" / "index.html"), tmp_path)
        assert seen["problems"] == [] and console == [] and seen["injected"] == 0
        assert seen["title"] == "seedprints claims: 10 models"
        models, bases = 10, 4  # bases: the entries base, other and wide, and the unregistered tiny-org/unknown
        assert seen["nodes"] == 2 * (models + bases)  # both panels

    def test_an_evil_name_does_not_run(self, chromium, tmp_path):  # noqa: F811
        index = write_report(tmp_path / "r", "claims", _payload(EVIL))
        seen, console = rendered_check(chromium, with_check_script(index), tmp_path)
        assert seen["problems"] == [] and console == [] and seen["injected"] == 0 and seen["title"].startswith("seedprints")
