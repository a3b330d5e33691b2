"""Rates and their exact intervals, ROC, and one method's tallies per category and per regime over a zoo's pairs."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from seedprints import LineageResult
from seedprints.errors import UsageError
from seedprints.zoo.zoo_config import REGIMES
from seedprints.zoo.manifest import ModelEntry
from seedprints.zoo.results import PairResult
from seedprints.zoo.truth import (
    CROSS_REGIME,
    INDEP,
    INDEPENDENT,
    INDEPENDENT_CATEGORIES,
    INIT_PREFIX,
    SAME,
    SAME_DATA,
    SIBLINGS,
    ancestors,
    blend_weights,
)

__all__ = ["PAPER_CLAIMS", "clopper_pearson", "roc_auc", "roc_curve", "summarize_method"]


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
            if blend.stage != "blend" or other not in ancestors(blend_name, entries, memo):
                continue
            for parent, weight in blend_weights(blend).items():
                if other == parent or other in ancestors(parent, entries, memo):
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
    """Our numbers for each of the paper's claims, with the rule that decides whether they match."""
    def continual(pair: PairResult) -> bool:
        return (pair.truth == SAME and entries[pair.suspect].stage == "continual"
                and pair.suspect != pair.ref and pair.ref in ancestors(pair.suspect, entries)
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
