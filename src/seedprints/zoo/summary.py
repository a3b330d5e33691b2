"""The results page of a zoo evaluation (``summary.md``), rendered from an :class:`~seedprints.zoo.results.EvalReport`.

Sections: how the page was produced, all methods side by side (rows = categories, columns =
detection rate or false-positive rate per method), the paper's claims beside ours, one detailed
table per method, the failed models, and the plots.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seedprints.errors import UsageError
from seedprints.inputs import special_file
from seedprints.reports.terminal import format_p
from seedprints.zoo.truth import INDEP

if TYPE_CHECKING:
    from seedprints.zoo.results import EvalReport


def _cell(text: Any) -> str:
    """Table-safe text: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _p(log10_p: float | None) -> str:
    if log10_p is None or math.isnan(log10_p):
        return "-"
    return format_p(None, log10_p)


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def _pct(value: float | None) -> str:
    """A rate in percent; one decimal below 10%, where false-positive rates live."""
    if value is None:
        return "-"
    return f"{100 * value:.1f}%" if 0 < value < 0.1 else f"{100 * value:.0f}%"


def _ci(ci: list[float | None]) -> str:
    lower, upper = ci
    return "-" if lower is None or upper is None else f"[{_pct(lower)}, {_pct(upper)}]"


def _rate_cell(row: dict[str, Any], with_ci: bool) -> str:
    text = f"{row['positives']}/{row['pairs']} ({_pct(row['rate'])})"
    return f"{text} {_ci(row['ci'])}" if with_ci else text


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _side_by_side(report: "EvalReport") -> list[str]:
    methods = list(report.summaries)
    rows = []
    for category, truth in report.categories():
        cells = [category, truth, "detection" if truth != INDEP else "false positives"]
        for method in methods:
            match = next((r for r in report.summaries[method]["categories"] if r["category"] == category), None)
            cells.append("-" if match is None else _rate_cell(match, with_ci=truth == INDEP))
        rows.append(cells)
    rows.append(["**all same-lineage**", "same-lineage", "detection"]
                + [_rate_cell(report.summaries[m]["detection"], with_ci=False) for m in methods])
    rows.append(["**all independent**", "independent", "false positives"]
                + [_rate_cell(report.summaries[m]["false_positive"], with_ci=True) for m in methods])
    rows.append(["**independent lineage pairs**", "independent", "median p < alpha"]
                + [_rate_cell(report.summaries[m]["false_positive_lineage_pairs"], with_ci=True) for m in methods])
    rows.append(["**ROC AUC** (-log10 p)", "", ""] + [_num(report.summaries[m]["auc"], ".3f") for m in methods])
    return _table(["category", "truth", "rate"] + [f"`{m}`" for m in methods], rows)


def _claims(report: "EvalReport") -> list[str]:
    rows = []
    for method, summary in report.summaries.items():
        for claim in summary["claims"]:
            if claim["pairs"]:
                ours = (f"median p {_p(claim['median_log10_p'])} (range {_p(claim['min_log10_p'])} .. "
                        f"{_p(claim['max_log10_p'])}); {claim['positives']}/{claim['pairs']} with p < alpha")
                verdict = "yes" if claim["matches"] else "no"
            else:
                ours, verdict = "no pairs in this zoo", "-"
            rows.append([claim["claim"], claim["paper"], f"`{method}`", claim["ours"], ours, verdict, claim["rule"]])
    return _table(["claim", "paper", "method", "our pairs", "ours", "matches", "rule"], rows)


