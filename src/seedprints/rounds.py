"""A model's fingerprint grown in rounds: extract only the probes a decision needs, and extend a file later.

Generated probe specs draw row i from its own stream, so the first n rows of a spec with N probes
are the probes of the same spec with n (:meth:`seedprints.probes.ProbeSpec.with_n`). A model can
therefore be fingerprinted in rounds (rows ``0:25``, then ``25:50``, ...), tested after each round
with :mod:`seedprints.stats.sequential`, and a fingerprint file can later grow to more probes of the
same spec while only the missing rows are computed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from seedprints.errors import IncompatibleFingerprintsError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.naming import setting
from seedprints.options import RunOptions
from seedprints.probes import ProbeSpec, generated

# Header fields that must agree before a file is extended with a model's new rows.
IDENTITY_KEYS = ("model_revision", "config_hash", "dtype", "model_type", "architecture", "num_layers", "vocab_size",
                 "tokenizer_hash")
VERIFY_ROWS = 4  # last rows of a file recomputed before extending it: they must match
FLOAT32_TOLERANCE = 1e-3  # relative RMS difference allowed between recomputed and stored rows
HALF_TOLERANCE = 2e-2


class ModelRounds:
    """One model's fingerprint on one spec, grown in rounds: loaded once, each row extracted once.

    Parameters
    ----------
    loaded : seedprints.model.loaded.LoadedModel
        The model (:func:`seedprints.model.load.load_model`).
    spec : ProbeSpec
        Generated probes (token or embedding, rng pcg64); its ``n`` is the most rows ever extracted.
    run : RunOptions
        Forward-pass settings (device, batch size, progress).
    start : Fingerprint, optional
        Rows already known (a prefix of ``spec``), kept as they are.
    probe_origin : str, optional
        Where the probes came from, for advice when the model cannot take them.
    """

    def __init__(self, loaded: Any, spec: ProbeSpec, run: RunOptions, *, start: Fingerprint | None = None,
                 probe_origin: str | None = None) -> None:
        from seedprints.model.metadata import model_metadata
        from seedprints.model.weights import file_sketch

        if not spec.extendable:
            raise UsageError(f"probes {spec.describe()} cannot be extracted in rounds: use generated token or embedding probes")
        self.loaded, self.spec, self.run = loaded, spec, run
        self._probes = generated(spec)
        self._probe_origin = probe_origin
        self.weights = start.weights if start and start.weights is not None else (
            file_sketch(loaded) if run.weight_sketch else None)
        self.model_id = start.model_id if start else loaded.model_id
        self.metadata = dict(start.metadata) if start else model_metadata(loaded)
        width = start.hidden_size if start else loaded.hidden_size
        self.hidden = start.hidden if start else np.empty((0, width), dtype=np.float32)
        self.logits = start.logits if start else None

    @property
    def rows(self) -> int:
        """Rows extracted so far."""
        return int(self.hidden.shape[0])

    def extract(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Hidden states (and recorded logits) of probe rows ``start:stop``, computed now."""
        from seedprints.model.forward import extract_hidden_states, output_logits

        hidden = extract_hidden_states(self.loaded, self._probes.rows(start, stop), batch_size=self.run.batch_size,
                                       device=self.run.device, progress=self.run.progress, probe_origin=self._probe_origin)
        logits = output_logits(self.loaded, hidden, self.spec.output_tokens) if self.spec.output_tokens else None
        return hidden, logits

    def upto(self, n: int) -> Fingerprint:
        """The fingerprint of the first ``n`` probes, extracting only the rows not yet known."""
        if n > self.spec.n:
            raise UsageError(f"cannot extract {n} probes of a spec of {self.spec.n}")
        if n > self.rows:
            hidden, logits = self.extract(self.rows, n)
            self.hidden = np.concatenate([self.hidden, hidden])
            if logits is not None:
                self.logits = logits if self.logits is None else np.concatenate([self.logits, logits])
        return Fingerprint(hidden=self.hidden[:n], spec=self.spec.with_n(n), model_id=self.model_id,
                           metadata=self.metadata, logits=None if self.logits is None else self.logits[:n], weights=self.weights)


def _relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    scale = float(np.sqrt(np.mean(np.square(b, dtype=np.float64))))
    return float(np.sqrt(np.mean(np.square(a.astype(np.float64) - b)))) / max(scale, 1e-30)


def check_growth(existing: Fingerprint, n: int, source: str) -> None:
    """UsageError unless ``n`` probes are more than ``existing`` holds (``source`` names it)."""
    if n <= existing.n:
        raise UsageError(f"{source} already holds {existing.n} probes; pass {setting('n')} larger than {existing.n} "
                         "to extend it")


def extend_fingerprint(
    loaded: Any,
    existing: Fingerprint,
    n: int,
    run: RunOptions,
    *,
    source: str = "the fingerprint",
) -> Fingerprint:
    """Grow a fingerprint to ``n`` probes of the same spec, computing only the missing rows.

    Parameters
    ----------
    loaded : seedprints.model.loaded.LoadedModel
        The model that made ``existing``.
    existing : Fingerprint
        A fingerprint of generated probes; its rows are kept as they are.
    n : int
        Probes of the result (more than ``existing.n``).
    run : RunOptions
        Forward-pass settings.
    source : str
        How to name ``existing`` in error messages (its path).

    Returns
    -------
    Fingerprint
        ``existing``'s rows followed by the new ones, with spec ``existing.spec.with_n(n)`` and the
        file's header (``created_at`` left to the writer). On a batch-invariant forward pass (as on
        CPU) it equals a fresh fingerprint with N = n.

    Raises
    ------
    UsageError
        ``n`` is not larger than ``existing.n``, or the probes come from a file.
    IncompatibleFingerprintsError
        The model differs from the one that made ``existing``: its header fields (revision, config,
        dtype, tokenizer, ...) differ, or it does not reproduce the file's last rows.
    """
    check_growth(existing, n, source)
    spec = existing.spec.with_n(n)
    from seedprints.model.metadata import model_metadata

    rounds = ModelRounds(loaded, spec, run, start=existing)
    fresh = model_metadata(loaded)
    for key in IDENTITY_KEYS:
        old = existing.metadata.get(key)
        if old is not None and old != fresh[key]:
            raise IncompatibleFingerprintsError(
                f"{source} was made by another model or setting ({key} {old!r}, this model {fresh[key]!r}); "
                f"extend it with the model and {setting('dtype')} that made it, or fingerprint anew"
            )
    start = max(0, existing.n - VERIFY_ROWS)
    again, _ = rounds.extract(start, existing.n)
    difference = _relative_difference(again, existing.hidden[start:])
    if difference > (FLOAT32_TOLERANCE if fresh["dtype"] == "float32" else HALF_TOLERANCE):
        raise IncompatibleFingerprintsError(
            f"{loaded.model_id} does not reproduce the last probes of {source} (relative difference {difference:.3g}); "
            "extend a fingerprint only with the model that made it"
        )
    grown = rounds.upto(n)
    return dataclasses.replace(grown, metadata={k: v for k, v in grown.metadata.items() if k != "created_at"})
