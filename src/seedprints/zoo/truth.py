"""Ground truth of a zoo pair: whether two models share an initialisation, and the category the pair is scored in.

The truth comes from the manifests alone (:mod:`seedprints.zoo.manifest`): lineage ids, parents,
stages and training parameters, never from the weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from seedprints.zoo.manifest import STAGES, ModelEntry, same_lineage

__all__ = [
    "CROSS_FAMILY",
    "CROSS_REGIME",
    "DISTILLED",
    "INDEP",
    "INDEPENDENT",
    "INDEPENDENT_CATEGORIES",
    "INIT_PREFIX",
    "SAME",
    "SAME_DATA",
    "SIBLINGS",
    "PairTruth",
    "ancestors",
    "blend_weights",
    "classify_pair",
    "lineage_order",
]

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

_TRAINED_FROM = STAGES.index("pretrained")


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


def ancestors(name: str, entries: Mapping[str, ModelEntry], memo: dict[str, frozenset[str]] | None = None) -> frozenset[str]:
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
    if a.name in ancestors(b.name, entries, memo):
        ancestor, descendant = a, b
    elif b.name in ancestors(a.name, entries, memo):
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


def blend_weights(entry: ModelEntry) -> dict[str, float]:
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


def lineage_order(entry: ModelEntry) -> tuple:
    return (entry.family, tuple(sorted(entry.lineages)), entry.steps, STAGES.index(entry.stage), entry.name)