def _method_section(method: str, summary: dict[str, Any]) -> list[str]:
    rows = [
        [row["category"], row["truth"], str(row["pairs"]), str(row["positives"]), _pct(row["rate"]), _ci(row["ci"]),
         _num(row["median_log10_p"]), _num(row["median_z"]), f"{_p(row['min_log10_p'])} .. {_p(row['max_log10_p'])}"]
        for row in summary["categories"]
    ]
    fp = summary["false_positive"]
    lines = [f"## Method `{method}`", ""]
    lines += _table(["category", "truth", "pairs", "p < alpha", "rate", "95% CI", "median log10 p", "median z",
                     "p range"], rows)
    lines += [
        "",
        f"- False-positive rate over all {fp['pairs']} independent pairs: {_pct(fp['rate'])} "
        f"(95% Clopper-Pearson {_ci(fp['ci'])}) at alpha = {summary['alpha']:g}.",
        f"- Grouped by the two lineages involved (pairs of models from the same two lineages are strongly "
        f"dependent), {summary['false_positive_lineage_pairs']['positives']} of "
        f"{summary['false_positive_lineage_pairs']['pairs']} independent lineage pairs had a median p below alpha "
        f"(95% Clopper-Pearson {_ci(summary['false_positive_lineage_pairs']['ci'])}).",
        f"- Detection rate over all {summary['detection']['pairs']} same-lineage pairs: {_pct(summary['detection']['rate'])}.",
        f"- ROC AUC (score -log10 p): {_num(summary['auc'], '.3f')}.",
    ]
    if summary["low_power"]:
        lines.append(f"- {summary['low_power']} of {summary['pairs']} tests warned of low power (few dimensions).")
    if summary["errors"]:
        lines.append(f"- {summary['errors']} pair(s) raised an error (see results.json).")
    return lines + [""]


def _regime_section(method: str, summary: dict[str, Any]) -> list[str]:
    """Every category of every training regime, with the z of each part of the test."""
    regimes = summary.get("regimes", [])
    if not regimes:
        return []
    headline = [[r["regime"], _rate_cell(r["false_positive"], with_ci=True),
                 _rate_cell(r["false_positive_lineage_pairs"], with_ci=True), _rate_cell(r["detection"], with_ci=False)]
                for r in regimes]
    rows = [
        [r["regime"], row["category"], row["truth"], str(row["pairs"]), str(row["positives"]), _pct(row["rate"]),
         _ci(row["ci"]), _num(row["median_z"]), _num(row.get("median_hidden_z")), _num(row.get("max_hidden_z")),
         _num(row.get("median_vocab_z")), _num(row.get("max_vocab_z"))]
        for r in regimes for row in r["categories"]
    ]
    lines = [f"## Method `{method}` per training regime", ""]
    lines += _table(["regime", "false positives (pairs)", "false positives (lineage pairs)", "detection"], headline)
    lines += [""]
    lines += _table(["regime", "category", "truth", "pairs", "p < alpha", "rate", "95% CI", "median z",
                     "median hidden z", "max hidden z", "median vocab z", "max vocab z"], rows)
    return lines + ["", "Regimes: `unseen-tail` (same data and order; many tokens of the tokenizer never occur), "
                    "`seen-tail` (the same, with every token of the tokenizer trained 1 to 20 times), "
                    "`shared-tokenizer` (one tokenizer, each lineage its own overlapping 60% of the data and its own "
                    "order), `tied-collapsed` (tied embeddings, the unseen-tail data, untrained rows collapsed onto "
                    "one vector as in a long run, stored in bf16); `cross-regime` pairs two regimes. z columns: the lineage test's hidden-dimension and "
                    "vocabulary parts (`-` where a method has none).", ""]


