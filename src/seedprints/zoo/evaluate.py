"""Score lineage tests on a zoo of known lineage: every pair, every method, against the ground truth.

:func:`evaluate_zoo` fingerprints each zoo model once (cached under ``ZOO_DIR/.fingerprints``),
tests every unordered pair of models of equal hidden size with each method of
:data:`seedprints.stats.methods.METHODS`, labels each pair with its ground truth (shared
initialisation or not, from the manifests) and a category ("init→pretrained", "int8",
"same data and order, other seed", ...), and summarises per method: detection rate per
same-lineage category, false-positive rate with a Clopper-Pearson interval over independent
pairs, ROC AUC, and the curves of evidence against training steps and blend weight. The results
go to ``results.json``, ``summary.md`` (rendered by :mod:`seedprints.zoo.summary`) and PNG plots
(:mod:`seedprints.zoo.plots`).

This module only computes; rendering lives in the two modules above.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seedprints import api
from seedprints import fingerprint as _fpfile
from seedprints.errors import LowPowerWarning, SeedprintsError, UsageError, ZooConfigError, compact_message
from seedprints.fingerprint import Fingerprint, write_atomic
from seedprints.probes import ProbeSpec
from seedprints.stats.methods import METHOD_PROBES, METHODS
from seedprints.stats.result import LineageResult
from seedprints.zoo.manifest import STAGES, ModelEntry, no_models_error, same_lineage, scan_zoo
from seedprints.zoo.outdir import check_out_dir, make_out_dir

PROBE_KINDS = ("untrained", "rare", "token", "embedding")

__all__ = [
    "CROSS_FAMILY",
    "DISTILLED",
    "INDEPENDENT",
    "INDEPENDENT_CATEGORIES",
    "SAME_DATA",
    "SIBLINGS",
    "EvalReport",
    "FailedModel",
    "PairResult",
    "PairTruth",
    "classify_pair",
    "clopper_pearson",
    "evaluate_zoo",
    "roc_auc",
    "roc_curve",
]

RESULTS_SCHEMA_VERSION = 1
FINGERPRINT_CACHE = ".fingerprints"
SAME = "same-lineage"
INDEP = "independent"

SIBLINGS = "related (siblings)"
DISTILLED = "distilled student vs teacher lineage"
SAME_DATA = "same data and order, other seed"
CROSS_FAMILY = "cross-family"
INDEPENDENT = "independent"
INDEPENDENT_CATEGORIES = (INDEPENDENT, SAME_DATA, DISTILLED, CROSS_FAMILY)
INIT_PREFIX = "init→"
CROSS_REGIME = "cross-regime"

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_TRAINED_FROM = STAGES.index("pretrained")


# ----------------------------------------------------------------------------------------------------------------------
# Result objects


@dataclasses.dataclass(frozen=True)
class FailedModel:
    """A zoo directory that could not be evaluated.

    Attributes
    ----------
    name : str
        The model's name (its directory name when the manifest could not be read).
    path : str
        The model directory.
    message : str
        One line saying what went wrong.
    """

    name: str
    path: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class PairTruth:
    """Ground truth of one unordered pair, oriented.

    Attributes
    ----------
    ref, suspect : str
        Model names: ``ref`` is the ancestor when one model descends from the other, else the one
        with fewer training steps (then the smaller name).
    truth : {"same-lineage", "independent"}
        Whether the two share an initialisation (:func:`seedprints.zoo.manifest.same_lineage`).
    category : str
        Group the pair is scored in (see :func:`classify_pair`).
    ancestor : str or None
        The ancestor's name when one model descends from the other (whatever the truth), else None.
    """

    ref: str
    suspect: str
    truth: str
    category: str
    ancestor: str | None = None


@dataclasses.dataclass(frozen=True)
class PairResult:
    """One tested pair: its ground truth and each method's result.

    Attributes
    ----------
    ref, suspect, truth, category : str
        As in :class:`PairTruth`.
    hidden_size : int
        The shared width d.
    results : dict of str to LineageResult or None
        Per method; None when the method raised (its message is in ``errors``).
    errors : dict of str to str
        One-line message per method that raised on this pair.
    regime : str
        The two models' training regime when they share one (see
        :func:`seedprints.zoo.build.regime_pretrain`), else :data:`CROSS_REGIME`.
    """

    ref: str
    suspect: str
    truth: str
    category: str
    hidden_size: int
    results: dict[str, LineageResult | None]
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    regime: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "suspect": self.suspect,
            "truth": self.truth,
            "category": self.category,
            "regime": self.regime,
            "hidden_size": self.hidden_size,
            "results": {m: (r.to_dict() if r is not None else None) for m, r in self.results.items()},
            "errors": dict(self.errors),
        }


@dataclasses.dataclass
class EvalReport:
    """Everything :func:`evaluate_zoo` measured and wrote.

    Attributes
    ----------
    pairs : list of PairResult
        Every tested pair, in model order.
    summaries : dict of str to dict
        Per method (see :func:`summarize_method` for the keys).
    failed : list of FailedModel
        Directories that failed (manifest, config, weights or extraction).
    paths : dict of str to Path
        Written files by short name (``"results"``, ``"summary"``, ``"detection"``, ``"heatmap-paper"``, ...).
    models : list of dict
        The evaluated models in lineage order: manifest fields plus ``path``, ``hidden_size``,
        ``fingerprints`` (cache file per kind of probes) and ``cached`` (every one reused from the cache).
    settings : dict
        Arguments, probe spec(s) and methods of the run, and ``command`` (the CLI line).
    skipped : dict of str to int
        Pairs not tested: ``different_width``.
    """

    pairs: list[PairResult]
    summaries: dict[str, dict[str, Any]]
    failed: list[FailedModel]
    paths: dict[str, Path] = dataclasses.field(default_factory=dict)
    models: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)

    def categories(self) -> list[tuple[str, str]]:
        """Every (category, truth) any method reports, in display order: the rows of the side-by-side views."""
        order: list[tuple[str, str]] = []
        for summary in self.summaries.values():
            for row in summary["categories"]:
                if (row["category"], row["truth"]) not in order:
                    order.append((row["category"], row["truth"]))
        return order

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (the content of ``results.json``); NaN and Inf become None."""
        return _json_safe(
            {
                "schema_version": RESULTS_SCHEMA_VERSION,
                "settings": self.settings,
                "models": self.models,
                "pairs": [p.to_dict() for p in self.pairs],
                "summaries": self.summaries,
                "failed": [f.to_dict() for f in self.failed],
                "skipped": self.skipped,
                "paths": {k: str(v) for k, v in self.paths.items()},
            }
        )


