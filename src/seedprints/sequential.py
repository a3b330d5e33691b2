"""Fingerprints in rounds: extract only the probes a decision needs, and extend a fingerprint file later.

Generated probe specs draw row i from its own stream, so the first n rows of a spec with N probes
are the probes of the same spec with n (:meth:`seedprints.probes.ProbeSpec.with_n`). A model can
therefore be fingerprinted in rounds (rows ``0:25``, then ``25:50``, ...), tested after each round
with :mod:`seedprints.stats.sequential`, and a fingerprint file can later grow to more probes of the
same spec while only the missing rows are computed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from seedprints import api
from seedprints import fingerprint as _fpfile
from seedprints.errors import IncompatibleFingerprintsError, UsageError
from seedprints.fingerprint import Fingerprint
from seedprints.probes import ProbeSpec, generated
from seedprints.stats.methods import METHODS
from seedprints.stats.result import LineageResult
from seedprints.stats.sequential import SequentialDesign, run_sequential

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
    loaded : seedprints.extract.LoadedModel
        The model (:func:`seedprints.extract.load_model`).
    spec : ProbeSpec
        Generated probes (token or embedding, rng pcg64); its ``n`` is the most rows ever extracted.
    start : Fingerprint, optional
        Rows already known (a prefix of ``spec``), kept as they are.
    batch_size, device, progress
        Forward-pass settings of :func:`seedprints.extract.extract_hidden_states`.
    """

    def __init__(self, loaded: Any, spec: ProbeSpec, *, start: Fingerprint | None = None, batch_size: int = 32,
                 device: str | None = None, progress: bool = False, probe_origin: str | None = None) -> None:
        from seedprints import extract

        if not spec.extendable:
            raise UsageError(f"probes {spec.describe()} cannot be extracted in rounds: use generated token or embedding probes")
        self.loaded, self.spec = loaded, spec
        self._probes = generated(spec)
        self._kwargs = dict(batch_size=batch_size, device=device, progress=progress, probe_origin=probe_origin)
        self.model_id = start.model_id if start else loaded.model_id
        self.metadata = dict(start.metadata) if start else extract.model_metadata(loaded)
        width = start.hidden_size if start else loaded.hidden_size
        self.hidden = start.hidden if start else np.empty((0, width), dtype=np.float32)
        self.logits = start.logits if start else None

    @property
    def rows(self) -> int:
        """Rows extracted so far."""
        return int(self.hidden.shape[0])

    def extract(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Hidden states (and recorded logits) of probe rows ``start:stop``, computed now."""
        from seedprints import extract

        hidden = extract.extract_hidden_states(self.loaded, self._probes.rows(start, stop), **self._kwargs)
        logits = api.output_logits(self.loaded, hidden, self.spec.output_tokens) if self.spec.output_tokens else None
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
                           metadata=self.metadata, logits=None if self.logits is None else self.logits[:n])


def _load(model: Any, kwargs: dict[str, Any]) -> Any:
    from seedprints import extract

    return extract.load_model(model, dtype=kwargs.get("dtype", "auto"), device=kwargs.get("device", "auto"),
                              trust_remote_code=kwargs.get("trust_remote_code", False))


def _rounds(loaded: Any, spec: ProbeSpec, kwargs: dict[str, Any], start: Fingerprint | None = None) -> ModelRounds:
    return ModelRounds(loaded, spec, start=start, batch_size=kwargs.get("batch_size", 32),
                       device=kwargs.get("device"), progress=kwargs.get("progress", False))


def _side(source: Fingerprint | str | Path) -> Fingerprint | None:
    if isinstance(source, Fingerprint):
        return source
    return api.load_fingerprint(source) if api.is_fingerprint_file(source) else None


def compare_in_rounds(
    ref: Fingerprint | str | Path,
    suspect: Fingerprint | str | Path,
    *,
    alpha: float = 0.01,
    budget: int | None = None,
    options: api.ProbeOptions | None = None,
    fingerprint_kwargs: dict[str, Any] | None = None,
    **settings: Any,
) -> tuple[LineageResult, tuple[Fingerprint, Fingerprint]]:
    """:func:`compare_sequential`, also returning both fingerprints at the stopping look (e.g. to save or bundle them)."""
    kwargs = fingerprint_kwargs or {}
    sides = [_side(ref), _side(suspect)]
    known = [s for s in sides if s is not None]
    if known:
        spec = known[0].spec
        if len(known) == 2 and not (spec == known[1].spec or spec.differs_only_in_n(known[1].spec)):
            _fpfile.check_compatible(known[0], known[1])  # names both specs
        available = min(fp.n for fp in known)
        n_budget = min(budget, available) if budget else available
        api.check_models_take([x for s, x in zip(sides, (ref, suspect)) if s is None], spec, known[0].hidden_size,
                              origin=f"fingerprint of {known[0].model_id}",
                              trust_remote_code=kwargs.get("trust_remote_code", False))
    else:
        opts = options or api.ProbeOptions()
        if opts.probe_file:
            raise UsageError("early stopping needs generated probes; drop --probe-file or --early-stop")
        n_budget = budget or opts.n
        opts = dataclasses.replace(opts, n=n_budget)
        spec = api.shared_default_spec([Path(str(ref)), Path(str(suspect))], opts)  # type: ignore[assignment]
    if not spec.extendable:
        raise UsageError(f"early stopping needs generated probes, not {spec.describe()}; drop --early-stop")
    spec = spec.with_n(n_budget)
    growers = []
    for side, source in zip(sides, (ref, suspect)):
        if side is not None:
            growers.append(side.prefix)
        else:
            growers.append(_rounds(_load(source, kwargs), spec, kwargs).upto)
    current: list[Fingerprint] = []

    def result_at(n: int) -> LineageResult:
        current[:] = [grow(n) for grow in growers]
        _fpfile.check_compatible(current[0], current[1], same_width=True)
        return METHODS["lineage"](current[0], current[1], alpha=alpha, **settings)

    result = run_sequential(SequentialDesign.doubling(n_budget, alpha), result_at, length=spec.length)
    result = dataclasses.replace(result, probe_hash=current[0].probe_hash,
                                 settings={**result.settings, "budget_probe_hash": spec.hash})
    return result, (current[0], current[1])


def compare_sequential(
    ref: Fingerprint | str | Path,
    suspect: Fingerprint | str | Path,
    *,
    alpha: float = 0.01,
    budget: int | None = None,
    options: api.ProbeOptions | None = None,
    fingerprint_kwargs: dict[str, Any] | None = None,
    **settings: Any,
) -> LineageResult:
    """The default lineage test with early stopping: looks after 25, 50, 100, ... probes, up to the budget.

    Parameters
    ----------
    ref, suspect : Fingerprint, or path to a fingerprint file or a model directory
        Model directories are fingerprinted in rounds (only the rows each look needs; two
        directories share the probes the reference picks, as in :func:`seedprints.api.resolve_pair`);
        fingerprint files are read on row prefixes.
    alpha : float
        Total false-positive rate of the sequential test (Bonferroni spending over the looks).
    budget : int, optional
        Most probes to use. Default: ``options.n`` for two model directories, else every row of the
        fingerprint file(s) (the shorter one's count when both are files).
    options, fingerprint_kwargs
        As in :func:`seedprints.api.compare`.
    **settings
        Settings of the lineage test (e.g. ``n_permutations``).

    Returns
    -------
    LineageResult
        See :func:`seedprints.stats.sequential.run_sequential`; ``probe_hash`` is the hash of the probes
        used up to the stopping look, ``settings["budget_probe_hash"]`` the hash at the full budget.

    Raises
    ------
    UsageError
        Probes read from a file (no prefix property), or a budget under the test's minimum.
    IncompatibleFingerprintsError
        The two sides' probes differ other than in their count, or their widths differ.
    """
    return compare_in_rounds(ref, suspect, alpha=alpha, budget=budget, options=options,
                             fingerprint_kwargs=fingerprint_kwargs, **settings)[0]


def fingerprint_until_decided(
    model: Any,
    reference: Fingerprint,
    *,
    alpha: float = 0.01,
    budget: int | None = None,
    **fingerprint_kwargs: Any,
) -> tuple[Fingerprint, LineageResult]:
    """Fingerprint ``model`` with the reference's probes in rounds, stopping once the lineage verdict is decided.

    Returns the suspect's fingerprint at the stopping look (extend it later with
    :func:`extend_fingerprint`) and the sequential result against ``reference``.
    """
    result, (_, suspect) = compare_in_rounds(reference, model, alpha=alpha, budget=budget,
                                             fingerprint_kwargs=fingerprint_kwargs)
    return suspect, result


def _relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    scale = float(np.sqrt(np.mean(np.square(b, dtype=np.float64))))
    return float(np.sqrt(np.mean(np.square(a.astype(np.float64) - b)))) / max(scale, 1e-30)


def extend_fingerprint(
    model: Any,
    existing: Fingerprint,
    n: int,
    *,
    source: str = "the fingerprint",
    **fingerprint_kwargs: Any,
) -> Fingerprint:
    """Grow a fingerprint to ``n`` probes of the same spec, computing only the missing rows.

    Parameters
    ----------
    model : str, Path or torch.nn.Module
        The model that made ``existing``.
    existing : Fingerprint
        A fingerprint of generated probes; its rows are kept as they are.
    n : int
        Probes of the result (more than ``existing.n``).
    source : str
        How to name ``existing`` in error messages (its path).
    **fingerprint_kwargs
        ``device``, ``dtype``, ``batch_size``, ``trust_remote_code``, ``progress``.

    Returns
    -------
    Fingerprint
        ``existing``'s rows followed by the new ones, with spec ``existing.spec.with_n(n)`` and the
        file's header (``created_at`` left to the writer). On a batch-invariant forward pass (as on
        CPU) it is bit-identical to a fresh fingerprint with N = n.

    Raises
    ------
    UsageError
        ``n`` is not larger than ``existing.n``, or the probes come from a file.
    IncompatibleFingerprintsError
        The model differs from the one that made ``existing``: its header fields (revision, config,
        dtype, tokenizer, ...) differ, or it does not reproduce the file's last rows.
    """
    if n <= existing.n:
        raise UsageError(f"{source} already holds {existing.n} probes; pass --n larger than {existing.n} to extend it")
    spec = existing.spec.with_n(n)
    loaded = _load(model, fingerprint_kwargs)
    rounds = _rounds(loaded, spec, fingerprint_kwargs, start=existing)
    from seedprints import extract

    fresh = extract.model_metadata(loaded)
    for key in IDENTITY_KEYS:
        old = existing.metadata.get(key)
        if old is not None and old != fresh[key]:
            raise IncompatibleFingerprintsError(
                f"{source} was made by another model or setting ({key} {old!r}, this model {fresh[key]!r}); "
                "extend it with the model and --dtype that made it, or fingerprint anew"
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
