"""What a lineage result says in words about what it could not see: why a part did not run, and whether a copy
with relabelled hidden dimensions could have been seen (``details["permutation_note"]``, ``vocab_note``,
``hidden_note``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from seedprints.naming import setting, spoken
from seedprints.stats.result import LineageResult

__all__ = ["VOCAB_ABSTAINED", "permutation_note", "units_not_given", "vocab_part_note", "with_left_out_notes",
           "with_vocab_note"]


def units_not_given() -> str:
    """Why the units part did not run when no weights reached the test, with how to give them."""
    how = spoken(cli=f"compare two fingerprint files made with {setting('weight_sketch', True)}",
                 python="pass weights_ref and weights_suspect, or two fingerprints made with RunOptions(weight_sketch=True)")
    return (f"the units part did not run: it reads a sketch of both models' weights, and none were given for both "
            f"({how}; registry entries hold none)")


def permutation_note(vocab_ran: bool, units_ran: bool, units_note: str | None = None) -> str:
    """Whether a copy with relabelled (or rotated) hidden dimensions could have been seen in this pair, and why not."""
    if units_ran:
        return ("a relabelling or rotation of the hidden dimensions could have been seen: the units part aligned them on "
                "the input embeddings and compared MLP neurons (and value channels, where heads are not grouped)"
                + ("; the vocab part reads logits, which neither changes" if vocab_ran else ""))
    if vocab_ran:
        return ("a relabelling or rotation of the hidden dimensions could have been seen: the vocab part reads logits of "
                "untrained rows, which neither changes")
    return ("a relabelling of the hidden dimensions could not have been seen: the vocab part did not run (no logits of "
            "untrained rows were scored, or they carry nothing; vocab_note says which), "
            f"and {units_note or units_not_given()}")


def with_left_out_notes(result: LineageResult, inputs_left_out: list[str], logits_left_out: list[str]) -> LineageResult:
    """``result`` with notes naming the fingerprints whose padding-row probes or scored logits carried nothing."""
    details = dict(result.details)
    if inputs_left_out:
        details["hidden_note"] = (
            f"the probes made of padding rows were left out of the hidden part: in the {' and the '.join(inputs_left_out)} "
            "they all give nearly the same hidden state (the rows are collapsed or zero); the trained-token probes carry it")
    if logits_left_out and "vocab_note" in details:
        details["vocab_note"] = details["vocab_note"].replace("in at least one model", f"in the {' and the '.join(logits_left_out)}")
    return dataclasses.replace(result, details=details)


def vocab_part_note(spec: Any) -> str | None:
    """Why fingerprints of ``spec`` get no vocab part, in one line for results and reports (None when they get one)."""
    if spec.scores_untrained_logits:
        return None
    if spec.picked_by_a_model:
        return ("the vocab part did not run: these probes come from an older seedprints, whose scored tokens a reference "
                "picked and may have trained; fingerprint both models again with the defaults to also recognise a copy "
                "with permuted hidden dimensions")
    return ("the vocab part did not run: the probes score no untrained token (the vocabulary has no rows past its "
            "tokenizer, or no tokenizer says where it ends), so a copy with permuted hidden dimensions is not recognised by "
            "this part (permutation_note says whether another part sees one)")


VOCAB_ABSTAINED = (
    "the vocab part abstained: the scored rows past the tokenizer carry no per-row information in at least one model "
    "(collapsed onto one vector, zero, or duplicates), so they can tell nothing either way; a copy with permuted hidden "
    "dimensions is not recognised by this part (seedprints audit MODEL shows the rows; permutation_note says whether "
    "another part sees one)")


def with_vocab_note(result: LineageResult, spec: Any) -> LineageResult:
    """``result`` with ``details["vocab_note"]`` when ``spec`` gives no vocab part (see :func:`vocab_part_note`)."""
    note = vocab_part_note(spec)
    return result if note is None else dataclasses.replace(result, details={**result.details, "vocab_note": note})
