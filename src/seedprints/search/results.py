"""What :func:`seedprints.identify` returns: ranked candidates with adjusted p-values, and what a bundle embeds."""

from __future__ import annotations

import dataclasses
from typing import Any

from seedprints.encoding import RankedFingerprint
from seedprints.fingerprint import Fingerprint
from seedprints.stats.result import LineageResult, Verdict, plain_json

DEFAULT_TOP = 10



@dataclasses.dataclass(frozen=True)
class Candidate:
    """One registry entry tested against the suspect.

    Attributes
    ----------
    name, model_id : str
        The entry's name and the model it was made from.
    tags : dict of str to str
        The entry's tags (family, seed, ...).
    p_value, log10_p : float
        The pair's own lineage-test p-value (as in ``seedprints compare``) and its exact log10.
    p_holm, log10_p_holm : float
        Holm-adjusted p-value over all tests of the scan: family-wise error control.
    p_bh, log10_p_bh : float
        Benjamini-Hochberg-adjusted p-value over all tests of the scan: false discovery rate control.
    z : float
        The pair's z (the larger of the hidden and untrained-token logit parts).
    tau_mean : float or None
        Mean same-index Spearman correlation of hidden dimensions.
    hidden_z, vocab_z : float, float or None
        The two parts of the default test (``vocab_z`` is None when no logits were recorded).
    verdict : {"same-lineage", "independent"}
        Same-lineage when ``p_holm < alpha`` (with early stopping: below the stopping look's level).
    bh_verdict : {"same-lineage", "independent"}
        Same-lineage when ``p_bh < alpha`` (with early stopping: below the stopping look's level).
    probe_hash : str
        The probe spec the pair shares.
    probes : int
        Probes the reported test read: all of them, or the first ``SCREEN_PROBES`` for an entry that stage 1
        of the scan cleared (its p-value then counts as 1, its z is stage 1's).
    """

    name: str
    model_id: str
    tags: dict[str, str]
    p_value: float
    log10_p: float
    p_holm: float
    log10_p_holm: float
    p_bh: float
    log10_p_bh: float
    z: float
    tau_mean: float | None
    hidden_z: float
    vocab_z: float | None
    verdict: Verdict
    bh_verdict: Verdict
    probe_hash: str
    probes: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; undefined values become None."""
        return plain_json(dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class Evidence:
    """What an evidence bundle of a scan embeds: the suspect's fingerprints and the listed candidates' tests.

    ``suspects`` maps probe hash to the suspect's fingerprint with that spec; ``entries`` and
    ``results`` map each listed candidate's name to its registry entry and its lineage test (run
    with the scan's settings, ``n_permutations=0``).
    """

    suspects: dict[str, Fingerprint]
    entries: dict[str, RankedFingerprint]
    results: dict[str, LineageResult]


@dataclasses.dataclass(frozen=True)
class IdentifyResult:
    """Outcome of :func:`identify`: candidates ranked by evidence, with adjusted p-values.

    Attributes
    ----------
    suspect : str
        The suspect as given (path, or model id of an in-memory fingerprint).
    registry : str
        Path of the registry scanned.
    candidates : list of Candidate
        The ``top`` strongest candidates, by log10 p ascending, then z descending.
    tested : int
        Tests run (the number the adjusted p-values correct for).
    skipped : dict of str to int
        Entries not tested, by reason (put in words by :func:`seedprints.reports.words.skip_reason`); reasons with no entry are left out.
    alpha : float
        Level of the verdicts.
    probe_hashes : list of str
        The probe specs the suspect was tested with.
    notes : list of str
        What a reader should know about the scan (e.g. probe specs that were skipped and why).
    scan_id : int or None
        Id of the scan in the registry's log.
    budget : int or None
        Most probes a test read (the requested budget, capped at the entries' probes); None without one.
    sequential : dict or None
        With early stopping: ``looks`` (n, best candidate, its log10 Holm p and the look's log10
        level, per look taken), ``stop`` (``"same-lineage"``, ``"futility"`` or ``"budget"``),
        ``probes`` and ``probe_tokens`` spent (summed over the suspect's probe specs), ``budget``,
        ``budget_tokens``, the spent ``level`` and ``log10_level`` the candidates' verdicts read,
        and ``design`` (:meth:`SequentialDesign.to_dict`). None without early stopping.
    evidence : Evidence or None
        With ``keep_evidence=True``: what an evidence bundle needs (left out of :meth:`to_dict`).
    """

    suspect: str
    registry: str
    candidates: list[Candidate]
    tested: int
    skipped: dict[str, int]
    alpha: float
    probe_hashes: list[str]
    notes: list[str] = dataclasses.field(default_factory=list)
    scan_id: int | None = None
    budget: int | None = None
    sequential: dict[str, Any] | None = None
    evidence: Evidence | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def best(self) -> Candidate | None:
        """The candidate with the strongest evidence (None when nothing was tested)."""
        return self.candidates[0] if self.candidates else None

    @property
    def statistic(self) -> float | None:
        """scipy-style: the best candidate's z."""
        return self.best.z if self.best else None

    @property
    def pvalue(self) -> float | None:
        """scipy-style: the best candidate's Holm-adjusted p-value."""
        return self.best.p_holm if self.best else None

    def __iter__(self):
        """Unpack as ``statistic, pvalue`` like scipy's result objects."""
        return iter((self.statistic, self.pvalue))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, undefined values None (never NaN), each candidate's mean also as ``spearman_mean``."""
        fields = dataclasses.asdict(dataclasses.replace(self, evidence=None))
        fields.pop("evidence")
        data = plain_json(fields)
        for candidate in data["candidates"]:  # every identify test is the lineage method's: its mean is Spearman's
            candidate["spearman_mean"] = candidate["tau_mean"]
        return data
