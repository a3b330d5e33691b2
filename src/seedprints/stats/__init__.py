"""Lineage tests on hidden-state matrices: the default permutation-null test, the paper's test, their parts.

Importing this package imports neither torch nor scipy: its names load on first use (PEP 562), so a verb that only
checks options stays quick to start.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LineageResult": "seedprints.stats.result",
    "kendall_tau_b_columns": "seedprints.stats.kendall",
    "lineage_test": "seedprints.stats.lineage",
    "paper_test": "seedprints.stats.paper",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Load a public name on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'seedprints.stats' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