def _json_safe(value: Any) -> Any:
    """Plain JSON types: numpy scalars unwrapped, paths as strings, NaN and Inf as None."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ----------------------------------------------------------------------------------------------------------------------
# Statistics helpers


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float | None, float | None]:
    """Exact (Clopper-Pearson) two-sided confidence interval of a binomial proportion ``k / n``.

    Parameters
    ----------
    k, n : int
        Successes and trials, ``0 <= k <= n``.
    confidence : float
        Coverage, 0.95 by default.

    Returns
    -------
    (lower, upper) : tuple of float, or (None, None) when ``n == 0``

    Notes
    -----
    ``lower = B(a/2; k, n-k+1)`` (0 when k = 0), ``upper = B(1-a/2; k+1, n-k)`` (1 when k = n), with
    ``B(q; a, b)`` the beta quantile and ``a = 1 - confidence``. For k = 0 the upper bound is
    ``1 - (a/2)**(1/n)``.

    Example:
        >>> round(clopper_pearson(0, 10)[1], 4)
        0.3085
    """
    from scipy.stats import beta

    if n <= 0:
        return None, None
    if not 0 <= k <= n:
        raise UsageError(f"clopper_pearson: need 0 <= k <= n (got k={k}, n={n})")
    tail = (1.0 - confidence) / 2.0
    lower = 0.0 if k == 0 else float(beta.ppf(tail, k, n - k + 1))
    upper = 1.0 if k == n else float(beta.ppf(1.0 - tail, k + 1, n - k))
    return lower, upper


def _clean_scores(scores: Iterable[float]) -> np.ndarray:
    values = np.asarray([float(s) for s in scores], dtype=np.float64)
    return values[~np.isnan(values)]


def roc_auc(positive_scores: Iterable[float], negative_scores: Iterable[float]) -> float | None:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties counting one half.

    Computed from average ranks (the Mann-Whitney U statistic divided by ``n_pos * n_neg``); NaN
    scores are dropped, infinite ones kept. None when either group is empty.

    Example:
        >>> roc_auc([3.0, 4.0], [1.0, 2.0]), roc_auc([1.0, 1.0], [1.0])
        (1.0, 0.5)
    """
    from scipy.stats import rankdata

    pos, neg = _clean_scores(positive_scores), _clean_scores(negative_scores)
    if pos.size == 0 or neg.size == 0:
        return None
    ranks = rankdata(np.concatenate([pos, neg]))
    u = float(ranks[: pos.size].sum()) - pos.size * (pos.size + 1) / 2.0
    return u / (pos.size * neg.size)


def roc_curve(positive_scores: Iterable[float], negative_scores: Iterable[float]) -> tuple[list[float], list[float]]:
    """ROC points ``(false-positive rates, true-positive rates)`` from (0, 0) to (1, 1), tied scores as one step."""
    pos, neg = _clean_scores(positive_scores), _clean_scores(negative_scores)
    if pos.size == 0 or neg.size == 0:
        return [0.0, 1.0], [0.0, 1.0]
    scores = np.concatenate([pos, neg])
    labels = np.concatenate([np.ones(pos.size), np.zeros(neg.size)])
    fpr, tpr = [0.0], [0.0]
    tp = fp = 0.0
    for threshold in np.unique(scores)[::-1]:
        at = scores == threshold
        tp += float(labels[at].sum())
        fp += float((1 - labels[at]).sum())
        fpr.append(fp / neg.size)
        tpr.append(tp / pos.size)
    return fpr, tpr


def _median(values: Sequence[float]) -> float | None:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.median(finite)) if finite else None


# ----------------------------------------------------------------------------------------------------------------------
# Ground truth


