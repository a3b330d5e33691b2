"""seedprints: tell whether one language model descends from another, with a p-value.

``import seedprints`` is cheap: the public names below load lazily, and torch is imported only
when a model is actually fingerprinted.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_EXPORTS = {
    "fingerprint_model": "seedprints.api",
    "load_fingerprint": "seedprints.api",
    "compare": "seedprints.api",
    "check_claims": "seedprints.api",
    "ClaimsResult": "seedprints.claims.results",
    "identify": "seedprints.search.identification",
    "IdentifyResult": "seedprints.search.identification",
    "Registry": "seedprints.search.index",  # the registry that stores the search index
    "rank_fingerprint": "seedprints.encoding",
    "Fingerprint": "seedprints.fingerprint",
    "ProbeSpec": "seedprints.probes",
    "LineageResult": "seedprints.stats.result",
    "SeedprintsError": "seedprints.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    """Load a public name on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'seedprints' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
