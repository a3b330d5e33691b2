"""The lineage tests by name, with the defaults the CLI, the API and the zoo harness share."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from seedprints.stats.lineage import lineage_test
from seedprints.stats.paper import paper_test
from seedprints.stats.result import LineageResult

PAPER_BUFFER_RATIO = 0.10  # the paper keeps 10% of d as identity dimensions


def paper_method(h_ref: np.ndarray, h_suspect: np.ndarray, *, alpha: float = 0.01, **settings: Any) -> LineageResult:
    """Paper mode with the paper's width-relative default ``buffer_k = 10% of d`` (at least 1)."""
    if settings.get("buffer_k") is None:
        settings["buffer_k"] = max(1, round(PAPER_BUFFER_RATIO * np.shape(h_ref)[1]))
    return paper_test(h_ref, h_suspect, alpha=alpha, **settings)


METHODS: dict[str, Callable[..., LineageResult]] = {"lineage": lineage_test, "paper": paper_method}
DEFAULT_METHOD = "lineage"
