"""A report's page, ``index.html``: title, summary, figures, tables, probe spec and provenance, self-contained (inline
CSS, ``data:`` images, one inline script allowed by its hash in a Content-Security-Policy), every user-given name
escaped. The claims page's body is :mod:`~seedprints.reports.claims_page`'s."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from pathlib import Path
from typing import Any

from seedprints.reports import claims_page
from seedprints.reports.figures import CANDIDATES_FILE, GRAPH_FILE, HEATMAP_FILE, as_count, ranked_candidates
from seedprints.reports.terminal import format_p
from seedprints.reports.words import skip_reason  # in words; the JSON keeps the short key

RESULTS_FILE = "results.json"  # the payload, beside index.html
_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; margin: 0; background: #fafafa; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5em 2em 3em; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: .3em; word-break: break-all; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
.summary { font-size: 1.05em; background: #f2f5fa; border-left: 4px solid #4a6fa5; padding: .7em 1em; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: .9em; }
img, svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: .9em; margin: .5em 0; }
th, td { padding: .3em .7em; border-bottom: 1px solid #e5e5e5; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, td.name, th.name { text-align: left; white-space: normal; word-break: break-all; }
table.sortable th { cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
tr.same-lineage td { background: #fdf0e6; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dt { color: #555; } dd { margin: 0; word-break: break-all; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .88em; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
"""
_SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var key = function (row) { var c = row.cells[col]; return c.dataset.v !== undefined ? c.dataset.v : c.textContent; };
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
      var order = isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny;
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def render_html(kind: str, payload: dict[str, Any], files: dict[str, bytes]) -> str:
    """The self-contained page: title, summary, figures, table, probe spec, and how it was made."""
    pages = {"matrix": _matrix_page, "compare": _compare_page, "identify": _identify_page, "claims": claims_page.page}
    title, summary, body = pages[kind](payload, files)
    script_hash = base64.b64encode(hashlib.sha256(_SORT_SCRIPT.encode()).digest()).decode()
    policy = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<title>{_esc(title)}</title><link rel="icon" href="data:,">',
        f"<style>{_CSS}</style></head>",
        "<body><main>",
        f"<h1>{_esc(title)}</h1>",
        f'<p class="summary" id="summary">{summary}</p>',
        body,
        _spec_section(payload),
        _provenance_section(payload),
        f"</main><script>{_SORT_SCRIPT}</script></body></html>",
        "",
    ])


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _p_cell(p_value: float, log10_p: float) -> str:
    """A table cell showing p (readable after underflow) that sorts by log10 p."""
    return f'<td data-v="{log10_p}">{_esc(format_p(p_value, log10_p))}</td>'


def _number(value: Any, digits: int = 2) -> str:
    return "\u2013" if value is None else f"{value:.{digits}f}"


def _matrix_page(payload: dict[str, Any], files: dict[str, bytes]) -> tuple[str, str, str]:
    models, pairs = payload["models"], payload["pairs"]
    label = {m["name"]: m["label"] for m in models}
    hits = sum(p["verdict"] == "same-lineage" for p in pairs)
    groups = "; ".join("{" + ", ".join(_esc(label[n]) for n in group) + "}" for group in payload["lineages"])
    summary = (
        f"{len(models)} models, {len(pairs)} ordered pairs tested with the <code>{_esc(payload['method'])}</code> test "
        f"at alpha = {_esc(format(payload['alpha'], 'g'))}: {hits} same-lineage. The verdicts group the models into "
        f"{len(payload['lineages'])} lineage{'s' if len(payload['lineages']) != 1 else ''}: {groups}. "
        "Each verdict is that pair's own test, not corrected for the number of pairs (for one suspect against many "
        "candidates with family-wise control, use <code>seedprints identify</code>)."
    )
    vocab = any("vocab_z" in p.get("details", {}) for p in pairs)
    head = ['<th class="name">reference</th>', '<th class="name">suspect</th>'] + [
        f"<th>{h}</th>" for h in ["verdict", "p", "z"] + (["hidden z", "vocab z"] if vocab else [])]
    rows = []
    for p in pairs:
        details = p.get("details", {})
        extra = (f'<td>{_number(details.get("hidden_z"))}</td><td>{_number(details.get("vocab_z"))}</td>' if vocab else "")
        rows.append(
            f'<tr class="{_esc(p["verdict"])}"><td class="name">{_esc(label[p["reference"]])}</td>'
            f'<td class="name">{_esc(label[p["suspect"]])}</td><td>{_esc(p["verdict"])}</td>{_p_cell(p["p_value"], p["log10_p"])}'
            f'<td>{_number(p["z"])}</td>{extra}</tr>'
        )
    names = "".join(f"<dt>{_esc(m['label'])}</dt><dd>{_esc(m['name'])} (d = {_esc(m['hidden_size'])})</dd>" for m in models)
    svg = files[GRAPH_FILE].decode()
    body = f"""<section id="heatmap"><h2>Evidence for every ordered pair</h2>
<figure><img id="heatmap-image" src="{_data_uri(files[HEATMAP_FILE])}" alt="heatmap of -log10 p, references as rows, suspects as columns">
<figcaption>Rows are references, columns suspects. {_directions(payload)} Also saved as {HEATMAP_FILE}.</figcaption>
</figure></section>
<section id="graph"><h2>Lineages</h2><figure>{svg}<figcaption>Also saved as {GRAPH_FILE}.</figcaption></figure></section>
<section id="pairs"><h2>All pairs</h2><p>Click a column header to sort.</p>
<table class="sortable"><thead><tr>{"".join(head)}</tr></thead>
<tbody>{"".join(rows)}</tbody></table></section>
<section id="models"><h2>Models</h2><dl>{names}</dl></section>"""
    return f"seedprints matrix: {len(models)} models", summary, body


