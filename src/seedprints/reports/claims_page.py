"""The ``claims`` report page: the claims table, and a graph of what the cards claim beside what the tests measured.

The graph has two panels on the same layout, claimed bases on the left and models on the right: *claimed* draws
every claim of a card, coloured by its outcome (agreeing: confirmed; contradicting: not-supported; cannot tell),
and *measured* draws every pair the tests found of one lineage (confirmed claims, and unclaimed identifications).
:mod:`seedprints.reports.html` writes the folder around it; this module only renders, from the ``claims`` JSON.
"""

from __future__ import annotations

import html
from typing import Any

from seedprints.reports.terminal import format_p

GRAPH_FILE = "claims-graph.svg"
_STYLE = {  # outcome -> stroke colour, dash pattern, legend words
    "confirmed": ("#2e7d32", "", "agreeing: confirmed"),
    "not-supported": ("#c62828", "7 4", "contradicting: not-supported"),
    "cannot-tell": ("#9e9e9e", "2 4", "cannot tell"),
    "unclaimed": ("#ef6c00", "", "unclaimed: measured, not claimed"),
}
_PANEL_W, _ROW_H, _TOP = 520.0, 34.0, 70.0


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _clip(label: str, width: int = 24) -> str:
    return label if len(label) <= width else label[: width // 2 - 1] + "\u2026" + label[-(width - width // 2):]


def _base_of(row: dict[str, Any]) -> str | None:
    """The base node a row points at: the registry entry it resolved to, else the base as claimed."""
    return row.get("entry") or row.get("claimed_base")


def graph_svg(payload: dict[str, Any]) -> str:
    """Two panels, claimed and measured, each with bases on the left and models on the right (see the module)."""
    rows = payload["claims"]
    models = list(dict.fromkeys([m["name"] for m in payload.get("models", [])] + [r["model"] for r in rows]))
    bases = list(dict.fromkeys(b for r in rows if (b := _base_of(r))))
    height = _TOP + _ROW_H * max(len(models), len(bases), 1) + 90
    width = 2 * _PANEL_W + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
             f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="claimed and measured lineage edges" '
             'font-family="sans-serif">']
    for panel, (title, keep) in enumerate((("claimed by the cards", lambda r: r["claimed_base"] is not None),
                                           ("measured by the tests", lambda r: r["outcome"] in ("confirmed", "unclaimed")))):
        x0 = 20 + panel * (_PANEL_W + 20)
        left, right = x0 + 150, x0 + _PANEL_W - 200
        where_base = {b: (left, _TOP + _ROW_H * i) for i, b in enumerate(bases)}
        where_model = {m: (right, _TOP + _ROW_H * i) for i, m in enumerate(models)}
        parts.append(f'<text x="{x0 + _PANEL_W / 2:.0f}" y="28" text-anchor="middle" font-size="15" '
                     f'font-weight="bold">{_esc(title)}</text>')
        parts.append(f'<text x="{left:.0f}" y="50" text-anchor="middle" font-size="12" fill="#555">bases</text>'
                     f'<text x="{right:.0f}" y="50" text-anchor="middle" font-size="12" fill="#555">models</text>')
        for row in rows:
            base = _base_of(row)
            if base is None or not keep(row):
                continue
            colour, dash, words = _STYLE[row["outcome"]]
            (x1, y1), (x2, y2) = where_model[row["model"]], where_base[base]
            dashed = f' stroke-dasharray="{dash}"' if dash else ""
            what = f"{row['model']} \u2192 {base}: {words}"
            parts.append(f'<line x1="{x1 - 9:.1f}" y1="{y1:.1f}" x2="{x2 + 9:.1f}" y2="{y2:.1f}" stroke="{colour}" '
                         f'stroke-width="2.2"{dashed}><title>{_esc(what)}</title></line>')
        for name, (x, y) in where_base.items():
            parts.append(f'<g><title>{_esc(name)}</title><circle cx="{x:.1f}" cy="{y:.1f}" r="8" fill="#4a6fa5" '
                         f'stroke="#222"/><text x="{x - 14:.1f}" y="{y + 4:.1f}" text-anchor="end" font-size="12">'
                         f'{_esc(_clip(name))}</text></g>')
        for name, (x, y) in where_model.items():
            parts.append(f'<g><title>{_esc(name)}</title><circle cx="{x:.1f}" cy="{y:.1f}" r="8" fill="#f2f5fa" '
                         f'stroke="#222"/><text x="{x + 14:.1f}" y="{y + 4:.1f}" font-size="12">{_esc(_clip(name))}'
                         '</text></g>')
    for i, (colour, dash, words) in enumerate(_STYLE.values()):
        x, y = 40 + (i % 2) * 360, height - 58 + (i // 2) * 24
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<line x1="{x}" y1="{y}" x2="{x + 40}" y2="{y}" stroke="{colour}" stroke-width="2.5"{dashed}/>'
                     f'<text x="{x + 50}" y="{y + 5}" font-size="13" fill="#333">{_esc(words)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _p(p_value: float | None, log10_p: float | None) -> str:
    """A table cell showing p (readable after underflow) that sorts by log10 p; a dash when no test ran."""
    if log10_p is None:
        return '<td data-v="1">\u2013</td>'
    return f'<td data-v="{log10_p}">{_esc(format_p(p_value, log10_p))}</td>'


def _row(i: int, r: dict[str, Any]) -> str:
    """One claim as a table row, classed by its outcome."""
    dash = "\u2013"
    base = r["claimed_base"] or f"({r.get('entry') or dash})"
    z = dash if r["z"] is None else f"{r['z']:.1f}"
    return (f'<tr class="{_esc(r["outcome"])}"><td>{i}</td><td class="name">{_esc(r["model"])}</td>'
            f'<td class="name">{_esc(base)}</td><td>{_esc(r["relation"] or dash)}</td><td>{_esc(r["outcome"])}</td>'
            f'<td>{z}</td>{_p(r["p_value"], r["log10_p"])}{_p(r["p_adjusted"], r["log10_p_adjusted"])}'
            f'<td class="reason">{_esc(r["reason"])}</td></tr>')


def page(payload: dict[str, Any], files: dict[str, bytes]) -> tuple[str, str, str]:
    """The page's title, summary (HTML) and body (HTML) for a claims run's JSON."""
    rows, counts = payload["claims"], payload["counts"]
    correction = {"holm": "Holm", "bh": "Benjamini-Hochberg"}[payload["correction"]]
    summary = (f"{len(payload['models'])} model{'s' if len(payload['models']) != 1 else ''}, "
               f"{payload['tested']} claim{'s' if payload['tested'] != 1 else ''} tested against registry "
               f"<code>{_esc(payload['registry'])}</code> at alpha = {_esc(format(payload['alpha'], 'g'))} "
               f"({correction} over the run's tested claims): "
               + ", ".join(f"<b>{count}</b> {_esc(outcome)}" for outcome, count in counts.items())
               + ". Confirmed means the model shares its claimed base's initialisation; not-supported means no "
               "evidence of it, which is not a proof of independence.")
    head = "".join(f'<th{" class=name" if h in ("model", "claimed base", "reason") else ""}>{h}</th>'
                   for h in ("#", "model", "claimed base", "relation", "outcome", "z", "p", "adjusted p", "reason"))
    body_rows = "".join(_row(i, r) for i, r in enumerate(rows, 1))
    models = "".join(f"<dt>{_esc(m['name'])}</dt><dd>{_esc(m['card'])}; fingerprint {_esc(m['fingerprint'])}"
                     + (f": {_esc(m['error'])}" if m.get("error") else "") + "</dd>" for m in payload["models"])
    svg = files[GRAPH_FILE].decode()
    body = f"""<style>tr.confirmed td {{ background: #e8f5e9; }} tr.not-supported td {{ background: #ffebee; }}
tr.unclaimed td {{ background: #fff3e0; }} td.reason {{ text-align: left; white-space: normal; min-width: 20em; }}
#claims td.name, #claims th.name {{ min-width: 9em; word-break: normal; overflow-wrap: anywhere; }}</style>
<section id="graph"><h2>Claimed and measured</h2><figure>{svg}<figcaption>Left: every base a card claims, coloured by
its outcome. Right: every pair the tests found of one lineage (confirmed claims and unclaimed identifications). Also
saved as {GRAPH_FILE}.</figcaption></figure></section>
<section id="claims"><h2>Claims</h2><p>Click a column header to sort.</p>
<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body_rows}</tbody></table></section>
<section id="models"><h2>Models</h2><dl>{models}</dl></section>"""
    return f"seedprints claims: {len(payload['models'])} models", summary, body
