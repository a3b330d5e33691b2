"""One-vs-many identification on a zoo: register its base models, identify every other model against them.

This is the registry workflow a user runs (``seedprints registry add`` for each base model, then
``seedprints identify SUSPECT``), measured over every zoo model whose lineage is known: is a model of
the suspect's own lineage ranked first, is it significant after Holm's correction over all
candidates, and does any candidate of another lineage come out significant (a false identification)?
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from seedprints import Registry, identify
from seedprints.errors import SeedprintsError, UsageError
from seedprints.options import ProbeOptions, RunOptions
from seedprints.output_paths import write_atomic
from seedprints.reports.terminal import format_p
from seedprints.zoo.fingerprinting import ZOO_PROBES, check_sizes, fingerprint_zoo, require_evaluated, say_nothing
from seedprints.zoo.manifest import ModelEntry, same_lineage
from seedprints.zoo.metrics import clopper_pearson
from seedprints.zoo.outdir import check_out_dir, make_out_dir

DEFAULT_CANDIDATE_STAGES = ("pretrained", "distill")


@dataclasses.dataclass(frozen=True)
class SuspectOutcome:
    """What ``identify`` answered for one zoo model."""

    suspect: str
    label: str
    stage: str
    lineages: tuple[str, ...]
    true_candidates: tuple[str, ...]
    best: str
    best_is_true: bool
    best_log10_p_holm: float
    true_rank: int | None  # 1-based rank of the best candidate of the suspect's lineage, None when none is registered
    true_log10_p_holm: float | None
    true_detected: bool  # a candidate of the suspect's lineage is same-lineage after Holm
    false_identifications: tuple[str, ...]  # candidates of other lineages that are same-lineage after Holm
    bh_false_discoveries: tuple[str, ...]


@dataclasses.dataclass
class IdentifyEvalReport:
    """Every suspect's outcome, summaries by label, and how the run was made."""

    candidates: list[str]
    outcomes: list[SuspectOutcome]
    not_identified: dict[str, str]  # suspect -> why identify gave no answer (e.g. no candidate of its width)
    by_label: dict[str, dict[str, Any]]
    overall: dict[str, Any]
    settings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"candidates": self.candidates, "outcomes": [dataclasses.asdict(o) for o in self.outcomes],
                "not_identified": self.not_identified,
                "by_label": self.by_label, "overall": self.overall, "settings": self.settings}


