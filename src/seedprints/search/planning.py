"""Plan an identification: by probe spec, the suspect's fingerprint (on the rows the tests read) and the entries to test.

A fingerprint is tested against the entries of its own spec; a model directory is fingerprinted with every
registry spec it can take (in rounds with early stopping, :class:`seedprints.rounds.ModelRounds`).
"""

from __future__ import annotations

import collections
import dataclasses
from pathlib import Path
from typing import Any, Callable

from seedprints import pipeline
from seedprints.errors import IncompatibleFingerprintsError
from seedprints.fingerprint import Fingerprint
from seedprints.naming import setting
from seedprints.options import ProbeOptions, RunOptions
from seedprints.probe_files import load_probe_file
from seedprints.probes import ProbeSpec, probes_for
from seedprints.registry import Registry
from seedprints.rounds import ModelRounds
from seedprints.stats.sequential import DEFAULT_FIRST_LOOK

_MAX_LISTED_SPECS = 5


@dataclasses.dataclass
class Plan:
    """What to test: by probe hash, the suspect's fingerprint on the first n probes, the rows usable and the entries."""

    suspects: dict[str, Callable[[int], Fingerprint]] = dataclasses.field(default_factory=dict)
    rows: dict[str, int] = dataclasses.field(default_factory=dict)
    names: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    notes: list[str] = dataclasses.field(default_factory=list)
    extracts: bool = False  # the suspect is extracted during the looks (its own progress bar replaces the scan's)


def specs_text(specs: dict[str, tuple[ProbeSpec, int]]) -> str:
    listed = [f"{spec.describe()} ({count} entr{'y' if count == 1 else 'ies'})" for spec, count in specs.values()]
    more = len(listed) - _MAX_LISTED_SPECS
    return "; ".join(listed[:_MAX_LISTED_SPECS]) + (f"; and {more} more" if more > 0 else "")


def _model_takes(spec: ProbeSpec, shape: tuple[int, int | None]) -> bool:
    """Whether a model of ``(hidden_size, vocab_size)`` can run the probes of ``spec``."""
    hidden, vocab = shape
    if spec.feeds_embeddings:
        return spec.hidden_size == hidden
    return spec.max_token_id is None or vocab is None or spec.max_token_id < vocab


@dataclasses.dataclass(frozen=True)
class Cut:
    """How much of each spec the tests read: at most ``budget`` probes, on growing prefixes with ``early_stop``."""

    budget: int | None = None
    early_stop: bool = False

    def rows(self, spec: ProbeSpec) -> int | None:
        """Probes of ``spec`` the tests read, or None when that needs a prefix the probes do not have."""
        n = min(self.budget, spec.n) if self.budget else spec.n
        smallest = min(DEFAULT_FIRST_LOOK, n) if self.early_stop else n
        return None if smallest < spec.n and not spec.extendable else n


def _prefixes(fp: Fingerprint) -> Callable[[int], Fingerprint]:
    """``n -> `` the fingerprint of the first n probes of ``fp``."""
    return lambda n: fp if n == fp.n else fp.prefix(n)


def _plan_for_model(
    model: Path, reg: Registry, specs: dict[str, tuple[ProbeSpec, int]], options: ProbeOptions | None,
    run: RunOptions, cut: Cut,
) -> Plan:
    """Fingerprint a model directory with every registry spec it can take and that has entries of its width.

    With early stopping, generated probes are extracted in rounds (only the rows a look needs), the
    model loaded once; otherwise the model is fingerprinted on the rows the test reads.
    """
    from seedprints.model.fit import read_model_shape  # torch and transformers

    shape = read_model_shape(model, trust_remote_code=run.trust_remote_code)
    file_probes = load_probe_file(options.probe_file) if options is not None and options.probe_file else None
    plan = Plan()
    loaded: list[Any] = []
    for probe_hash, (spec, count) in specs.items():
        probes = probes_for(spec, file_probes)
        if probes is None:
            plan.skipped["probe_file"] += count
            plan.notes.append(f"skipped {count} entries made from a probe file ({spec.describe()}); pass that file "
                              f"with {setting('probe_file')}")
            continue
        if not _model_takes(spec, shape):
            plan.skipped["model_cannot_take_probes"] += count
            continue
        rows = cut.rows(spec)
        if rows is None:
            plan.skipped["no_prefix"] += count
            continue
        entries = reg.entries(probe_hash=probe_hash)
        same_width = [e.name for e in entries if e.hidden_size == shape[0]]
        plan.skipped["hidden_size"] += len(entries) - len(same_width)
        if not same_width:
            continue
        if cut.early_stop and spec.extendable:
            if not loaded:
                loaded.append(pipeline.load_model(model, run))
            plan.suspects[probe_hash] = ModelRounds(loaded[0], spec.with_n(rows), run,
                                                    probe_origin=f"registry {reg.path}").upto
            plan.extracts = True
        else:
            fp = pipeline.fingerprint_model(model, probes if rows == spec.n else spec.with_n(rows), run=run,
                                            probe_origin=f"registry {reg.path}")
            plan.suspects[probe_hash] = _prefixes(fp)
        plan.rows[probe_hash] = rows
        plan.names[probe_hash] = same_width
    if not plan.suspects and not plan.skipped["hidden_size"] and not plan.skipped["no_prefix"]:
        raise IncompatibleFingerprintsError(
            f"model {model} can take none of the probe specs in registry {reg.path}: {specs_text(specs)}; "
            "register references made with probes this model can run"
        )
    return plan


def _plan_for_fingerprint(
    fp: Fingerprint, reg: Registry, specs: dict[str, tuple[ProbeSpec, int]], label: str, cut: Cut
) -> Plan:
    """Test a fingerprint (or its first probes) against the entries of its own probe spec; every other entry is skipped."""
    if fp.probe_hash not in specs:
        raise IncompatibleFingerprintsError(
            f"the probe spec of {label} ({fp.spec.describe()}) matches no entry of registry {reg.path}, which holds: "
            f"{specs_text(specs)}; pass the suspect's model directory instead, and identify fingerprints it with "
            "the registry's specs"
        )
    plan = Plan()
    plan.skipped["probe_spec"] = sum(count for h, (_, count) in specs.items() if h != fp.probe_hash)
    entries = reg.entries(probe_hash=fp.probe_hash)
    rows = cut.rows(fp.spec)
    if rows is None:
        plan.skipped["no_prefix"] = len(entries)
        return plan
    plan.names[fp.probe_hash] = [e.name for e in entries if e.hidden_size == fp.hidden_size]
    plan.suspects[fp.probe_hash] = _prefixes(fp)
    plan.rows[fp.probe_hash] = rows
    plan.skipped["hidden_size"] = len(entries) - len(plan.names[fp.probe_hash])
    return plan




def suspect_plan(
    suspect: Fingerprint | str | Path, reg: Registry, specs: dict[str, tuple[ProbeSpec, int]], label: str,
    options: ProbeOptions | None, run: RunOptions, cut: Cut,
) -> Plan:
    """The plan for ``suspect``: a fingerprint (in memory or a file) against its own spec's entries, a model
    directory fingerprinted with every registry spec it can take."""
    fp = pipeline.known_fingerprint(suspect)
    if fp is not None:
        return _plan_for_fingerprint(fp, reg, specs, label, cut)
    return _plan_for_model(Path(suspect), reg, specs, options, run, cut)
