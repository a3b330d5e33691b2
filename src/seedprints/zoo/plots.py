"""PNG plots of a zoo evaluation: detection per category, null calibration, ROC, p-value heatmaps, curves.

Every figure is drawn with matplotlib's object-oriented API on an Agg canvas (no pyplot, so the
caller's backend is never switched), rendered to PNG bytes and written atomically. matplotlib is
imported inside the functions only, so importing this module is cheap.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seedprints.output_paths import write_atomic
from seedprints.zoo.metrics import roc_curve
from seedprints.zoo.truth import INDEP

if TYPE_CHECKING:
    from seedprints.zoo.results import EvalReport

HEATMAP_CAP = 20.0  # -log10 p above this gets the darkest colour


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    axes = fig.subplots(1, ncols) if ncols > 1 else fig.subplots()
    return fig, axes


def _save(fig: Any, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return write_atomic(path, buffer.getvalue())


def _neglog(log10_p: float | None) -> float:
    return float("nan") if log10_p is None or math.isnan(log10_p) else -float(log10_p)


def plot_detection(report: "EvalReport", path: Path) -> Path:
    """Share of pairs called same-lineage (p < alpha) per category, one bar per method in each category group."""
    methods = list(report.summaries)
    categories = report.categories()
    # horizontal bars, one row per category: readable however many categories a zoo has
    fig, ax = _figure(7.5, max(3.0, 0.26 * len(categories) * max(1, len(methods)) ** 0.5 + 1.2))
    height = 0.8 / max(1, len(methods))
    y = np.arange(len(categories))[::-1]
    for j, method in enumerate(methods):
        rates = {row["category"]: row["rate"] for row in report.summaries[method]["categories"]}
        values = [rates.get(cat) if rates.get(cat) is not None else 0.0 for cat, _ in categories]
        bars = ax.barh(y - (j - (len(methods) - 1) / 2) * height, values, height, label=method)
        for bar, (_, truth) in zip(bars, categories):
            if truth == INDEP:
                bar.set_hatch("//")
    alpha = next(iter(report.summaries.values()))["alpha"] if report.summaries else 0.01
    ax.axvline(alpha, color="grey", linestyle="--", linewidth=1, label=f"alpha = {alpha:g}")
    ax.set_yticks(y, [f"{c} (indep.)" if t == INDEP else c for c, t in categories], fontsize=8)
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("share of pairs with p < alpha")
    ax.set_title("Detection (same lineage); false positives (hatched, independent)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def plot_calibration(report: "EvalReport", path: Path) -> Path:
    """QQ plot of the independent pairs' p-values against the uniform distribution, on -log10 axes."""
    fig, ax = _figure(5.0, 5.0)
    series = []
    for method in report.summaries:
        observed = np.sort([_neglog(p.results[method].log10_p) for p in report.pairs
                            if p.truth == INDEP and p.results.get(method) is not None])[::-1]
        observed = observed[~np.isnan(observed)]
        if observed.size:
            series.append((method, observed, -np.log10((np.arange(1, observed.size + 1) - 0.5) / observed.size)))
    # the y range follows the expected range: a badly calibrated method would otherwise squash the rest
    top = max([1.0] + [2.0 * float(expected.max()) for _, _, expected in series])
    for method, observed, expected in series:
        clipped = int(np.count_nonzero(observed > top))
        label = f"{method} ({observed.size} pairs" + (f", {clipped} above the top, drawn at it)" if clipped else ")")
        ax.plot(expected, np.minimum(observed, top), marker="o", markersize=3, linestyle="none", label=label)
    ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="uniform (calibrated)")
    ax.set_ylim(0, top * 1.03)
    ax.set_xlabel("expected -log10 p (uniform)")
    ax.set_ylabel("observed -log10 p (independent pairs)")
    ax.set_title("Calibration under the null")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_roc(report: "EvalReport", path: Path) -> Path:
    """ROC curve of each method, score = -log10 p, positives = same-lineage pairs."""
    fig, ax = _figure(5.0, 5.0)
    for method, summary in report.summaries.items():
        rows = [(p.truth, p.results[method]) for p in report.pairs if p.results.get(method) is not None]
        fpr, tpr = roc_curve([-r.log10_p for t, r in rows if t != INDEP],
                             [-r.log10_p for t, r in rows if t == INDEP])
        auc = summary.get("auc")
        ax.plot(fpr, tpr, label=f"{method} (AUC {auc:.3f})" if auc is not None else method)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.set_title("ROC (score: -log10 p)")
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def plot_heatmap(report: "EvalReport", method: str, path: Path) -> Path:
    """Models x models matrix of -log10 p (capped at :data:`HEATMAP_CAP`), models in lineage order."""
    names = [m["name"] for m in report.models]
    index = {name: i for i, name in enumerate(names)}
    matrix = np.full((len(names), len(names)), np.nan)
    for pair in report.pairs:
        result = pair.results.get(method)
        if result is None:
            continue
        i, j = index[pair.ref], index[pair.suspect]
        matrix[i, j] = matrix[j, i] = min(HEATMAP_CAP, _neglog(result.log10_p))
    size = max(5.0, 0.28 * len(names) + 3)
    fig, ax = _figure(size + 1, size)
    cmap = _cmap()
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=0, vmax=HEATMAP_CAP, interpolation="nearest")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    ax.set_yticks(range(len(names)), names, fontsize=6)
    colorbar = fig.colorbar(image, ax=ax, shrink=0.8)
    colorbar.set_label(f"-log10 p (capped at {HEATMAP_CAP:g}; grey: not tested)")
    ax.set_title(f"{method}: evidence of shared lineage")
    return _save(fig, path)


