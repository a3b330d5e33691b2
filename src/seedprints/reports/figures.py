"""The figures of a report: a matrix's heatmap of -log10 p and its lineage graph (inline SVG), identify's candidates
chart. matplotlib is imported when a figure is drawn, not when a report module is imported."""

from __future__ import annotations

import html
import io
import math
from typing import Any

HEATMAP_FILE = "heatmap.png"
GRAPH_FILE = "lineage-graph.svg"
CANDIDATES_FILE = "candidates.png"
HEATMAP_CAP = 20.0  # -log10 p at or above this gets the darkest colour
_ANNOTATE_MAX = 30  # models; above this the heatmap cells are too small for numbers
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
_LONE = "#9aa0a6"


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def neglog10(log10_p: float | None) -> float:
    return float("nan") if log10_p is None else -float(log10_p)


def short_number(value: float) -> str:
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

    labels = [clip_label(m["label"]) for m in payload["models"]]
    index = {m["name"]: i for i, m in enumerate(payload["models"])}
    k = len(labels)
    values = np.full((k, k), np.nan)
    same = np.zeros((k, k), dtype=bool)
    for pair in payload["pairs"]:
        i, j = index[pair["reference"]], index[pair["suspect"]]
        values[i, j] = neglog10(pair["log10_p"])
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
                    ax.text(j, i, short_number(values[i, j]), ha="center", va="center", fontsize=font - 1,
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

    candidates = ranked_candidates(payload)
    tested = max(as_count(payload.get("tested")), len(candidates), 1)
    alpha = float(payload["alpha"])
    count = max(1, len(candidates))
    fig = Figure(figsize=(7.5, max(2.6, 0.32 * count + 1.4)), dpi=110, layout="constrained")
    ax = fig.subplots()
    y = np.arange(count)
    values = [max(0.0, neglog10(c["log10_p"])) for c in candidates]
    colours = ["#d62728" if c["verdict"] == "same-lineage" else "#7f8c99" for c in candidates]
    if candidates:
        ax.barh(y[: len(candidates)], values, color=colours, height=0.7)
    # Holm compares the i-th smallest p (0-based rank i) with alpha / (m - i)
    holm = [-math.log10(alpha / (tested - i)) for i in range(count)]
    ax.vlines(holm, y - 0.45, y + 0.45, color="black", linestyle="--", linewidth=1.2,
              label=f"Holm threshold at each rank (alpha = {alpha:g}, {tested} tests)")
    ax.set_yticks(y[: len(candidates)], [clip_label(c["name"]) for c in candidates], fontsize=8, parse_math=False)
    ax.set_ylim(count - 0.5, -0.5)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("-log10 p (linear below 10, logarithmic above)")
    ax.set_title("Candidates ranked by evidence (red: same-lineage)", fontsize=11)
    ax.legend(fontsize=8, loc="lower right")
    return _png(fig)


def ranked_candidates(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(payload.get("candidates") or [], key=lambda c: (c["log10_p"], -(c.get("z") or 0.0)))


def clip_label(label: str, width: int = 28) -> str:
    """A label cut to ``width`` characters in the middle, for figures (the page lists every full name)."""
    if len(label) <= width:
        return label
    head = (width - 1) // 2
    return label[:head] + "\u2026" + label[len(label) - (width - 1 - head):]


def as_count(value: Any) -> int:
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
        label = clip_label(labels[name])
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