def _directions(payload: dict[str, Any]) -> str:
    """What the matrix did about direction: one probe spec for every pair, and whether each pair's two directions agree."""
    spec = payload.get("probe_spec") or {}
    log10_p = {(p["reference"], p["suspect"]): p["log10_p"] for p in payload["pairs"]}
    differ = sum(1 for (a, b), value in log10_p.items() if a < b and (b, a) in log10_p and not _same(log10_p[b, a], value))
    both = sum(1 for a, b in log10_p if a < b and (b, a) in log10_p)
    said = f"Every pair was tested in both directions on the same probes (<code>{_esc(payload.get('probe_description', ''))}</code>)"
    if spec.get("output_tokens") and spec.get("untrained_from") is None:
        said += (", whose scored tokens a model chose (probes of seedprints before 0.2): their logits were not scored, so "
                 "a copy with permuted hidden dimensions is not recognised")
    agree = "agree for every pair" if not differ else f"differ for {differ} of {both} pairs"
    return f"{said}. The two directions {agree}."


def _same(x: float | None, y: float | None) -> bool:
    """Equal up to floating-point noise (None, an undefined value, equals only None)."""
    return x == y if x is None or y is None else math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def _compare_page(payload: dict[str, Any], files: dict[str, bytes]) -> tuple[str, str, str]:
    ref, suspect = payload["reference"], payload["suspect"]
    p = format_p(payload["p_value"], payload["log10_p"])
    if payload["verdict"] == "same-lineage":
        summary = (f"same-lineage: <b>{_esc(suspect)}</b> shares <b>{_esc(ref)}</b>'s initialisation "
                   f"(p = {_esc(p)} &lt; alpha = {_esc(format(payload['alpha'], 'g'))}).")
    else:
        summary = (f"independent: no evidence that <b>{_esc(suspect)}</b> descends from <b>{_esc(ref)}</b> "
                   f"(p = {_esc(p)} &ge; alpha = {_esc(format(payload['alpha'], 'g'))}).")
    details = payload.get("details", {})
    numbers = {"method": _esc(payload["method"]), "z": _number(payload["z"]), "p": _esc(p),
               "log10 p": _number(payload["log10_p"]), "k (dimensions)": _esc(payload["k"]), "n (probes)": _esc(payload["n"]),
               "mean correlation": _number(payload.get("tau_mean"), 4)}
    if "vocab_z" in details:
        numbers["hidden-dimension part z"] = _number(details.get("hidden_z"))
        numbers["untrained-token logit part z"] = _number(details.get("vocab_z"))
    elif "vocab_note" in details:
        numbers["hidden-dimension part z"] = _number(details.get("hidden_z"))
        numbers["vocab part"] = _esc(details["vocab_note"])
    if "units_z" in details:
        numbers["weight units part z"] = _number(details.get("units_z"))
    if "hidden_note" in details:
        numbers["padding-row probes"] = _esc(details["hidden_note"])
    rows = "".join(f"<tr><th>{key}</th><td>{value}</td></tr>" for key, value in numbers.items())
    body = f"""<section id="result"><h2>Result</h2><table>{rows}</table></section>
<section id="models"><h2>Models</h2><dl><dt>reference</dt><dd>{_esc(ref)}</dd><dt>suspect</dt><dd>{_esc(suspect)}</dd></dl></section>"""
    return f"seedprints compare: reference {_short(ref)}, suspect {_short(suspect)}", summary, body