def evaluate_identify(
    zoo_dir: str | Path,
    out_dir: str | Path,
    *,
    candidate_stages: Sequence[str] = DEFAULT_CANDIDATE_STAGES,
    alpha: float = 0.01,
    probes: ProbeOptions = ZOO_PROBES,
    run: RunOptions = RunOptions(),
    say: Callable[[str], Any] | None = None,
    command: str | None = None,
) -> IdentifyEvalReport:
    """Register the zoo's models of ``candidate_stages`` and identify every other model against them.

    Fingerprints use the zoo eval's shared untrained-token spec (of ``probes``: N, length, seed, untrained tokens) and
    cache (``zoo_dir/.fingerprints``); ``run`` says how the models run; the registry is a temporary file. Writes
    ``results.json`` and ``summary.md`` into ``out_dir``.
    """

    say = say or say_nothing
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1 (got {alpha})")
    check_sizes(probes, run)
    zoo_dir, out_dir = Path(zoo_dir), Path(out_dir)
    check_out_dir(out_dir)
    zoo = fingerprint_zoo(zoo_dir, ["untrained"], probes=probes, run=run, say=say)
    fingerprints = zoo.fingerprints["untrained"]
    names = [name for name in zoo.ordered if name in fingerprints]
    require_evaluated(zoo_dir, names, zoo.failed)
    candidates = [name for name in names if zoo.entries[name].stage in candidate_stages]
    if not candidates:
        raise UsageError(f"no model of {zoo_dir} is at stage {', '.join(candidate_stages)}; choose other --candidate-stage")
    outcomes, not_identified = [], {}
    with tempfile.TemporaryDirectory(prefix="seedprints-zoo-registry-") as tmp, Registry.open(Path(tmp) / "zoo.db") as reg:
        for name in candidates:
            entry = zoo.entries[name]
            reg.add(fingerprints[name], name=name, tags={"family": entry.family, "lineage": "+".join(entry.lineages),
                                                         "stage": entry.stage})
        suspects = [name for name in names if name not in candidates]
        for i, name in enumerate(suspects, 1):
            say(f"identifying {i}/{len(suspects)}: {name}")
            try:
                result = identify(fingerprints[name], reg, top=None, alpha=alpha)
            except SeedprintsError as exc:
                not_identified[name] = str(exc)
                continue
            outcomes.append(_outcome(zoo.entries[name], result, zoo.entries))
    settings = {"zoo_dir": str(zoo_dir), "alpha": alpha, "candidate_stages": list(candidate_stages),
                "probe_spec": fingerprints[candidates[0]].spec.describe(), "n": probes.n, "length": probes.length,
                "command": command or f"seedprints zoo identify {zoo_dir} --out {out_dir}",
                "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    report = IdentifyEvalReport(candidates, outcomes, not_identified, _by_label(outcomes), _overall(outcomes, alpha), settings)
    _write(report, out_dir)
    return report


def _outcome(entry: ModelEntry, result: Any, entries: dict[str, ModelEntry]) -> SuspectOutcome:
    ranked = result.candidates
    is_true = [same_lineage(entry, entries[c.name]) for c in ranked]
    true_rank = next((i for i, hit in enumerate(is_true, 1) if hit), None)
    best = ranked[0]
    return SuspectOutcome(
        suspect=entry.name, label=entry.label, stage=entry.stage, lineages=tuple(entry.lineages),
        true_candidates=tuple(c.name for c, hit in zip(ranked, is_true) if hit),
        best=best.name, best_is_true=is_true[0], best_log10_p_holm=best.log10_p_holm, true_rank=true_rank,
        true_log10_p_holm=None if true_rank is None else ranked[true_rank - 1].log10_p_holm,
        true_detected=any(hit and c.verdict == "same-lineage" for c, hit in zip(ranked, is_true)),
        false_identifications=tuple(c.name for c, hit in zip(ranked, is_true) if not hit and c.verdict == "same-lineage"),
        bh_false_discoveries=tuple(c.name for c, hit in zip(ranked, is_true) if not hit and c.bh_verdict == "same-lineage"),
    )


def _by_label(outcomes: list[SuspectOutcome]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[SuspectOutcome]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.label, []).append(outcome)
    return {label: _summary(group) for label, group in groups.items()}


def _summary(group: list[SuspectOutcome]) -> dict[str, Any]:
    with_truth = [o for o in group if o.true_rank is not None]
    return {
        "suspects": len(group),
        "with_registered_lineage": len(with_truth),
        "top1": sum(o.best_is_true for o in with_truth),
        "detected": sum(o.true_detected for o in with_truth),
        "with_false_identification": sum(bool(o.false_identifications) for o in group),
        "with_bh_false_discovery": sum(bool(o.bh_false_discoveries) for o in group),
    }


def _overall(outcomes: list[SuspectOutcome], alpha: float) -> dict[str, Any]:
    summary = _summary(outcomes)
    low, high = clopper_pearson(summary["with_false_identification"], summary["suspects"])
    return {**summary, "familywise_error": {"k": summary["with_false_identification"], "n": summary["suspects"],
                                            "ci95": [low, high], "alpha": alpha}}


def _write(report: IdentifyEvalReport, out_dir: Path) -> None:
    make_out_dir(out_dir)
    write_atomic(out_dir / "results.json", (json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n").encode())
    write_atomic(out_dir / "summary.md", render_summary(report).encode())


def _rate(k: int, n: int) -> str:
    return f"{k}/{n}" + (f" ({100 * k / n:.0f}%)" if n else "")


def render_summary(report: IdentifyEvalReport) -> str:
    """The results page: settings, one row per label, then every suspect."""
    s = report.settings
    fwe = report.overall["familywise_error"]
    low, high = fwe["ci95"]
    lines = [
        "# One-vs-many identification on the zoo",
        "",
        f"Produced by `{s['command']}` ({s['created_at']}). The registry holds the zoo's "
        f"{', '.join(s['candidate_stages'])} models ({len(report.candidates)} candidates: "
        f"{', '.join(report.candidates)}); every other zoo model is identified against it with "
        f"`seedprints identify` at alpha = {s['alpha']:g} (verdicts after Holm's correction over all "
        f"candidates). Probes: {s['probe_spec']}.",
        "",
        "- **top-1**: the best-ranked candidate is of the suspect's own lineage (suspects whose lineage has a "
        "registered candidate).",
        "- **detected**: a candidate of the suspect's lineage is same-lineage after Holm.",
        "- **false identification**: a candidate of another lineage is same-lineage after Holm (BH: after "
        "Benjamini-Hochberg).",
        "",
        f"Suspects with any false identification: {fwe['k']} of {fwe['n']} "
        f"(95% CI {100 * (low or 0):.1f}-{100 * (high or 0):.1f}%; Holm bounds this by alpha per suspect).",
        "",
        "| label | suspects | top-1 | detected | with a false identification (Holm) | with a false discovery (BH) |",
        "|---|---|---|---|---|---|",
    ]
    for label, row in sorted(report.by_label.items()):
        lines.append(
            f"| {label} | {row['suspects']} | {_rate(row['top1'], row['with_registered_lineage'])} | "
            f"{_rate(row['detected'], row['with_registered_lineage'])} | "
            f"{_rate(row['with_false_identification'], row['suspects'])} | {_rate(row['with_bh_false_discovery'], row['suspects'])} |"
        )
    o = report.overall
    lines += [
        f"| **all** | {o['suspects']} | {_rate(o['top1'], o['with_registered_lineage'])} | "
        f"{_rate(o['detected'], o['with_registered_lineage'])} | {_rate(o['with_false_identification'], o['suspects'])} | "
        f"{_rate(o['with_bh_false_discovery'], o['suspects'])} |",
        "",
        "## Every suspect",
        "",
        "| suspect | label | best candidate | Holm p of best | rank of own lineage | Holm p of own lineage | false identifications |",
        "|---|---|---|---|---|---|---|",
    ]
    for out in report.outcomes:
        own_p = "-" if out.true_log10_p_holm is None else format_p(None, out.true_log10_p_holm)
        lines.append(
            f"| {out.suspect} | {out.label} | {out.best}{'' if out.best_is_true else ' (other lineage)'} | "
            f"{format_p(None, out.best_log10_p_holm)} | {out.true_rank or '-'} | {own_p} | "
            f"{', '.join(out.false_identifications) or '-'} |"
        )
    if report.not_identified:
        lines += ["", "## Not identified", ""] + [f"- {name}: {why}" for name, why in sorted(report.not_identified.items())]
    return "\n".join(lines) + "\n"