def _ancestors(name: str, entries: Mapping[str, ModelEntry], memo: dict[str, frozenset[str]] | None = None) -> frozenset[str]:
    """All models ``name`` was made from, following ``parents`` transitively (cycles ignored)."""
    memo = {} if memo is None else memo
    if name in memo:
        return memo[name]
    seen: set[str] = set()
    stack = list(entries[name].parents) if name in entries else []
    while stack:
        parent = stack.pop()
        if parent in seen or parent == name:
            continue
        seen.add(parent)
        if parent in entries:
            stack.extend(entries[parent].parents)
    memo[name] = frozenset(seen)
    return memo[name]


def _teachers(entry: ModelEntry) -> set[str]:
    """Names (or lineage ids) a distilled student names as its teacher: params keys with "teacher", and parents."""
    found: set[str] = set(entry.parents)
    for key, value in entry.params.items():
        if "teacher" not in str(key).lower():
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        found.update(v for v in values if isinstance(v, str))
    return found


def _is_student_of(student: ModelEntry, other: ModelEntry, entries: Mapping[str, ModelEntry]) -> bool:
    if student.stage != "distill":
        return False
    for teacher in _teachers(student):
        if teacher in other.lineages:
            return True
        entry = entries.get(teacher)
        if entry is not None and entry.name != student.name and same_lineage(entry, other):
            return True
    return False


def _same_pretraining_data(a: ModelEntry, b: ModelEntry) -> bool:
    trained = all(STAGES.index(e.stage) >= _TRAINED_FROM for e in (a, b))
    if not trained or a.family != b.family:
        return False
    seeds = [e.params.get("pretrain_data_seed") for e in (a, b)]
    if seeds == [None, None]:
        return True  # a zoo that records no data seed: all its trained models saw the same data
    return seeds[0] == seeds[1]  # one recorded, one not (e.g. a distilled student): not the same run of data


def classify_pair(
    a: ModelEntry, b: ModelEntry, entries: Mapping[str, ModelEntry], *, _memo: dict | None = None
) -> PairTruth:
    """Orient a pair and give its ground truth and category.

    Parameters
    ----------
    a, b : ModelEntry
        The two models.
    entries : mapping of str to ModelEntry
        Every known manifest of the zoo by name (used to follow ``parents`` transitively and to
        find a distilled student's teacher).

    Returns
    -------
    PairTruth
        Categories: same lineage with ancestry: the descendant's ``label``, prefixed ``"init→"``
        when the ancestor is an init (``"init→pretrained"``, ``"int8"``, ``"blend"``, ...); same
        lineage without ancestry: ``"related (siblings)"``. Independent: ``"distilled student vs
        teacher lineage"`` (a distill student whose teacher shares the other's lineage), ``"same
        data and order, other seed"`` (both pretrained-stage or later, same family, equal
        ``params["pretrain_data_seed"]``, or neither records one), ``"cross-family"``, else
        ``"independent"``.
    """
    memo = {} if _memo is None else _memo
    ancestor = descendant = None
    if a.name in _ancestors(b.name, entries, memo):
        ancestor, descendant = a, b
    elif b.name in _ancestors(a.name, entries, memo):
        ancestor, descendant = b, a
    if ancestor is not None:
        ref, suspect = ancestor, descendant
    else:
        ref, suspect = sorted((a, b), key=lambda e: (e.steps, e.name))
    if same_lineage(a, b):
        if ancestor is not None:
            prefix = INIT_PREFIX if ancestor.stage == "init" else ""
            category = prefix + descendant.label
        else:
            category = SIBLINGS
        truth = SAME
    else:
        truth = INDEP
        if _is_student_of(a, b, entries) or _is_student_of(b, a, entries):
            category = DISTILLED
        elif _same_pretraining_data(a, b):
            category = SAME_DATA
        elif a.family != b.family:
            category = CROSS_FAMILY
        else:
            category = INDEPENDENT
    return PairTruth(ref.name, suspect.name, truth, category, ancestor.name if ancestor else None)


def _blend_weights(entry: ModelEntry) -> dict[str, float]:
    """Weight of each parent in a blend.

    ``params["weights"]`` as ``{parent: weight}`` (what ``zoo build`` writes) or a list aligned with
    the parents; else ``params["weight"]`` as the first parent's weight (the second gets ``1 - weight``).
    """
    params = entry.params
    parents = params.get("parents")
    if not (isinstance(parents, (list, tuple)) and all(isinstance(p, str) for p in parents)):
        parents = list(entry.parents)
    weights = params.get("weights")
    if isinstance(weights, dict):
        return {str(p): float(w) for p, w in weights.items() if isinstance(w, (int, float)) and not isinstance(w, bool)}
    if isinstance(weights, (list, tuple)) and len(weights) == len(parents):
        return {p: float(w) for p, w in zip(parents, weights)}
    weight = params.get("weight")
    if isinstance(weight, (int, float)) and not isinstance(weight, bool) and len(parents) == 2:
        return {parents[0]: float(weight), parents[1]: 1.0 - float(weight)}
    return {}


def _lineage_order(entry: ModelEntry) -> tuple:
    return (entry.family, tuple(sorted(entry.lineages)), entry.steps, STAGES.index(entry.stage), entry.name)


