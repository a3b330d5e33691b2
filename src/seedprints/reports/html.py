"""Offline HTML reports of ``matrix``, ``compare``, ``identify`` and ``claims``: one folder, written all at once.

A report folder holds ``results.json`` (the payload), the figures as files, and ``index.html``,
which needs nothing outside itself: CSS is inline, images are ``data:`` URIs or inline SVG, the one
script (table sorting) is inline, and a Content-Security-Policy forbids every external load. Every
name that comes from the user (model paths) is HTML-escaped. The folder is built in a temporary
folder beside the target and renamed into place, so a failure leaves nothing half-written.

Example:
    >>> from seedprints.search.matrix import run_matrix                                        # doctest: +SKIP
    >>> write_report("report", "matrix", run_matrix(["a.fp", "b.fp"]).to_dict())       # doctest: +SKIP
    PosixPath('report/index.html')
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from seedprints import __version__
from seedprints import tempfiles
from seedprints.errors import OutputPathError, UsageError
from seedprints.probes import ProbeSpec
from seedprints.reports import claims_page
from seedprints.reports.terminal import format_p
from seedprints.reports.words import skip_reason  # in words; the JSON keeps the short key

REPORT_KINDS = ("matrix", "compare", "identify", "claims")
RESULTS_FILE = "results.json"
HEATMAP_FILE = "heatmap.png"
GRAPH_FILE = "lineage-graph.svg"
CANDIDATES_FILE = "candidates.png"
REPORT_FILES = frozenset({RESULTS_FILE, HEATMAP_FILE, GRAPH_FILE, CANDIDATES_FILE, claims_page.GRAPH_FILE, "index.html"})
HEATMAP_CAP = 20.0  # -log10 p at or above this gets the darkest colour
_ANNOTATE_MAX = 30  # models; above this the heatmap cells are too small for numbers
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
_LONE = "#9aa0a6"

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


# ----------------------------------------------------------------------------------------------------------------------
# Writing the folder


def check_report_dir(path: str | Path, *, force: bool = False) -> Path:
    """Fail fast, before any expensive work, if a report cannot be written to ``path``.

    ``path`` must not exist, be an empty folder, or (with ``force``) hold a previous report (a
    folder with ``results.json`` and only the files a report has: ``force`` never deletes anything else).

    Raises
    ------
    OutputPathError
        ``path`` is a file, a non-empty folder (without ``force``), a folder that is not a report,
        or its parent folder is missing or not writable.
    """
    path = Path(path)
    parent = path.parent
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"report folder {path} is a file; give the name of a new folder")
    if path.is_dir() and any(path.iterdir()):
        if not force:
            raise OutputPathError(f"report folder {path} is not empty; choose a new folder, or pass --force to replace it")
        foreign = sorted(p.name for p in path.iterdir() if p.name not in REPORT_FILES or p.is_symlink() or not p.is_file())
        if foreign or not (path / RESULTS_FILE).is_file():
            held = f"it holds {', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''}" if foreign else f"no {RESULTS_FILE}"
            raise OutputPathError(
                f"report folder {path} holds something other than a seedprints report ({held}); "
                "--force only replaces a previous report, so choose a new folder"
            )
    if not parent.is_dir():
        raise OutputPathError(f"cannot write report {path}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write report {path}: folder {parent} is not writable; choose another location")
    return path


def write_report(out_dir: str | Path, kind: str, payload: dict[str, Any], *, force: bool = False) -> Path:
    """Write a report folder for a ``matrix``, ``compare``, ``identify`` or ``claims`` result; return its ``index.html``.

    Parameters
    ----------
    out_dir : str or Path
        The folder to create (see :func:`check_report_dir`).
    kind : {"matrix", "compare", "identify", "claims"}
        What ``payload`` holds: :meth:`seedprints.search.matrix.MatrixResult.to_dict`; a
        :class:`~seedprints.stats.result.LineageResult` dict plus ``reference`` and ``suspect``;
        identify's JSON (``suspect``, ``alpha``, ``tested``, ``skipped``, ``candidates``); or
        :meth:`seedprints.claims.running.ClaimsResult.to_dict` (page: :mod:`seedprints.reports.claims_page`).
        Optional keys shown when present: ``command``, ``probe_spec``, ``probe_description``.
    payload : dict
        Plain JSON types; written as ``results.json`` with ``kind``, ``schema_version``,
        ``seedprints_version`` and ``created_at`` added when absent.
    force : bool
        Replace a previous report in ``out_dir``.

    Returns
    -------
    Path
        ``out_dir / "index.html"``.
    """
    if kind not in REPORT_KINDS:
        raise UsageError(f"unknown report kind {kind!r}; choose one of {', '.join(REPORT_KINDS)}")
    out_dir = check_report_dir(out_dir, force=force)
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    payload = {"schema_version": 1, "kind": kind, "seedprints_version": __version__, "created_at": created, **payload}
    files: dict[str, bytes] = {RESULTS_FILE: (json.dumps(payload, indent=2, allow_nan=False) + "\n").encode()}
    if kind == "matrix":
        files[HEATMAP_FILE] = heatmap_png(payload)
        files[GRAPH_FILE] = lineage_graph_svg(payload).encode()
    elif kind == "identify":
        files[CANDIDATES_FILE] = candidates_png(payload)
    elif kind == "claims":
        files[claims_page.GRAPH_FILE] = claims_page.graph_svg(payload).encode()
    files["index.html"] = render_html(kind, payload, files).encode()
    write_folder(out_dir, files)
    return out_dir / "index.html"


def write_folder(out_dir: Path, files: dict[str, bytes]) -> None:
    """Build the folder of ``files`` (name -> bytes) beside ``out_dir`` and rename it into place (a previous folder
    there is removed only after), so a failure leaves nothing half-written."""
    try:
        tmp = tempfiles.temp_dir(out_dir)
    except OSError as exc:
        raise OutputPathError(f"cannot write report {out_dir}: {exc.strerror}; choose a writable location") from exc
    old: Path | None = None
    try:
        for name, data in files.items():
            with open(tmp / name, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, 0o777 & ~tempfiles.umask())  # mkdtemp makes 0700; give the folder the usual mode
        if out_dir.is_dir() and any(out_dir.iterdir()):
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)  # replaces an empty folder, or none
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and out_dir.exists():
            old.rmdir()  # the previous report never moved: drop its empty placeholder
        elif old is not None:
            os.replace(old, out_dir)  # put the previous report back
        if isinstance(exc, OSError):
            raise OutputPathError(f"cannot write report {out_dir}: {exc.strerror}; choose a writable location") from exc
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def spec_fields(spec: ProbeSpec) -> dict[str, Any]:
    """The probe spec as a report shows it: ``probe_spec`` (JSON fields), ``probe_description``, ``probe_hash``."""
    return {"probe_spec": json.loads(spec.to_json()), "probe_description": spec.describe(), "probe_hash": spec.hash}


# ----------------------------------------------------------------------------------------------------------------------
# Figures


def _neglog10(log10_p: float | None) -> float:
    return float("nan") if log10_p is None else -float(log10_p)


def _short_number(value: float) -> str:
    """-log10 p for a heatmap cell: ``2.3``, ``523``, ``1.2e+05``; never ``-0.0`` (p = 1 gives -log10 p = -0.0)."""
    value = max(value, 0.0) + 0.0  # + 0.0 turns -0.0 into 0.0
    if value < 100:
        return f"{value:.1f}"
    return f"{value:.0f}" if value < 1e5 else f"{value:.1e}"


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def heatmap_png(payload: dict[str, Any]) -> bytes:
    """PNG of -log10 p for every ordered pair (reference rows, suspect columns), annotated, colour capped."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    labels = [_clip(m["label"]) for m in payload["models"]]
    index = {m["name"]: i for i, m in enumerate(payload["models"])}
    k = len(labels)
    values = np.full((k, k), np.nan)
    same = np.zeros((k, k), dtype=bool)
    for pair in payload["pairs"]:
        i, j = index[pair["reference"]], index[pair["suspect"]]
        values[i, j] = _neglog10(pair["log10_p"])
        same[i, j] = pair["verdict"] == "same-lineage"
    side = max(4.5, 0.55 * k + 2.8)
    fig = Figure(figsize=(side + 1.2, side), dpi=110, layout="constrained")
    ax = fig.subplots()
    cmap = colormaps["YlOrRd"].with_extremes(bad="#e0e0e0")
    image = ax.imshow(np.ma.masked_invalid(np.minimum(values, HEATMAP_CAP)), cmap=cmap, vmin=0, vmax=HEATMAP_CAP)
    font = 9 if k <= 10 else 7
    # parse_math=False: a "$" in a model path must not start matplotlib's math mode
    ax.set_xticks(range(k), labels, rotation=40, ha="right", rotation_mode="anchor", fontsize=font, parse_math=False)
    ax.set_yticks(range(k), labels, fontsize=font, parse_math=False)
    ax.set_xlabel("suspect")
    ax.set_ylabel("reference")
    if k <= _ANNOTATE_MAX:
        for i in range(k):
            for j in range(k):
                if i != j and not math.isnan(values[i, j]):
                    dark = values[i, j] > 0.6 * HEATMAP_CAP
                    ax.text(j, i, _short_number(values[i, j]), ha="center", va="center", fontsize=font - 1,
                            color="white" if dark else "black", fontweight="bold" if same[i, j] else "normal",
                            parse_math=False)
    colorbar = fig.colorbar(image, ax=ax, shrink=0.8)
    colorbar.set_label(f"-log10 p (colour capped at {HEATMAP_CAP:g})")
    ax.set_title(f"{payload['method']} test, -log10 p (bold: p < alpha)", fontsize=10)
    return _png(fig)