def _cmap() -> Any:
    from matplotlib import colormaps

    return colormaps["viridis"].with_extremes(bad="lightgrey")


def plot_init_curve(report: "EvalReport", path: Path) -> Path:
    """z and -log10 p of init → descendant pairs against the descendant's training steps."""
    fig, (ax_z, ax_p) = _figure(10.0, 4.2, ncols=2)
    for method, summary in report.summaries.items():
        points = summary["init_curve"]
        steps = [p["steps"] for p in points]
        ax_z.plot(steps, [p["z"] for p in points], marker="o", linestyle="none", label=method)
        ax_p.plot(steps, [_neglog(p["log10_p"]) for p in points], marker="o", linestyle="none", label=method)
    alpha = next(iter(report.summaries.values()))["alpha"]
    ax_p.axhline(-math.log10(alpha), color="grey", linestyle="--", linewidth=1, label=f"alpha = {alpha:g}")
    for ax, label in ((ax_z, "z"), (ax_p, "-log10 p")):
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlabel("training steps of the descendant")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    ax_z.set_title("init → descendant: z")
    ax_p.set_title("init → descendant: -log10 p")
    return _save(fig, path)


def plot_blend_curve(report: "EvalReport", path: Path) -> Path:
    """-log10 p of blend vs ancestor pairs against the blend weight of that ancestor's lineage."""
    fig, ax = _figure(6.0, 4.5)
    for method, summary in report.summaries.items():
        points = summary["blend_curve"]
        ax.plot([p["weight"] for p in points], [_neglog(p["log10_p"]) for p in points], marker="o", linestyle="none",
                label=method)
    alpha = next(iter(report.summaries.values()))["alpha"]
    ax.axhline(-math.log10(alpha), color="grey", linestyle="--", linewidth=1, label=f"alpha = {alpha:g}")
    ax.set_xlabel("blend weight of the reference's lineage")
    ax.set_ylabel("-log10 p")
    ax.set_title("Blends: evidence against weight")
    ax.legend(fontsize=8)
    return _save(fig, path)


def write_plots(report: "EvalReport", out_dir: Path) -> dict[str, Path]:
    """Draw every plot that has data into ``out_dir``; returns the written files by short name."""
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    if not report.summaries:
        return written
    written["detection"] = plot_detection(report, out_dir / "detection.png")
    written["calibration"] = plot_calibration(report, out_dir / "calibration.png")
    written["roc"] = plot_roc(report, out_dir / "roc.png")
    for method in report.summaries if len(report.models) > 1 else ():
        written[f"heatmap-{method}"] = plot_heatmap(report, method, out_dir / f"heatmap-{method}.png")
    if any(s["init_curve"] for s in report.summaries.values()):
        written["init-curve"] = plot_init_curve(report, out_dir / "init-curve.png")
    if any(s["blend_curve"] for s in report.summaries.values()):
        written["blend-curve"] = plot_blend_curve(report, out_dir / "blend-curve.png")
    return written