# ----------------------------------------------------------------------------------------------------------------------
# Summaries


def _category_order(categories: Iterable[str]) -> list[str]:
    cats = set(categories)
    same = sorted(c for c in cats if c not in INDEPENDENT_CATEGORIES and c != SIBLINGS)
    same = [c for c in same if c.startswith(INIT_PREFIX)] + [c for c in same if not c.startswith(INIT_PREFIX)]
    if SIBLINGS in cats:
        same.append(SIBLINGS)
    return same + [c for c in INDEPENDENT_CATEGORIES if c in cats]


def _rate(hits: int, count: int) -> dict[str, Any]:
    lower, upper = clopper_pearson(hits, count)
    return {"positives": hits, "pairs": count, "rate": hits / count if count else None, "ci": [lower, upper]}


def _group_stats(rows: list[tuple[PairResult, LineageResult]], alpha: float) -> dict[str, Any]:
    log10s = [r.log10_p for _, r in rows]
    hits = sum(1 for _, r in rows if r.verdict == SAME)
    parts = {part: [r.details[f"{part}_z"] for _, r in rows if f"{part}_z" in r.details] for part in ("hidden", "vocab")}
    return {
        **_rate(hits, len(rows)),
        "median_log10_p": _median(log10s),
        "min_log10_p": min(log10s) if log10s else None,
        "max_log10_p": max(log10s) if log10s else None,
        "median_z": _median([r.z for _, r in rows]),
        **{f"median_{part}_z": _median(zs) for part, zs in parts.items()},
        **{f"max_{part}_z": max(zs) if zs else None for part, zs in parts.items()},
    }


def _regime_order(regimes: Iterable[str]) -> list[str]:
    from seedprints.zoo.build import REGIMES

    found = set(regimes)
    return [r for r in REGIMES if r in found] + sorted(found - set(REGIMES) - {CROSS_REGIME}) + (
        [CROSS_REGIME] if CROSS_REGIME in found else [])


def _categories(rows: list[tuple[PairResult, LineageResult]], alpha: float) -> list[dict[str, Any]]:
    by_cat: dict[str, list[tuple[PairResult, LineageResult]]] = {}
    for pair, result in rows:
        by_cat.setdefault(pair.category, []).append((pair, result))
    return [{"category": cat, "truth": by_cat[cat][0][0].truth, **_group_stats(by_cat[cat], alpha)}
            for cat in _category_order(by_cat)]


def _regimes(rows: list[tuple[PairResult, LineageResult]], alpha: float,
             entries: Mapping[str, ModelEntry]) -> list[dict[str, Any]]:
    """Per training regime: every category, the detection rate, the false-positive rate and its lineage-pair form."""
    out = []
    for regime in _regime_order(p.regime for p, _ in rows):
        group = [(p, r) for p, r in rows if p.regime == regime]
        same = [r for p, r in group if p.truth == SAME]
        indep = [(p, r) for p, r in group if p.truth == INDEP]
        out.append({
            "regime": regime, "categories": _categories(group, alpha),
            "detection": _rate(sum(r.verdict == SAME for r in same), len(same)),
            "false_positive": _rate(sum(r.verdict == SAME for _, r in indep), len(indep)),
            "false_positive_lineage_pairs": _lineage_pair_rate(indep, entries),
        })
    return out


def summarize_method(
    pairs: Sequence[PairResult],
    method: str,
    alpha: float,
    entries: Mapping[str, ModelEntry],
    *,
    low_power: int = 0,
) -> dict[str, Any]:
    """One method's summary over all pairs.

    Returns
    -------
    dict
        ``method``, ``alpha``, ``pairs`` (with a result), ``errors``, ``low_power`` (results that
        warned of few dimensions), ``categories`` (list, in display order, each with ``category``,
        ``truth``, ``positives`` (p < alpha), ``pairs``, ``rate`` (detection rate for same-lineage
        categories, false-positive rate for independent ones), ``ci`` (95% Clopper-Pearson),
        ``median_log10_p``, ``min_log10_p``, ``max_log10_p``, ``median_z``, and the median and
        largest z of the lineage test's parts, ``median_hidden_z``, ``max_hidden_z``,
        ``median_vocab_z``, ``max_vocab_z``, None where a method has no such part), ``regimes``
        (per training regime of the pairs: ``regime``, its ``categories``, ``detection``,
        ``false_positive`` and ``false_positive_lineage_pairs``), ``detection``
        (all same-lineage pairs), ``false_positive`` (all independent pairs),
        ``false_positive_lineage_pairs`` (the same grouped by the two lineages involved: pairs of
        models from the same two lineages are strongly dependent, so this is closer to the number of
        independent draws from the null; a group counts once, as a false positive when the median
        p-value of its pairs is below alpha), ``auc`` (ROC AUC of
        -log10 p; None without both classes), ``init_curve`` (init→* pairs: ``steps``, ``z``,
        ``log10_p``), ``blend_curve`` (blend vs an ancestor: ``weight`` of the parent that
        ancestor belongs to, ``lineage``, ``log10_p``, ``z``) and ``claims`` (the paper's
        claims beside ours).
    """
    rows = [(p, p.results[method]) for p in pairs if p.results.get(method) is not None]
    categories = _categories(rows, alpha)
    same_rows = [(p, r) for p, r in rows if p.truth == SAME]
    indep_rows = [(p, r) for p, r in rows if p.truth == INDEP]
    init_curve = sorted(
        (
            {"ref": p.ref, "suspect": p.suspect, "category": p.category, "steps": entries[p.suspect].steps,
             "z": r.z, "log10_p": r.log10_p}
            for p, r in rows
            if p.truth == SAME and p.category.startswith(INIT_PREFIX)
        ),
        key=lambda row: (row["steps"], row["suspect"], row["ref"]),
    )
    return {
        "method": method,
        "alpha": alpha,
        "pairs": len(rows),
        "errors": sum(1 for p in pairs if method in p.errors),
        "low_power": low_power,
        "categories": categories,
        "regimes": _regimes(rows, alpha, entries),
        "detection": _rate(sum(1 for _, r in same_rows if r.verdict == SAME), len(same_rows)),
        "false_positive": _rate(sum(1 for _, r in indep_rows if r.verdict == SAME), len(indep_rows)),
        "false_positive_lineage_pairs": _lineage_pair_rate(indep_rows, entries),
        "auc": roc_auc([-r.log10_p for _, r in same_rows], [-r.log10_p for _, r in indep_rows]),
        "init_curve": init_curve,
        "blend_curve": _blend_curve(rows, entries),
        "claims": _claims(rows, alpha, entries),
    }