def candidates_png(payload: dict[str, Any]) -> bytes:
    """Ranked horizontal bars of -log10 p per candidate, with Holm's threshold at each rank."""
    import numpy as np
    from matplotlib.figure import Figure

    candidates = _ranked_candidates(payload)
    tested = max(_count(payload.get("tested")), len(candidates), 1)
    alpha = float(payload["alpha"])
    count = max(1, len(candidates))
    fig = Figure(figsize=(7.5, max(2.6, 0.32 * count + 1.4)), dpi=110, layout="constrained")
    ax = fig.subplots()
    y = np.arange(count)
    values = [max(0.0, _neglog10(c["log10_p"])) for c in candidates]
    colours = ["#d62728" if c["verdict"] == "same-lineage" else "#7f8c99" for c in candidates]
    if candidates:
        ax.barh(y[: len(candidates)], values, color=colours, height=0.7)
    # Holm compares the i-th smallest p (0-based rank i) with alpha / (m - i)
    holm = [-math.log10(alpha / (tested - i)) for i in range(count)]
    ax.vlines(holm, y - 0.45, y + 0.45, color="black", linestyle="--", linewidth=1.2,
              label=f"Holm threshold at each rank (alpha = {alpha:g}, {tested} tests)")
    ax.set_yticks(y[: len(candidates)], [_clip(c["name"]) for c in candidates], fontsize=8, parse_math=False)
    ax.set_ylim(count - 0.5, -0.5)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("-log10 p (linear below 10, logarithmic above)")
    ax.set_title("Candidates ranked by evidence (red: same-lineage)", fontsize=11)
    ax.legend(fontsize=8, loc="lower right")
    return _png(fig)


