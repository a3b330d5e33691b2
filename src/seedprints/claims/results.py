"""What a claims run returns (:class:`ClaimsResult`): every claim's outcome, every model's report, and, when kept,
the evidence its bundles embed."""

from __future__ import annotations

import dataclasses
from typing import Any

from seedprints.claims import outcomes as oc
from seedprints.stats.result import LineageResult, plain_json


@dataclasses.dataclass(frozen=True)
class ModelReport:
    """One model of the run: what its card said, how it was fingerprinted, and why anything did not run.

    ``card`` describes what was read (or the problem); ``fingerprint`` is ``computed``, ``cached`` (from an earlier
    run) or ``failed``; ``error`` why it failed; ``unclaimed_check`` why the identification against the whole
    registry did not run (None when it ran).
    """

    name: str
    model: str
    path: str | None
    commit: str | None
    card: str
    claims: int
    fingerprint: str
    probe_hash: str | None
    n: int | None
    error: str | None
    unclaimed_check: str | None
    seconds: float


@dataclasses.dataclass(frozen=True)
class EvidenceItem:
    """A fingerprint a tested claim read, as ranks (a model's on the probes of the test), where it came from, and the
    model's local path (for its files' checksums; None for registry entries)."""

    ranked: Any
    source: str
    path: str | None


@dataclasses.dataclass(frozen=True)
class EvidenceTest:
    """One tested claim: its row, the names of its base and model in :attr:`Evidence.fingerprints`, its result."""

    row: int
    base: str
    model: str
    result: LineageResult


@dataclasses.dataclass(frozen=True)
class Evidence:
    """What the evidence bundles of a run embed: the fingerprints by name, and every tested claim in family order."""

    fingerprints: dict[str, EvidenceItem]
    tests: list[EvidenceTest]


@dataclasses.dataclass(frozen=True)
class ClaimsResult:
    """Outcome of :func:`check_claims`.

    Attributes
    ----------
    claims : list of ClaimOutcome
        One row per claim (and per unclaimed identification), model by model in input order.
    models : list of ModelReport
        Every model of the run.
    registry : str
        The registry the claims were tested against.
    alpha : float
        Level of the outcomes.
    correction : {"holm", "bh"}
        The family-wise (Holm) or false-discovery-rate (Benjamini-Hochberg) correction over the tested claims.
    tested : int
        Claims tested (the family the correction counts).
    counts : dict of str to int
        Rows per outcome.
    notes : list of str
        What a reader should know about the run.
    evidence : Evidence or None
        With ``keep_evidence=True``: what the evidence bundles embed (left out of :meth:`to_dict`;
        :func:`seedprints.claims.bundles.write_bundles` writes them).
    """

    claims: list[oc.ClaimOutcome]
    models: list[ModelReport]
    registry: str
    alpha: float
    correction: str
    tested: int
    counts: dict[str, int]
    notes: list[str] = dataclasses.field(default_factory=list)
    evidence: Evidence | None = dataclasses.field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; undefined values become None, never NaN."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "evidence"}
        fields["claims"] = [c.to_dict() for c in self.claims]
        fields["models"] = [dataclasses.asdict(m) for m in self.models]
        return plain_json(fields)