def _lineage_pair_rate(rows: list[tuple[PairResult, LineageResult]], entries: Mapping[str, ModelEntry]) -> dict[str, Any]:
    groups: dict[frozenset[tuple[str, ...]], list[float]] = {}
    for pair, result in rows:
        key = frozenset({tuple(sorted(entries[pair.ref].lineages)), tuple(sorted(entries[pair.suspect].lineages))})
        groups.setdefault(key, []).append(result.log10_p)
    alpha = rows[0][1].alpha if rows else 1.0
    return _rate(sum(float(np.median(ps)) < math.log10(alpha) for ps in groups.values()), len(groups))


def _blend_curve(rows: list[tuple[PairResult, LineageResult]], entries: Mapping[str, ModelEntry]) -> list[dict[str, Any]]:
    memo: dict[str, frozenset[str]] = {}
    points = []
    for pair, result in rows:
        if pair.truth != SAME:
            continue
        for blend_name, other in ((pair.suspect, pair.ref), (pair.ref, pair.suspect)):
            blend = entries[blend_name]
            if blend.stage != "blend" or other not in _ancestors(blend_name, entries, memo):
                continue
            for parent, weight in _blend_weights(blend).items():
                if other == parent or other in _ancestors(parent, entries, memo):
                    lineages = sorted(set(entries[other].lineages) & set(blend.lineages))
                    points.append({
                        "blend": blend_name, "ref": other, "parent": parent, "weight": weight,
                        "lineage": lineages[0] if lineages else None, "z": result.z, "log10_p": result.log10_p,
                    })
                    break
            break
    return sorted(points, key=lambda row: (row["weight"], row["blend"], row["ref"]))


PAPER_CLAIMS = (
    ("different init seeds -> independent", "p > 0.01"),
    ("init -> pretrained, same seed", "p ~ 1e-26"),
    ("same data and order, different seeds", "p in 0.1 .. 0.9"),
    ("continual training on another domain", "p ~ 0 (same lineage)"),
)


def _claims(rows: list[tuple[PairResult, LineageResult]], alpha: float, entries: Mapping[str, ModelEntry]) -> list[dict[str, Any]]:
    """Our numbers for each of the paper's claims (SPEC), with the rule that decides whether they match."""
    def continual(pair: PairResult) -> bool:
        return (pair.truth == SAME and entries[pair.suspect].stage == "continual"
                and pair.suspect != pair.ref and pair.ref in _ancestors(pair.suspect, entries)
                and entries[pair.ref].stage != "init")

    selections: list[tuple[str, Callable[[PairResult], bool], str]] = [
        (INDEPENDENT, lambda p: p.category == INDEPENDENT, "no more than alpha of pairs below 0.01 (CI lower bound)"),
        (INIT_PREFIX + "pretrained", lambda p: p.category == INIT_PREFIX + "pretrained", "median p < alpha"),
        (SAME_DATA, lambda p: p.category == SAME_DATA, "median p in 0.1 .. 0.9"),
        ("continual (from a trained ancestor)", continual, "every pair p < alpha"),
    ]
    out = []
    for (claim, paper), (ours, select, rule) in zip(PAPER_CLAIMS, selections):
        group = [(p, r) for p, r in rows if select(p)]
        stats = _group_stats(group, alpha)
        median = stats["median_log10_p"]
        matches: bool | None = None
        if group:
            if ours == INDEPENDENT:
                below = sum(1 for _, r in group if r.log10_p < -2.0)
                lower = clopper_pearson(below, len(group))[0]
                matches = lower is not None and lower <= alpha
            elif ours == SAME_DATA:
                matches = median is not None and -1.0 <= median <= math.log10(0.9)
            elif ours.startswith(INIT_PREFIX):
                matches = median is not None and median < math.log10(alpha)
            else:
                matches = stats["positives"] == len(group)
        out.append({"claim": claim, "paper": paper, "ours": ours, "rule": rule, "matches": matches, **stats})
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Fingerprints


