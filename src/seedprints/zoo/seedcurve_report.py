"""What :func:`seedprints.zoo.seedcurve.seed_curve` measured, and the files it writes: ``results.json``,
``summary.md`` and ``seed-curve.png`` (top-1 accuracy against training steps, one line per probe kind)."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seedprints.output_paths import write_atomic
from seedprints.zoo.outdir import make_out_dir

__all__ = ["PROBE_KINDS", "SeedCurveReport", "SuspectResult", "curve_of", "render_summary", "write_outputs"]

PROBE_KINDS = ("token", "rare")
"""The kinds of probes a curve is measured with: uniform token ids, and the default untrained-token probes."""


@dataclasses.dataclass(frozen=True)
class SuspectResult:
    """How the candidates ranked for one suspect and one kind of probes.

    Attributes
    ----------
    suspect, lineage, stage, label : str
        The zoo model and its manifest fields.
    steps : int
        Training steps since init (the curve's x).
    probe : {"token", "rare"}
        Kind of probes.
    probe_hash : str
        Hash of the probe spec.
    true_seed : int
        The suspect's init seed.
    rank : int
        1-based rank of the true seed among the candidates by log10 p (ties with a wrong seed count against it).
    top1 : bool
        ``rank == 1``.
    z_true, log10_p_true : float
        The true seed's lineage-test z and log10 p.
    best_wrong_seed : int
        The wrong candidate with the smallest log10 p.
    z_best_wrong, log10_p_best_wrong : float
        Its z and log10 p.
    detected : bool
        The true seed's verdict is same-lineage at ``alpha``.
    """

    suspect: str
    lineage: str
    stage: str
    label: str
    steps: int
    probe: str
    probe_hash: str
    true_seed: int
    rank: int
    top1: bool
    z_true: float
    log10_p_true: float
    best_wrong_seed: int
    z_best_wrong: float
    log10_p_best_wrong: float
    detected: bool

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class SeedCurveReport:
    """Everything :func:`seed_curve` measured and wrote.

    Attributes
    ----------
    results : list of SuspectResult
        One per suspect and probe kind, in lineage then step order.
    curve : dict of str to list of dict
        Per probe kind: ``{"steps", "suspects", "top1", "accuracy"}`` for every training-step value.
    architectures : list of dict
        Per architecture: ``config_sha256``, ``family``, ``lineages``, ``true_seeds`` and
        ``init_reproduced`` (per lineage whose init is in the zoo: True when the rebuilt init equals it).
    settings : dict
        Arguments of the run and ``command`` (the CLI line).
    paths : dict of str to Path
        Files written (``results``, ``summary``, ``plot``).
    """

    results: list[SuspectResult]
    curve: dict[str, list[dict[str, Any]]]
    architectures: list[dict[str, Any]]
    settings: dict[str, Any]
    paths: dict[str, Path] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "results_schema_version": 1,
            "settings": self.settings,
            "architectures": self.architectures,
            "curve": self.curve,
            "results": [r.to_dict() for r in self.results],
            "paths": {k: str(v) for k, v in self.paths.items()},
        }



def curve_of(results: Sequence[SuspectResult]) -> dict[str, list[dict[str, Any]]]:
    """Per probe kind, the top-1 accuracy at each training-step value: the points of the curve."""
    curve: dict[str, list[dict[str, Any]]] = {}
    for kind in PROBE_KINDS:
        rows = [r for r in results if r.probe == kind]
        points = []
        for steps in sorted({r.steps for r in rows}):
            at = [r for r in rows if r.steps == steps]
            hits = sum(r.top1 for r in at)
            points.append({"steps": steps, "stages": sorted({r.label for r in at}), "suspects": len(at),
                           "top1": hits, "accuracy": hits / len(at)})
        if points:
            curve[kind] = points
    return curve



def write_outputs(report: SeedCurveReport, out_dir: Path) -> None:
    """Write the results, the summary page and the plot into ``out_dir``, recording their paths in ``report``."""
    make_out_dir(out_dir)
    report.paths["results"] = out_dir / "results.json"
    report.paths["summary"] = out_dir / "summary.md"
    report.paths["plot"] = out_dir / "seed-curve.png"
    _plot(report, report.paths["plot"])
    text = json.dumps(report.to_dict(), indent=1, allow_nan=False, ensure_ascii=False) + "\n"
    write_atomic(report.paths["results"], text.encode())
    write_atomic(report.paths["summary"], render_summary(report).encode())


def _plot(report: SeedCurveReport, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=110, layout="constrained")
    acc_ax, z_ax = fig.subplots(1, 2)
    colours = {"token": "tab:blue", "rare": "tab:orange"}
    for kind, points in report.curve.items():
        acc_ax.plot([p["steps"] for p in points], [p["accuracy"] for p in points], "o-", color=colours[kind],
                    label=f"{kind} probes")
        rows = [r for r in report.results if r.probe == kind]
        z_ax.scatter([r.steps for r in rows], [r.z_true for r in rows], color=colours[kind], label=f"true seed ({kind})")
        z_ax.scatter([r.steps for r in rows], [r.z_best_wrong for r in rows], facecolors="none", edgecolors=colours[kind],
                     label=f"best wrong seed ({kind})")
    candidates = report.settings["candidates"]
    acc_ax.set(xlabel="training steps since init", ylabel=f"top-1 accuracy among {candidates} seeds", ylim=(-0.05, 1.05),
               title="Which seed? Top-1 accuracy")
    z_ax.set(xlabel="training steps since init", ylabel="lineage-test z", yscale="symlog", title="z of the true and the best wrong seed")
    acc_ax.legend()
    z_ax.legend(fontsize="small")
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return write_atomic(path, buffer.getvalue())


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def render_summary(report: SeedCurveReport) -> str:
    """The results page: settings, the curve per probe kind, and every suspect's ranking."""
    s = report.settings
    lines = [
        "# Init-seed identification on the zoo",
        "",
        f"Measured by `{s['command']}`.",
        "",
        f"For each suspect (a model grown from a known init seed), the inits of candidate seeds 0..{s['candidates'] - 1} "
        "are rebuilt with transformers, fingerprinted with the suspect's probes and tested against it (candidate = "
        f"reference); candidates are ranked by log10 p. Probes: N={s['n']}, L={s['length']}, probe seed {s['probe_seed']}; "
        "`token` = uniform token ids (one spec per architecture), `rare` = the default untrained-token probes of "
        "each suspect's vocabulary (padding rows past its tokenizer).",
        "",
    ]
    if s["rare_suspects"] and "rare" in s["kinds"]:
        lines += [f"Rare-token probes were run for {', '.join(s['rare_suspects'])} only (each suspect's own probes cost a "
                  "fresh fingerprint of every candidate).", ""]
    for arch in report.architectures:
        checks = ", ".join(f"{k}: {'identical' if v else 'DIFFERENT'}" for k, v in arch["init_reproduced"].items()) or "no init in the zoo"
        lines.append(f"- {arch['family']} (config `{arch['config_sha256'][:12]}`), lineages {', '.join(arch['lineages'])}; "
                     f"rebuilt init vs the zoo's init weights: {checks}.")
    lines += ["", "## Top-1 accuracy against training steps", "", "![seed curve](seed-curve.png)", ""]
    lines += ["| probes | steps | stages | suspects | true seed ranked first | accuracy |", "|---|---|---|---|---|---|"]
    for kind, points in report.curve.items():
        for p in points:
            lines.append(f"| {kind} | {p['steps']} | {', '.join(p['stages'])} | {p['suspects']} | {p['top1']} | "
                         f"{100 * p['accuracy']:.0f}% |")
    lines += ["", "## Every suspect", "",
              f"Rank of the true seed among {s['candidates']}; z and log10 p of the true seed and of the best wrong seed; "
              f"detected = true seed's p < {s['alpha']:g}.", "",
              "| suspect | steps | probes | true seed | rank | z true | log10 p true | best wrong seed | z | log10 p | detected |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report.results:
        lines.append(f"| {r.suspect} | {r.steps} | {r.probe} | {r.true_seed} | {r.rank} | {_fmt(r.z_true)} | "
                     f"{_fmt(r.log10_p_true)} | {r.best_wrong_seed} | {_fmt(r.z_best_wrong)} | {_fmt(r.log10_p_best_wrong)} | "
                     f"{'yes' if r.detected else 'no'} |")
    return "\n".join(lines) + "\n"
