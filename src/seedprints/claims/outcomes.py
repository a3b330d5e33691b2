"""One outcome per claim, in words an auditor can quote, from the lineage tests of a run and its family-wise control.

- ``confirmed``: the model and its claimed base share an initialisation, at the family-wise level: Holm's adjusted
  p-value over every claim tested in the run (or Benjamini-Hochberg's, controlling the false discovery rate) is
  below alpha.
- ``not-supported``: no evidence of descent, with what makes that meaningful: the z that would have confirmed the
  claim, and the z the zoo's derivatives of the claimed kind reach (:mod:`seedprints.claims.power`). A
  non-rejection is not a proof of independence.
- ``cannot-tell``: the test cannot answer (other width or vocabulary, base not in the registry, a vocab part that
  did not run while the hidden dimensions could have been permuted, too few probes, an unreadable card or model);
  the reason in one line.
- ``unclaimed``: the model identifies to a registry entry its card does not name (``identify``'s Holm over the
  registry, or its BH).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from seedprints.claims import power
from seedprints.reports.terminal import format_p
from seedprints.stats.multiple import bh_log10, holm_log10
from seedprints.stats.result import LineageResult, plain_json

CONFIRMED, NOT_SUPPORTED, CANNOT_TELL, UNCLAIMED = "confirmed", "not-supported", "cannot-tell", "unclaimed"
OUTCOMES = (CONFIRMED, NOT_SUPPORTED, CANNOT_TELL, UNCLAIMED)
CORRECTIONS = {"holm": "Holm", "bh": "Benjamini-Hochberg"}
TEST_SETTINGS = {"n_permutations": 0, "seed": 0}  # identify's: the exact test, without a permutation check


@dataclasses.dataclass(frozen=True)
class ClaimOutcome:
    """One row of a claims run: a claim (or an unclaimed identification) and its outcome.

    Attributes
    ----------
    model : str
        The model as the run names it (the argument, or its manifest name).
    claimed_base : str or None
        The base as the model's card names it; None for ``unclaimed`` rows and for a card that could not be read.
    relation : str or None
        ``base_model_relation`` from the card (``adapter`` for a PEFT adapter's config), None when not stated.
    outcome : {"confirmed", "not-supported", "cannot-tell", "unclaimed"}
    p_value, log10_p : float or None
        The pair's own lineage-test p-value and its exact log10 (None when no test ran).
    p_adjusted, log10_p_adjusted : float or None
        Adjusted over the run's claims (``correction``), or for ``unclaimed`` rows over the registry entries
        ``identify`` tested.
    z : float or None
        The pair's z (the larger of the hidden and vocab parts).
    reason : str
        One line an auditor can quote.
    entry : str or None
        The registry entry the claim resolved to (or the fetched base), None when none.
    source : str or None
        Where the claim was read (``model card``, ``adapter config``, ``GGUF metadata``), ``identify`` for
        ``unclaimed`` rows.
    hidden_z, vocab_z : float or None
        The two parts of the test (``vocab_z`` None when that part did not run).
    n : int or None
        Probes the test read.
    probe_hash : str or None
        The probes both sides share.
    bundle : str or None
        The evidence bundle written for this claim: None in a run's result; the CLI's ``--bundle`` fills it in its
        JSON from :func:`seedprints.claims.bundles.write_bundles`.
    """

    model: str
    claimed_base: str | None
    relation: str | None
    outcome: str
    p_value: float | None
    log10_p: float | None
    p_adjusted: float | None
    log10_p_adjusted: float | None
    z: float | None
    reason: str
    entry: str | None = None
    source: str | None = None
    hidden_z: float | None = None
    vocab_z: float | None = None
    n: int | None = None
    probe_hash: str | None = None
    bundle: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; undefined values become None, never NaN."""
        return plain_json(dataclasses.asdict(self))


def untested(model: str, claimed_base: str | None, relation: str | None, reason: str, *, entry: str | None = None,
             source: str | None = None) -> ClaimOutcome:
    """A ``cannot-tell`` row for a claim no test could answer."""
    return ClaimOutcome(model=model, claimed_base=claimed_base, relation=relation, outcome=CANNOT_TELL, p_value=None,
                        log10_p=None, p_adjusted=None, log10_p_adjusted=None, z=None, reason=reason, entry=entry,
                        source=source)


def adjusted(log10_p: list[float], correction: str) -> np.ndarray:
    """log10 of the Holm- or BH-adjusted p-values of a family (in the order given)."""

    if not log10_p:
        return np.zeros(0)
    return (holm_log10 if correction == "holm" else bh_log10)(np.asarray(log10_p, dtype=float))


def decide(result: LineageResult, log10_adjusted: float, *, alpha: float, correction: str, tests: int,
           relation: str | None, base: str) -> tuple[str, str]:
    """The outcome of one tested claim and its reason, from the pair's result and its adjusted p-value.

    Confirmed when the adjusted p is below alpha. Otherwise cannot-tell when the vocab part did not run (a copy with
    permuted hidden dimensions would then look independent) or when even the zoo's weakest derivative of the claimed
    kind would not have reached the z that confirms (too few probes); else not-supported, with those two z's.
    """
    raw = format_p(result.p_value, result.log10_p)
    adjusted_p = format_p(10.0 ** log10_adjusted, log10_adjusted)
    family = f"{CORRECTIONS[correction]}-adjusted over {tests} claim{'s' if tests != 1 else ''}: {adjusted_p}"
    if log10_adjusted < math.log10(alpha):
        return CONFIRMED, (f"shares the initialisation of {base}: z = {result.z:.1f}, p = {raw} ({family}) "
                           f"< alpha = {alpha:g}")
    note = result.details.get("vocab_note")
    parts = 1 if note or "vocab_z" not in result.details else 2
    need = power.needed_z(alpha, tests, parts=parts)
    expected = power.expected_z(relation, result.n)
    if note:
        return CANNOT_TELL, (f"no evidence from the hidden part (z = {result.z:.1f}, p = {raw}), and the vocab part did "
                             f"not run: {_short_note(note)}; a copy with permuted hidden dimensions would look "
                             "independent (seedprints audit shows the rows)")
    if expected is not None and expected < need:
        return CANNOT_TELL, (f"too few probes: {power.zoo_statement(relation, result.n)}, below the z = {need:.1f} a "
                             "claim of this run needs; rerun with more probes (--n)")
    return NOT_SUPPORTED, (f"no evidence of descent from {base}: z = {result.z:.1f}, p = {raw} ({family}) >= alpha = "
                           f"{alpha:g}; a z of {need:.1f} would have confirmed it, and "
                           f"{power.zoo_statement(relation, result.n)}; not a proof of independence")


def _short_note(note: str) -> str:
    """The first clause of a vocab note (what happened, without the advice that follows)."""
    head = note.split(":", 1)[-1].strip() if note.startswith("the vocab part") else note
    return head.split(";")[0].split(", so ")[0]