def _weights_mtime(model_dir: Path) -> int:
    """Newest modification time (ns) of the weights and config of a model directory."""
    times = [
        p.stat().st_mtime_ns
        for p in model_dir.iterdir()
        if p.is_file() and (p.name == "config.json" or p.name.endswith(_WEIGHT_SUFFIXES))
    ]
    return max(times, default=0)


def _one_line(exc: BaseException) -> str:
    """A failed model's reason for the results page: our errors as they are, others with their class."""
    return compact_message(exc, 300, with_class=not isinstance(exc, SeedprintsError))


def cached_fingerprint(path: Path, model_dir: Path, spec: ProbeSpec) -> Fingerprint | None:
    """The cached fingerprint when it exists, is newer than the weights and has the expected probes."""
    try:
        if not path.is_file() or path.stat().st_mtime_ns <= _weights_mtime(model_dir):
            return None
        fp = _fpfile.load(path)
    except (OSError, SeedprintsError):
        return None
    return fp if fp.spec == spec else None


def _probe_spec(options: api.ProbeOptions, model_dirs: list[Path], vocab_sizes: list[int], hidden_size: int) -> ProbeSpec:
    """The spec of one probe kind for the zoo's models of one width; untrained probes from their vocabularies."""
    if options.kind in ("token", "untrained") and not vocab_sizes:
        raise UsageError("no zoo model gives a vocab_size in its config.json; token probes need one")
    if options.kind == "untrained":
        spec = api.shared_default_spec(model_dirs, options)
        assert isinstance(spec, ProbeSpec)
        return spec
    return options.spec_for(vocab_sizes, hidden_size)


def _command(zoo_dir: Path, out_dir: Path, methods: Sequence[str] | None, alpha: float, kind: str | None, n: int,
             length: int, seed: int, device: str, batch_size: int) -> str:
    words = ["seedprints", "zoo", "eval", str(zoo_dir), "--out", str(out_dir)]
    for method in methods or ():
        words += ["--method", method]
    words += ["--alpha", f"{alpha:g}"] + (["--probe", kind] if kind else [])
    words += ["--n", str(n), "--length", str(length), "--probe-seed", str(seed), "--device", device,
              "--batch-size", str(batch_size)]
    return " ".join(shlex.quote(w) for w in words)


def _spec_table(specs: Mapping[tuple[str, int], ProbeSpec]) -> dict[str, dict[str, Any]]:
    """The distinct probe specs of a run by hash, each with its kind and the hidden sizes it served."""
    table: dict[str, dict[str, Any]] = {}
    for (kind, hidden), spec in sorted(specs.items()):
        row = table.setdefault(spec.hash, {**json.loads(spec.to_json()), "probe_kind": kind, "hash": spec.hash,
                                           "describe": spec.describe(), "hidden_sizes": []})
        row["hidden_sizes"].append(hidden)
    return table


def _quiet(_message: str) -> None:
    return None


# ----------------------------------------------------------------------------------------------------------------------
# The harness


@dataclasses.dataclass
class ZooFingerprints:
    """Every zoo model's fingerprints, one shared probe spec per (probe kind, hidden size)."""

    entries: dict[str, ModelEntry]
    shapes: dict[str, tuple[int, int | None]]
    specs: dict[tuple[str, int], ProbeSpec]
    fingerprints: dict[str, dict[str, Fingerprint]]  # probe kind -> model name -> fingerprint
    model_info: dict[str, dict[str, Any]]
    failed: list[FailedModel]
    ordered: list[str]  # loadable models, lineage by lineage


