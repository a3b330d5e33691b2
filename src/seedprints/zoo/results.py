"""What a zoo evaluation measured: each pair's results, the models that failed, and the report behind ``results.json``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from seedprints import LineageResult
from seedprints.errors import SeedprintsError, compact_message
from seedprints.stats.result import plain_json

__all__ = ["EvalReport", "FailedModel", "PairResult", "one_line"]

RESULTS_SCHEMA_VERSION = 1


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


def one_line(exc: BaseException) -> str:
    """A failed model's reason for the results page: our errors as they are, others with their class."""
    return compact_message(exc, 300, with_class=not isinstance(exc, SeedprintsError))


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
        return plain_json(
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