def _identify_page(payload: dict[str, Any], files: dict[str, bytes]) -> tuple[str, str, str]:

    candidates = ranked_candidates(payload)
    tested, skipped = as_count(payload.get("tested")), as_count(payload.get("skipped"))
    reasons = payload.get("skipped")
    why = ("; ".join(f"{count} {_esc(skip_reason(reason))}" for reason, count in reasons.items())
           if isinstance(reasons, dict) else "incompatible probes or width")
    suspect = payload["suspect"]
    summary = (f"<b>{_esc(suspect)}</b> was tested against {tested} registered fingerprint{'s' if tested != 1 else ''} "
               f"({skipped} skipped" + (f": {why}" if skipped else "") + f"), alpha = {_esc(format(payload['alpha'], 'g'))}. ")
    if candidates:
        best = candidates[0]
        summary += (f"Strongest candidate: <b>{_esc(best['name'])}</b>, p = {_esc(format_p(best['p_value'], best['log10_p']))}, "
                    f"Holm-adjusted p = {_esc(format_p(best['p_holm'], best['log10_p_holm']))}: {_esc(best['verdict'])}.")
    else:
        summary += "No candidate was tested."
    rows = "".join(
        f'<tr class="{_esc(c["verdict"])}"><td>{rank}</td><td class="name">{_esc(c["name"])}</td><td>{_esc(c["verdict"])}</td>'
        f'{_p_cell(c["p_value"], c["log10_p"])}{_p_cell(c["p_holm"], c["log10_p_holm"])}{_p_cell(c["p_bh"], c["log10_p_bh"])}<td>{_number(c.get("z"))}</td></tr>'
        for rank, c in enumerate(candidates, start=1)
    )
    head = "".join(f'<th{" class=name" if h == "candidate" else ""}>{h}</th>'
                   for h in ("rank", "candidate", "verdict", "p", "p (Holm)", "p (BH)", "z"))
    body = f"""<section id="chart"><h2>Candidates</h2>
<figure><img id="candidates-image" src="{_data_uri(files[CANDIDATES_FILE])}" alt="ranked bar chart of -log10 p per candidate">
<figcaption>-log10 p of each candidate, strongest first; the dashed marks are Holm's threshold at each rank
(family-wise error at alpha over all tests). Also saved as {CANDIDATES_FILE}.</figcaption></figure></section>
<section id="candidates"><h2>Ranked candidates</h2><p>Click a column header to sort.</p>
<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></section>"""
    return f"seedprints identify: {_short(suspect)}", summary, body


def _short(name: str) -> str:
    return Path(str(name)).name or str(name)


def _spec_section(payload: dict[str, Any]) -> str:
    if payload.get("probe_hashes") and "probe_spec" not in payload:  # identify: the registry entries' specs
        hashes = ", ".join(f"<code>{_esc(h)}</code>" for h in payload["probe_hashes"])
        return (f'<section id="probes"><h2>Probes</h2><p>The suspect was tested on the probes of the registry entries '
                f"it was compared with: probe spec{'s' if len(payload['probe_hashes']) > 1 else ''} {hashes} "
                "(<code>seedprints registry show NAME</code> describes an entry's probes).</p></section>")
    if "probe_spec" not in payload and "probe_hash" not in payload:
        return ""
    described = payload.get("probe_description") or f"probe hash {payload.get('probe_hash')}"
    full = (f"<details><summary>Full spec (JSON)</summary><pre>{_esc(json.dumps(payload['probe_spec'], indent=1))}</pre></details>"
            if "probe_spec" in payload else "")
    return f'<section id="probes"><h2>Probes</h2><p><code>{_esc(described)}</code></p>{full}</section>'


def _settings_text(settings: dict[str, Any]) -> str:
    """Method settings as ``buffer_k = 4, identity_mode = coset, use_agg = no`` (unset ones read "default")."""
    return ", ".join(f"{key} = {_setting(value)}" for key, value in sorted(settings.items()))


def _setting(value: Any) -> str:
    if value is None:
        return "default"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _provenance_section(payload: dict[str, Any]) -> str:
    """The command, and the settings the numbers were computed with as the results record them (not CLI defaults)."""
    probes = payload.get("probe_description") or (", ".join(payload["probe_hashes"]) if payload.get("probe_hashes") else None)
    rows = {"command": payload.get("command"), "seedprints version": payload.get("seedprints_version"),
            "created": payload.get("created_at"), "probes used": probes,
            "probes tested": payload.get("n") if isinstance(payload.get("n"), int) else None,
            "method": payload.get("method"), "alpha": format(payload["alpha"], "g") if payload.get("alpha") else None,
            "method settings": _settings_text(payload["settings"]) if payload.get("settings") else None}
    items = "".join(f"<dt>{key}</dt><dd><code>{_esc(value)}</code></dd>" for key, value in rows.items() if value is not None)
    return (f'<section id="provenance"><h2>How this report was made</h2><dl>{items}</dl>'
            f"<p>All numbers are in {RESULTS_FILE} beside this page.</p></section>")