def fingerprint_zoo(
    zoo_dir: str | Path,
    kinds: Sequence[str],
    *,
    n: int = 1000,
    length: int = 64,
    seed: int = 42,
    rare_tokens: int | None = None,
    device: str = "cpu",
    batch_size: int = 64,
    progress: bool = False,
    say: Callable[[str], Any] | None = None,
) -> ZooFingerprints:
    """Fingerprint every model of a zoo with each probe kind, reusing ``zoo_dir/.fingerprints``.

    A model that fails is recorded in ``failed`` and left out of the fingerprints of that kind;
    the untrained-token spec of each width comes from the vocabularies of the zoo's models of that
    width (their configs and tokenizers).
    """
    say = say or _quiet
    zoo_dir = Path(zoo_dir)
    found, scan_failed = scan_zoo(zoo_dir)
    if not found:
        raise no_models_error(zoo_dir, scan_failed)
    failed = [FailedModel(p.name, str(p), msg) for p, msg in scan_failed]
    entries: dict[str, ModelEntry] = {}
    dirs: dict[str, Path] = {}
    shapes: dict[str, tuple[int, int | None]] = {}
    from seedprints.model.fit import read_model_shape

    first_dir: dict[str, Path] = {}
    for path, entry in found:
        if entry.name in first_dir:
            failed.append(FailedModel(entry.name, str(path), f"duplicate model name {entry.name!r} (also {first_dir[entry.name]})"))
            continue
        first_dir[entry.name] = path
        entries[entry.name] = entry
        try:
            shapes[entry.name] = read_model_shape(path)
        except Exception as exc:  # noqa: BLE001 - any failure of one model is recorded, the eval goes on
            failed.append(FailedModel(entry.name, str(path), _one_line(exc)))
            continue
        dirs[entry.name] = path

    vocab_sizes = [v for _, v in shapes.values() if v]
    ordered = sorted(dirs, key=lambda name: _lineage_order(entries[name]))
    specs: dict[tuple[str, int], ProbeSpec] = {}
    for probe_kind in sorted(set(kinds)):
        for hidden, _ in shapes.values():
            if (probe_kind, hidden) not in specs:
                same_width = [dirs[name] for name in ordered if name in dirs and shapes[name][0] == hidden]
                options = api.ProbeOptions(kind=probe_kind, n=n, length=length, seed=seed, rare_tokens=rare_tokens)
                specs[probe_kind, hidden] = _probe_spec(options, same_width, vocab_sizes, hidden)
    cache_dir = zoo_dir / FINGERPRINT_CACHE
    by_kind: dict[str, dict[str, Fingerprint]] = {k: {} for k in kinds}
    model_info: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(ordered, 1):
        path = dirs[name]
        model_info[name] = {**entries[name].to_dict(), "path": str(path), "hidden_size": shapes[name][0],
                            "fingerprints": {}, "cached": True}
        for probe_kind, fingerprints in by_kind.items():
            spec = specs[probe_kind, shapes[name][0]]
            cache = cache_dir / f"{name}-{spec.hash}.safetensors"
            fp = cached_fingerprint(cache, path, spec)
            cached = fp is not None
            if fp is None:
                say(f"fingerprinting {i}/{len(ordered)}: {name} ({probe_kind} probes)")
                try:
                    fp = api.fingerprint_model(path, spec, device=device, batch_size=batch_size, progress=progress)
                except Exception as exc:  # noqa: BLE001 - seedprints and transformers errors alike
                    failed.append(FailedModel(name, str(path), _one_line(exc)))
                    say(f"  failed: {_one_line(exc)}")
                    break
                try:
                    cache_dir.mkdir(exist_ok=True)
                    _fpfile.save(fp, cache)
                except (OSError, SeedprintsError) as exc:  # the cache is an optimisation: go on without it
                    say(f"  cannot cache the fingerprint ({_one_line(exc)})")
            else:
                say(f"fingerprint {i}/{len(ordered)}: {name} ({probe_kind} probes, cached)")
            fingerprints[name] = fp
            model_info[name]["fingerprints"][probe_kind] = str(cache)
            model_info[name]["cached"] &= cached
    return ZooFingerprints(entries, shapes, specs, by_kind, model_info, failed, ordered)


