"""Human-readable renderings of results: verdict lines and tables (one result object feeds all outputs)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from seedprints.fingerprint import Fingerprint
from seedprints.stats.result import LineageResult


def format_p(p_value: float | None, log10_p: float) -> str:
    """The one way a p-value is shown to people: ``0.0312``, ``3.1e-05``, and below float range ``4e-1285``
    from log10 p (``p_value`` None: from log10 p alone; the JSON keeps ``p_value`` and ``log10_p`` in full)."""
    if p_value is None:
        p_value = 10.0**log10_p if log10_p > -300 else 0.0
    if p_value > 0 and math.isfinite(p_value) and p_value >= 1e-300:
        return f"{p_value:.3g}" if p_value >= 1e-3 else f"{p_value:.2g}"
    exponent = math.floor(log10_p)
    mantissa = float(f"{10 ** (log10_p - exponent):.2g}")
    if mantissa >= 10:  # 9.96 rounds up to the next power of ten
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:g}e{exponent}"


_DIGEST = re.compile(r"[0-9a-fA-F]{16,}")  # a tag value that is a hash, such as seeds register's config SHA-256
_DIGEST_SHOWN = 12


def tags_cell(tags: Mapping[str, str]) -> Text:
    """Tags as one table cell that stays one line: a hash value cut to its first 12 hex digits and ``…``, and the
    cell ending in ``…`` where the terminal is too narrow for the rest (``--json`` keeps every value in full)."""
    text = " ".join(f"{key}={_short_digest(value)}" for key, value in tags.items())
    return Text(text, no_wrap=True, overflow="ellipsis")


def _short_digest(value: str) -> str:
    return f"{value[:_DIGEST_SHOWN]}…" if _DIGEST.fullmatch(value) else value


def result_json(result: LineageResult) -> dict:
    """A result as the CLI's JSON shows it: every field, plus the mean correlation under its right name
    (``spearman_mean`` for the lineage method, whose ``tau_mean`` holds a Spearman mean)."""
    data = result.to_dict()
    if result.method == "lineage":
        data["spearman_mean"] = data["tau_mean"]
    return data


def verdict_line(result: LineageResult, ref_name: str = "reference", suspect_name: str = "suspect") -> str:
    """One sentence that states the verdict and the evidence behind it."""
    p = format_p(result.p_value, result.log10_p)
    if result.verdict == "same-lineage":
        return f"same-lineage: {suspect_name} shares {ref_name}'s initialisation (p = {p} < alpha = {result.alpha:g})"
    return f"independent: no evidence that {suspect_name} descends from {ref_name} (p = {p} >= alpha = {result.alpha:g})"


def result_table(result: LineageResult) -> Table:
    """The numbers behind a verdict: method, z, p, log10 p, k, n, and the mean same-index correlation
    (Kendall tau for the paper's test, Spearman for the default one)."""
    table = Table(show_header=True, header_style="bold")
    for column in ("method", "z", "p", "log10 p", "k", "n", "mean corr."):
        table.add_column(column, justify="right" if column != "method" else "left")
    tau = "-" if result.tau_mean is None else f"{result.tau_mean:.4f}"
    table.add_row(
        result.method, f"{result.z:.2f}", format_p(result.p_value, result.log10_p), f"{result.log10_p:.2f}",
        str(result.k), str(result.n), tau,
    )
    if "vocab_z" in result.details:  # the default test's two parts, so the evidence can be read apart
        table.caption = (f"hidden-dimension part z = {result.details['hidden_z']:.2f}; "
                         f"untrained-token logit part z = {result.details['vocab_z']:.2f}")
    elif "vocab_note" in result.details:  # say what this verdict cannot see
        table.caption = (f"hidden-dimension part z = {result.details['hidden_z']:.2f}; "
                         if "hidden_z" in result.details else "") + escape(result.details["vocab_note"])
    if "units_z" in result.details:  # the weight sketches' part: it sees relabelled hidden dimensions
        table.caption = f"{table.caption or ''}\nweight units part z = {result.details['units_z']:.2f}".strip()
    if "hidden_note" in result.details:  # padding-row probes left out of the hidden part
        table.caption = f"{table.caption or ''}\n{escape(result.details['hidden_note'])}".strip()
    return table


def fingerprint_table(fp: Fingerprint, path: str) -> Table:
    """What a fingerprint file holds: shape, probes, model, dtype, and its weight sketch when it has one."""
    table = Table(show_header=False)
    table.add_column("field")
    table.add_column("value")
    rows = {
        "file": path,
        "model": fp.model_id,
        "shape": f"{fp.n} x {fp.hidden_size}",
        "probes": fp.spec.describe(),
        "dtype": fp.metadata.get("dtype", "?"),
    }
    if fp.weights is not None:
        rows["weight sketch"] = fp.weights.describe()
    for key, value in rows.items():
        table.add_row(key, value)
    return table
