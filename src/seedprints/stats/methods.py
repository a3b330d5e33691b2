"""The lineage tests by name, run on two fingerprints, with the defaults the CLI, the API and the zoo share.

Each method also names the probes it is designed for: ``lineage`` reads untrained-token probes
(trained-token probes and padding-row probes, plus the logits of other padding rows), ``paper`` the
paper's uniform token probes.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np

from seedprints.stats.defaults import DEFAULT_METHOD, METHOD_PROBES
from seedprints.stats.lineage import lineage_test
from seedprints.stats.notes import with_vocab_note
from seedprints.stats.paper import paper_test
from seedprints.stats.result import LineageResult

PAPER_BUFFER_RATIO = 0.10  # the paper keeps 10% of d as identity dimensions


class FingerprintLike(Protocol):
    """What a method reads: the hidden states, the recorded logits, and the probe spec that says what they are."""

    hidden: np.ndarray
    logits: np.ndarray | None
    spec: Any


def paper_method(ref: FingerprintLike, suspect: FingerprintLike, *, alpha: float = 0.01, **settings: Any) -> LineageResult:
    """Paper mode with the paper's width-relative default ``buffer_k = 10% of d`` (at least 1)."""
    if settings.get("buffer_k") is None:
        settings["buffer_k"] = max(1, round(PAPER_BUFFER_RATIO * np.shape(ref.hidden)[1]))
    return paper_test(ref.hidden, suspect.hidden, alpha=alpha, **settings)


def lineage_method(ref: FingerprintLike, suspect: FingerprintLike, *, alpha: float = 0.01, **settings: Any) -> LineageResult:
    """The default test on hidden states, plus the logits of untrained tokens when the probes certify them so, plus
    the units part when both fingerprints carry a weight sketch."""
    groups = ref.spec.row_groups()
    sketches = getattr(ref, "weights", None), getattr(suspect, "weights", None)
    if None not in sketches:
        settings = {**settings, "weights_ref": sketches[0], "weights_suspect": sketches[1]}
    if ref.logits is not None and ref.spec.scores_untrained_logits:
        return lineage_test(ref.hidden, suspect.hidden, alpha, logits_ref=ref.logits, logits_suspect=suspect.logits,
                            row_groups=groups, **settings)
    return with_vocab_note(lineage_test(ref.hidden, suspect.hidden, alpha, row_groups=groups, **settings), ref.spec)


METHODS: dict[str, Callable[..., LineageResult]] = {"lineage": lineage_method, "paper": paper_method}
assert set(METHODS) == set(METHOD_PROBES)