def evaluate_zoo(
    zoo_dir: str | Path,
    out_dir: str | Path,
    *,
    methods: Sequence[str] | None = None,
    alpha: float = 0.01,
    kind: str | None = None,
    n: int = 1000,
    length: int = 64,
    seed: int = 42,
    rare_tokens: int | None = None,
    device: str = "cpu",
    batch_size: int = 64,
    progress: bool = False,
    say: Callable[[str], Any] | None = None,
    command: str | None = None,
) -> EvalReport:
    """Fingerprint every zoo model, test every pair of equal width with each method, and write the results.

    Parameters
    ----------
    zoo_dir : str or Path
        A zoo built by ``seedprints zoo build``: one model directory per model, each with
        ``zoo_manifest.json``. Fingerprints are cached in ``zoo_dir/.fingerprints`` as
        ``<name>-<probe hash>.safetensors`` and reused while newer than the model's weights.
    out_dir : str or Path
        Where ``results.json``, ``summary.md`` and the PNG plots go (created if needed).
    methods : sequence of str, optional
        Names in :data:`seedprints.stats.methods.METHODS`; default all of them.
    alpha : float
        Significance level of every verdict.
    kind, n, length, seed
        Probes: None (default) gives each method its own (:data:`METHOD_PROBES`); else one kind for
        all: ``"untrained"`` (the default probes of the zoo's vocabulary: padding rows past the
        tokenizer, with the logits of others; ``"rare"`` is its old name), ``"token"`` (ids below
        the smallest vocabulary of the zoo, bounded by 32000) or ``"embedding"`` (one spec per
        hidden size); N sequences of ``length`` tokens from generator seed ``seed``; untrained
        probes use at most ``rare_tokens`` input and as many logit tokens (default 128).
    device, batch_size, progress
        Forward-pass settings passed to :func:`seedprints.api.fingerprint_model`.
    say : callable, optional
        Called with one line per step (e.g. ``print`` to stderr); silent by default.
    command : str, optional
        The command line to print in ``summary.md``; default: rebuilt from the arguments.

    Returns
    -------
    EvalReport
        Pairs, per-method summaries, failed models and the paths written.

    Raises
    ------
    UsageError
        Unknown method or probe kind, alpha outside (0, 1).
    ZooConfigError
        ``zoo_dir`` does not exist, holds no model directory, or none of its models could be evaluated.
    OutputPathError
        ``out_dir`` cannot be created or written (checked before fingerprinting; it is created only
        when there are results to write).

    Notes
    -----
    A model that fails (bad manifest or config, weights that do not load, an error during
    extraction) is listed in ``failed`` with a one-line message, and the others are still evaluated.
    Pairs are oriented ancestor -> descendant, else fewer steps first (see :func:`classify_pair`).
    """
    say = say or _quiet
    zoo_dir, out_dir = Path(zoo_dir), Path(out_dir)
    chosen = list(METHODS) if methods is None else list(methods)
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise UsageError(f"unknown method {unknown[0] if unknown else '(none)'!r}; choose from {', '.join(METHODS)}")
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1 (got {alpha})")
    if kind is not None and kind not in PROBE_KINDS:
        raise UsageError(f"unknown probe kind {kind!r}; use one of {', '.join(PROBE_KINDS)}")
    kind = api.PROBE_KIND_ALIASES.get(kind, kind)
    method_kind = {m: kind or METHOD_PROBES[m] for m in chosen}
    if n < 1 or length < 1 or batch_size < 1:
        raise UsageError(f"n, length and batch_size must be positive (got {n}, {length}, {batch_size})")
    if not zoo_dir.is_dir():
        raise ZooConfigError(f"zoo directory {zoo_dir} does not exist; build one with `seedprints zoo build`")
    check_out_dir(out_dir)

    zoo = fingerprint_zoo(zoo_dir, sorted(set(method_kind.values())), n=n, length=length, seed=seed,
                          rare_tokens=rare_tokens, device=device, batch_size=batch_size, progress=progress, say=say)
    entries, shapes, specs, by_kind, model_info, failed = (
        zoo.entries, zoo.shapes, zoo.specs, zoo.fingerprints, zoo.model_info, zoo.failed
    )
    ordered = zoo.ordered
    # a model that failed with one kind of probes is left out of every method
    names = [name for name in ordered if all(name in fps for fps in by_kind.values())]
    require_evaluated(zoo_dir, names, failed)
    pairs: list[PairResult] = []
    skipped = {"different_width": 0}
    low_power = dict.fromkeys(chosen, 0)
    memo: dict[str, frozenset[str]] = {}
    say(f"testing pairs of {len(names)} models with {', '.join(chosen)}")
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            width = shapes[a][0]
            if width != shapes[b][0]:
                skipped["different_width"] += 1
                continue
            truth = classify_pair(entries[a], entries[b], entries, _memo=memo)
            results: dict[str, LineageResult | None] = {}
            errors: dict[str, str] = {}
            for method in chosen:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        fps = by_kind[method_kind[method]]
                        result = METHODS[method](fps[truth.ref], fps[truth.suspect], alpha=alpha)
                        results[method] = dataclasses.replace(result, probe_hash=fps[truth.ref].probe_hash)
                    except SeedprintsError as exc:
                        results[method] = None
                        errors[method] = _one_line(exc)
                for warning in caught:
                    if issubclass(warning.category, LowPowerWarning):
                        low_power[method] += 1
                    else:
                        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
            regime = entries[a].regime if entries[a].regime == entries[b].regime else CROSS_REGIME
            pairs.append(PairResult(truth.ref, truth.suspect, truth.truth, truth.category, width, results, errors, regime))

    summaries = {m: summarize_method(pairs, m, alpha, entries, low_power=low_power[m]) for m in chosen}
    settings = {
        "zoo_dir": str(zoo_dir),
        "out_dir": str(out_dir),
        "methods": chosen,
        "alpha": alpha,
        "probe": {"kind": kind, "n": n, "length": length, "seed": seed, "per_method": method_kind},
        "probe_specs": _spec_table(specs),
        "device": device,
        "batch_size": batch_size,
        "command": command or _command(zoo_dir, out_dir, methods, alpha, kind, n, length, seed, device, batch_size),
    }
    report = EvalReport(
        pairs=pairs,
        summaries=summaries,
        failed=sorted(failed, key=lambda f: f.name),
        models=[model_info[name] for name in names],
        settings=settings,
        skipped=skipped,
    )
    _write_outputs(report, out_dir, say)
    return report


def require_evaluated(zoo_dir: Path, names: Sequence[str], failed: Sequence[FailedModel]) -> None:
    """ZooConfigError when no model of the zoo could be fingerprinted: a results page of nothing is no result."""
    if not names:
        first = min(failed, key=lambda f: f.name)
        raise ZooConfigError(f"none of the {len(failed)} models of {zoo_dir} could be evaluated; first failure: "
                             f"{first.name}: {first.message}")


def _write_outputs(report: EvalReport, out_dir: Path, say: Callable[[str], Any]) -> None:
    from seedprints.zoo import plots, summary

    make_out_dir(out_dir)
    report.paths["results"] = out_dir / "results.json"
    report.paths["summary"] = out_dir / "summary.md"
    say(f"drawing plots in {out_dir}")
    report.paths.update(plots.write_plots(report, out_dir))
    text = json.dumps(report.to_dict(), indent=1, allow_nan=False, ensure_ascii=False) + "\n"
    write_atomic(report.paths["results"], text.encode())
    write_atomic(report.paths["summary"], summary.render_summary(report).encode())
    say(f"wrote {report.paths['summary']}")
