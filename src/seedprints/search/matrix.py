"""All ordered pairwise lineage tests of a set of models, and the lineages (groups) the verdicts imply.

Every input is fingerprinted with one shared probe spec, so every pair is comparable. Each ordered
pair (reference row, suspect column) is tested on its own; with the default probes the two
directions give the same statistics up to rounding, since both parts correlate the two models
symmetrically.

Example:
    >>> from seedprints.search.matrix import run_matrix
    >>> result = run_matrix(["a.fp.safetensors", "b.fp.safetensors", "c.fp.safetensors"])  # doctest: +SKIP
    >>> result.lineages()                                                                  # doctest: +SKIP
    [['a.fp.safetensors', 'b.fp.safetensors'], ['c.fp.safetensors']]
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from pathlib import Path, PurePath
from typing import Any, Callable, Sequence

import numpy as np

from seedprints import __version__
from seedprints import pipeline
from seedprints.encoding import rank_fingerprint
from seedprints.errors import IncompatibleFingerprintsError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.model.reuse import reusing_tokenizers
from seedprints.options import ProbeOptions, RunOptions
from seedprints.probes import ProbeSpec
from seedprints.reports.html import spec_fields
from seedprints.stats.methods import DEFAULT_METHOD, METHODS
from seedprints.stats.lineage import lineage_test_ranked
from seedprints.stats.result import LineageResult

MIN_MODELS = 2


@dataclasses.dataclass(frozen=True)
class MatrixResult:
    """Results of every ordered pair of a set of fingerprints made with one probe spec.

    Attributes
    ----------
    names : tuple of str
        One name per model, as given (a path); rows and columns follow this order.
    labels : tuple of str
        Short unique labels for plots (the shortest distinct path tails).
    fingerprints : tuple of Fingerprint
        The fingerprints tested, in the order of ``names``.
    spec : ProbeSpec
        The probe spec every fingerprint shares.
    method, alpha : str, float
        The test and the significance level of each verdict.
    settings : dict
        The method's settings (as passed to it).
    results : dict of (int, int) to LineageResult
        ``results[i, j]``: model ``i`` as reference, model ``j`` as suspect (no diagonal).
    """

    names: tuple[str, ...]
    labels: tuple[str, ...]
    fingerprints: tuple[Fingerprint, ...]
    spec: ProbeSpec
    method: str
    alpha: float
    settings: dict[str, Any]
    results: dict[tuple[int, int], LineageResult]

    def log10_p(self) -> np.ndarray:
        """``[K, K]`` matrix of log10 p (reference rows, suspect columns), NaN on the diagonal."""
        k = len(self.names)
        matrix = np.full((k, k), np.nan)
        for (i, j), result in self.results.items():
            matrix[i, j] = result.log10_p
        return matrix

    def lineages(self) -> list[list[str]]:
        """Groups of models linked by a same-lineage verdict in either direction (connected components)."""
        return lineage_groups(self.names, [(self.names[i], self.names[j]) for (i, j), r in self.results.items()
                                           if r.verdict == "same-lineage"])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: models, probe spec, every pair's result, lineages, settings and version."""
        models = [
            {"name": name, "label": label, "model_id": fp.model_id, "hidden_size": fp.hidden_size,
             "dtype": fp.metadata.get("dtype")}
            for name, label, fp in zip(self.names, self.labels, self.fingerprints)
        ]
        pairs = [{"reference": self.names[i], "suspect": self.names[j], **result.to_dict()}
                 for (i, j), result in sorted(self.results.items())]
        return {
            "kind": "matrix", "models": models, **spec_fields(self.spec), "method": self.method,
            "alpha": self.alpha, "settings": self.settings, "pairs": pairs, "lineages": self.lineages(),
            "seedprints_version": __version__,
        }