def _ranked_candidates(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(payload.get("candidates") or [], key=lambda c: (c["log10_p"], -(c.get("z") or 0.0)))


def _clip(label: str, width: int = 28) -> str:
    """A label cut to ``width`` characters in the middle, for figures (the page lists every full name)."""
    if len(label) <= width:
        return label
    head = (width - 1) // 2
    return label[:head] + "\u2026" + label[len(label) - (width - 1 - head):]


def _count(value: Any) -> int:
    """A count given as a number, as the list of the things counted, or as counts by reason."""
    if isinstance(value, dict):
        return sum(int(v) for v in value.values())
    return len(value) if isinstance(value, (list, tuple)) else int(value or 0)


def _graph_edges(payload: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """Unordered model pairs with a same-lineage verdict -> the references of those verdicts."""
    order = {m["name"]: i for i, m in enumerate(payload["models"])}
    edges: dict[tuple[str, str], set[str]] = {}
    for pair in payload["pairs"]:
        if pair["verdict"] == "same-lineage":
            key = tuple(sorted((pair["reference"], pair["suspect"]), key=order.__getitem__))
            edges.setdefault(key, set()).add(pair["reference"])  # type: ignore[arg-type]
    return edges


def lineage_graph_svg(payload: dict[str, Any]) -> str:
    """SVG of the models on a circle, grouped and coloured by lineage; an edge for each same-lineage verdict.

    Solid edges: same-lineage in both directions; dashed arrows: only with the arrow's tail as reference.
    """
    labels = {m["name"]: m["label"] for m in payload["models"]}
    groups = payload["lineages"]
    slots = [name for group in groups for name in [*group, None]][:-1] if len(groups) > 1 else list(groups[0])
    radius = max(110.0, 64 * len(slots) / (2 * math.pi))
    margin_x, margin_y = 190.0, 60.0
    width, height = 2 * (radius + margin_x), 2 * (radius + margin_y) + 60  # room for the two-line legend
    cx, cy = width / 2, radius + margin_y
    where: dict[str, tuple[float, float, float]] = {}
    for slot, name in enumerate(slots):
        if name is not None:
            angle = -math.pi / 2 + 2 * math.pi * slot / len(slots)
            where[name] = (cx + radius * math.cos(angle), cy + radius * math.sin(angle), angle)
    colour = {}
    multi = [g for g in groups if len(g) > 1]
    for group in groups:
        for name in group:
            colour[name] = _PALETTE[multi.index(group) % len(_PALETTE)] if len(group) > 1 else _LONE
    node_r = 9.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="lineage graph" font-family="sans-serif">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>',
    ]
    for (a, b), refs in _graph_edges(payload).items():
        (x1, y1, _), (x2, y2, _) = where[a], where[b]
        if len(refs) == 1 and b in refs:
            (x1, y1), (x2, y2) = (x2, y2), (x1, y1)
            a, b = b, a
        length = math.hypot(x2 - x1, y2 - y1) or 1.0
        ux, uy = (x2 - x1) / length, (y2 - y1) / length
        both = len(refs) == 2
        style = 'stroke-width="2.5"' if both else 'stroke-width="1.5" stroke-dasharray="6 4" marker-end="url(#arrow)"'
        what = f"{a} and {b}: same-lineage both ways" if both else f"{b} descends from reference {a}; not the other way"
        parts.append(
            f'<line x1="{x1 + ux * node_r:.1f}" y1="{y1 + uy * node_r:.1f}" x2="{x2 - ux * node_r:.1f}" '
            f'y2="{y2 - uy * node_r:.1f}" stroke="#444" {style}><title>{_esc(what)}</title></line>'
        )
    for name, (x, y, angle) in where.items():
        cos = math.cos(angle)
        anchor = "start" if cos > 0.3 else "end" if cos < -0.3 else "middle"
        lx, ly = x + 16 * cos, y + 16 * math.sin(angle) + 4
        label = _clip(labels[name])
        parts.append(
            f'<g><title>{_esc(name)}</title><circle cx="{x:.1f}" cy="{y:.1f}" r="{node_r}" fill="{colour[name]}" '
            f'stroke="#222"/><text x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}" font-size="12">{_esc(label)}</text></g>'
        )
    for row, line in enumerate(("colour = lineage (grey: alone)",
                                "solid: same-lineage both ways; dashed arrow: reference \u2192 suspect only")):
        parts.append(f'<text x="{width / 2:.0f}" y="{height - 38 + 22 * row:.0f}" text-anchor="middle" font-size="14" '
                     f'fill="#444">{line}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# ----------------------------------------------------------------------------------------------------------------------
# The page


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
    if "hidden_note" in details:
        numbers["padding-row probes"] = _esc(details["hidden_note"])
    rows = "".join(f"<tr><th>{key}</th><td>{value}</td></tr>" for key, value in numbers.items())
    body = f"""<section id="result"><h2>Result</h2><table>{rows}</table></section>
<section id="models"><h2>Models</h2><dl><dt>reference</dt><dd>{_esc(ref)}</dd><dt>suspect</dt><dd>{_esc(suspect)}</dd></dl></section>"""
    return f"seedprints compare: reference {_short(ref)}, suspect {_short(suspect)}", summary, body


def _identify_page(payload: dict[str, Any], files: dict[str, bytes]) -> tuple[str, str, str]:

    candidates = _ranked_candidates(payload)
    tested, skipped = _count(payload.get("tested")), _count(payload.get("skipped"))
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