def worst_regime(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The regime with the highest false-positive rate over its independent pairs (None without regimes)."""
    regimes = [r for r in summary.get("regimes", []) if r["false_positive"]["pairs"]]
    return max(regimes, key=lambda r: (r["false_positive"]["rate"], r["false_positive"]["ci"][1])) if regimes else None


def render_summary(report: "EvalReport") -> str:
    """The Markdown results page of a zoo evaluation."""
    settings = report.settings
    specs = settings.get("probe_specs", {})
    n_models, n_failed = len(report.models), len(report.failed)
    lines = [
        "# Zoo evaluation",
        "",
        f"Produced by `{settings.get('command', 'seedprints zoo eval')}`",
        "",
        f"- Zoo: `{settings.get('zoo_dir')}`: {n_models} models evaluated, {n_failed} failed.",
        f"- Pairs tested: {len(report.pairs)}; skipped (different hidden sizes): "
        f"{report.skipped.get('different_width', 0)}.",
        f"- Probes: {'; '.join(s['describe'] for s in specs.values()) or '-'}.",
        f"- alpha = {settings.get('alpha', 0.01):g}; methods: {', '.join(f'`{m}`' for m in report.summaries)}.",
        "- Ground truth: same lineage when the manifests' lineages intersect (a shared initialisation). "
        "Pairs are oriented ancestor → descendant, else fewer training steps first.",
        "",
    ]
    if report.summaries:
        lines += ["## All methods side by side", ""]
        lines += _side_by_side(report)
        lines += ["", "Detection rows: share of same-lineage pairs with p < alpha. False-positive rows: share of "
                  "independent pairs with p < alpha, with a 95% Clopper-Pearson interval.", ""]
        lines += ["## The paper's claims beside ours", ""]
        lines += _claims(report)
        lines += [""]
        for method, summary in report.summaries.items():
            lines += _method_section(method, summary)
            lines += _regime_section(method, summary)
    if report.failed:
        lines += ["## Failed models", ""]
        lines += _table(["model", "path", "message"], [[f.name, f.path, f.message] for f in report.failed])
        lines += [""]
    plots = [(key, path) for key, path in report.paths.items() if str(path).endswith(".png")]
    if plots:
        lines += ["## Plots", ""]
        for key, path in plots:
            lines += [f"![{key}]({path.name})", ""]
    return "\n".join(lines).rstrip() + "\n"


README_START = "<!-- zoo-results:start (written by seedprints zoo eval --update-readme) -->"
README_END = "<!-- zoo-results:end -->"


def readme_block(report: "EvalReport") -> str:
    """A few lines of headline error rates per method, for the README (written, never typed by hand)."""
    lines = [README_START, "", f"Measured by `{report.settings.get('command', 'seedprints zoo eval')}`:", ""]
    for method, summary in report.summaries.items():
        fp, det = summary["false_positive"], summary["detection"]
        missed = [row["category"] for row in summary["categories"]
                  if row["truth"] != INDEP and row["rate"] is not None and row["rate"] < 1]
        worst = worst_regime(summary)
        worst_text = "" if worst is None else (
            f"false-positive rate {_pct(worst['false_positive']['rate'])} in its worst training regime "
            f"(`{worst['regime']}`: {worst['false_positive']['positives']} of {worst['false_positive']['pairs']} "
            f"independent pairs, 95% CI {_ci(worst['false_positive']['ci'])}); ")
        lines.append(
            f"- `{method}`: {worst_text}{_pct(fp['rate'])} over all {fp['pairs']} independent pairs "
            f"(95% CI {_ci(fp['ci'])}); detection {_pct(det['rate'])} of {det['pairs']} same-lineage pairs"
            + (f"; below 100% in: {', '.join(missed)}." if missed else ", every category at 100%.")
        )
    lines += ["", README_END]
    return "\n".join(lines)


def read_readme(path: Path) -> str:
    """A README's text, checked to hold the results-block markers."""
    if special_file(path):
        raise UsageError(f"README {path} is not a regular file (a pipe or device); give a file")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read README {path}: {exc.strerror}; check the path") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"README {path} is not UTF-8 text; give the Markdown README to update") from exc
    update_readme(text, "")
    return text


def update_readme(text: str, block: str) -> str:
    """Replace the marked results block of a README; refuse a README without the markers."""
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise UsageError(f"the README has no results block; add the lines {README_START!r} and {README_END!r} where it goes")
    return text[:start] + block + text[end + len(README_END):]