def lineage_groups(names: Sequence[str], links: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Connected components of the graph on ``names`` with edges ``links``; each in input order, largest first."""
    parent = {name: name for name in names}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for a, b in links:
        parent[root(a)] = root(b)
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(root(name), []).append(name)
    return sorted(groups.values(), key=lambda group: (-len(group), names.index(group[0])))


def short_labels(names: Sequence[str]) -> list[str]:
    """Short labels that still tell the names apart, for plots.

    Drops trailing path components and a trailing extension all names share, then keeps the
    shortest path tails that differ: ``runs/a/model.fp.safetensors``, ``runs/b/model.fp.safetensors``
    -> ``a``, ``b``; ``x/base.fp.safetensors``, ``x/ft.fp.safetensors`` -> ``base``, ``ft``.
    """
    parts = [PurePath(name).parts or (name,) for name in names]
    while len(parts) > 1 and all(len(p) > 1 for p in parts) and len({p[-1] for p in parts}) == 1:
        parts = [p[:-1] for p in parts]
    depth = [1] * len(parts)
    while True:
        labels = ["/".join(p[-d:]) for p, d in zip(parts, depth)]
        clashes = [i for i, label in enumerate(labels) if labels.count(label) > 1 and depth[i] < len(parts[i])]
        if not clashes:
            break
        for i in clashes:
            depth[i] += 1
    ending = os.path.commonprefix([label[::-1] for label in labels])[::-1]
    ending = ending[ending.find("."):] if "." in ending else ""
    if ending and all(len(label) > len(ending) for label in labels) and len(set(labels)) == len(labels):
        labels = [label[: -len(ending)] for label in labels]
    return labels


@reusing_tokenizers()
def resolve_inputs(
    inputs: Sequence[str | Path],
    *,
    options: ProbeOptions | None = None,
    run: RunOptions | None = None,
) -> list[Fingerprint]:
    """One fingerprint per input, all with one probe spec: files are loaded, model directories fingerprinted.

    Fingerprint files must share a spec; model directories are fingerprinted with it. Without files,
    the directories share the probes of their vocabularies (:func:`seedprints.pipeline.resolve_probes`, as
    ``compare`` does).

    Raises
    ------
    UsageError
        Fewer than two inputs, an input given twice, or a path that does not exist.
    IncompatibleFingerprintsError
        Fingerprint files made with different probes, or models of different hidden sizes.
    """
    paths = [Path(p) for p in inputs]
    if len(paths) < MIN_MODELS:
        raise UsageError(f"a matrix needs at least {MIN_MODELS} models or fingerprint files (got {len(paths)}); add more inputs")
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"{missing[0]} does not exist; give fingerprint files or model directories")
    first: dict[Path, Path] = {}
    for path in paths:  # resolved, so that a link or another spelling of the same file counts as the same input
        seen = first.setdefault(path.resolve(), path)
        if seen is not path:
            same = "" if str(seen) == str(path) else f" (as {seen})"
            raise UsageError(f"{path} is given more than once{same}; list each model once")
    run = run or RunOptions()
    resolved = pipeline.resolve_probes(paths, options, trust_remote_code=run.trust_remote_code)
    files = {str(p): fp for p, fp in zip(paths, resolved.fingerprints) if fp is not None}
    if files:
        _check_same_spec(files)
    fps = [fp if fp is not None else pipeline.fingerprint_model(p, resolved.probes, run=run)
           for p, fp in zip(paths, resolved.fingerprints)]
    _check_same_width({str(p): fp for p, fp in zip(paths, fps)})
    return fps


def _odd_one_out(keys: dict[str, Any]) -> tuple[str, str] | None:
    """``(first input with the most common key, first input with another key)``, or None when all agree."""
    common = Counter(keys.values()).most_common(1)[0][0]
    odd = next((name for name, key in keys.items() if key != common), None)
    if odd is None:
        return None
    return next(name for name, key in keys.items() if key == common), odd


def _check_same_spec(fps: dict[str, Fingerprint]) -> str:
    """Refuse fingerprint files made with different probes, naming the odd one out; return one file's name."""
    pair = _odd_one_out({name: fp.spec for name, fp in fps.items()})
    if pair is None:
        return next(iter(fps))
    usual, odd = pair
    raise IncompatibleFingerprintsError(
        f"{odd} was made with other probes ({fps[odd].spec.describe()}) than {usual} ({fps[usual].spec.describe()}); "
        f"re-fingerprint its model with `seedprints fingerprint MODEL --like {usual}`"
    )


def _check_same_width(fps: dict[str, Fingerprint]) -> None:
    pair = _odd_one_out({name: fp.hidden_size for name, fp in fps.items()})
    if pair is not None:
        usual, odd = pair
        raise IncompatibleFingerprintsError(
            f"{odd} has hidden size {fps[odd].hidden_size} but {usual} has {fps[usual].hidden_size}; the test compares "
            "dimensions one to one, so a matrix needs models of one width: leave it out"
        )


def run_matrix(
    inputs: Sequence[str | Path | Fingerprint],
    *,
    names: Sequence[str] | None = None,
    method: str = DEFAULT_METHOD,
    alpha: float = 0.01,
    options: ProbeOptions | None = None,
    run: RunOptions | None = None,
    on_pair: Callable[[], None] | None = None,
    **settings: Any,
) -> MatrixResult:
    """Test every ordered pair of ``inputs`` (reference row, suspect column).

    Parameters
    ----------
    inputs : sequence of Fingerprint, or of paths to fingerprint files or model directories
        At least two, all of one probe spec (paths: see :func:`resolve_inputs`).
    names : sequence of str, optional
        One name per input (default: the paths as given; ``model_id`` for fingerprints, numbered when repeated).
    method : str
        A key of :data:`seedprints.stats.methods.METHODS` (``"lineage"`` or ``"paper"``).
    alpha : float
        Significance level of each verdict (no correction over pairs: each verdict is about its pair).
    on_pair : callable, optional
        Called after each pair, e.g. to advance a progress bar.
    **settings
        The method's settings (e.g. ``buffer_k`` for paper mode).

    Returns
    -------
    MatrixResult
        ``K (K - 1)`` results for ``K`` inputs.
    """
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1 (got {alpha})")
    runner = METHODS.get(method)
    if runner is None:
        raise UsageError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    in_memory = [isinstance(x, Fingerprint) for x in inputs]
    if any(in_memory) and not all(in_memory):
        raise UsageError("give either fingerprints or paths, not a mix; load the files with seedprints.load_fingerprint")
    if any(in_memory):
        fps = list(inputs)
        default_names = _numbered([fp.model_id for fp in fps])
        if len(fps) < MIN_MODELS:
            raise UsageError(f"a matrix needs at least {MIN_MODELS} fingerprints (got {len(fps)})")
        _check_same_spec(dict(zip(default_names, fps)))
        _check_same_width(dict(zip(default_names, fps)))
    else:
        fps = resolve_inputs(inputs, options=options, run=run)
        default_names = [str(x) for x in inputs]
    names = list(names) if names is not None else default_names
    if len(names) != len(fps) or len(set(names)) != len(names):
        raise UsageError(f"give {len(fps)} distinct names, one per input (got {names})")
    # the lineage test reads only ranks: rank each model once, not once per pair (same numbers)
    ranked = [rank_fingerprint(fp) for fp in fps] if method == "lineage" else None

    def test(i: int, j: int) -> LineageResult:
        if ranked is not None:
            return lineage_test_ranked(ranked[i], ranked[j], alpha, **settings)
        return runner(fps[i], fps[j], alpha=alpha, **settings)

    results: dict[tuple[int, int], LineageResult] = {}
    for i in range(len(fps)):
        for j in range(len(fps)):
            if i != j:
                results[i, j] = dataclasses.replace(test(i, j), probe_hash=fps[i].probe_hash)
                if on_pair is not None:
                    on_pair()
    return MatrixResult(
        names=tuple(names), labels=tuple(short_labels(names)), fingerprints=tuple(fps), spec=fps[0].spec,
        method=method, alpha=alpha, settings=dict(settings), results=results,
    )


def _numbered(names: list[str]) -> list[str]:
    """Names made unique for error messages (``model``, ``model (2)``)."""
    seen: Counter[str] = Counter()
    out = []
    for name in names:
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out
