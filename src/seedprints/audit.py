"""Audit a model's embedding rows: which are padding past its tokenizer, whether they still carry their random init or
have collapsed (real tied LLMs) or been zeroed, and so which parts of the default lineage test can work on it.

The vocab part of the default test scores logits of padded output rows, and half of its probes feed padded input
rows; both read nothing when those rows are one vector. :func:`audit_model` says so per model, from the weights
(measured in :mod:`seedprints.model.rows`).
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any, Literal

from seedprints import hub
from seedprints.errors import UsageError
from seedprints.options import RunOptions
from seedprints.probes import MIN_UNTRAINED_ROWS
from seedprints.stats.defaults import MIN_DIMS
from seedprints.stats.units import SketchSize

if TYPE_CHECKING:
    import torch

    from seedprints.model.rows import MatrixRows, RowStats

MIN_DISTINCT_ROWS = MIN_DIMS  # 8: fewer distinct rows give fewer distinct columns than the lineage test needs
MIN_RELATIVE_SPREAD = 0.01  # collapsed padding (Qwen) spreads ~1e-3 of ordinary rows' spread, random init ~1
PERMUTATION_REASON = "without it, a copy with permuted hidden dimensions is recognised only through the vocab part"

Status = Literal["usable", "degenerate", "absent"]


@dataclasses.dataclass(frozen=True)
class PartCheck:
    """Whether one part of the default test can read this model, and why."""

    status: Status
    reason: str
    rows: RowStats | None = None  # the statistics of the rows the part reads (None: absent, or the hidden part)


@dataclasses.dataclass(frozen=True)
class ModelAudit:
    """A model's padded embedding rows and what the default test will make of them."""

    model: str
    tokenizer_length: int | None
    tied: bool  # the LM head is the input embedding (shared storage, config or equal values)
    input: MatrixRows
    output: MatrixRows | None  # None when tied (it is ``input``) or when the model has no LM head
    probe_spec: str  # the default probes' spec for this model, ``ProbeSpec.describe()``
    hidden_part: PartCheck
    untrained_inputs: PartCheck  # odd probes: sequences of padded input rows
    vocab_part: PartCheck  # logits of padded output rows
    permutation_visible: bool
    permutation_reason: str

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON values (nested objects for matrices, parts and row statistics)."""
        return dataclasses.asdict(self)


def audit_model(model: Any, *, run: RunOptions | None = None) -> ModelAudit:
    """Audit ``model`` (a model directory, GGUF file, PEFT adapter, Hub id ``org/name[@REV]`` or in-memory module).

    Loads the model as fingerprinting would, reads its input embedding and LM head, and classifies the parts of the
    default lineage test (the probe spec ``seedprints fingerprint`` would use for it alone).
    """
    from seedprints import pipeline
    from seedprints.model import precision
    from seedprints.model.rows import embedding_matrices, matrix_rows

    run = run or RunOptions()
    local = _local(model, run)
    stored = precision.stored_dtype(local) if run.dtype == "auto" else None
    # the rows as stored: auto would widen a bf16 checkpoint on a CPU without bf16, doubling the memory for nothing
    loaded = pipeline.load_model(local, dataclasses.replace(run, dtype=stored) if stored else run)
    embedding, head, tied = embedding_matrices(loaded)
    tokenizer_length = loaded.tokenizer_length
    spec = pipeline.loaded_spec(loaded)
    inputs = matrix_rows(embedding, tokenizer_length)
    outputs = None if head is None or tied else matrix_rows(head, tokenizer_length)
    no_padding = PartCheck("absent", _no_untrained_rows(inputs.padded_rows, tokenizer_length))
    untrained = _part(embedding, inputs, spec.input_tokens, "padded input") if spec.input_tokens else no_padding
    if not spec.scores_untrained_logits:
        vocab = no_padding
    elif head is None:
        vocab = PartCheck("absent", "the model has no LM head to score logits with (fingerprinting with the default "
                          "probes fails; use --probe token)")
    else:
        vocab = _part(head, outputs or inputs, spec.output_tokens, "scored output")
    return ModelAudit(
        model=loaded.model_id, tokenizer_length=tokenizer_length, tied=tied, input=inputs, output=outputs,
        probe_spec=spec.describe(),
        hidden_part=PartCheck("usable", "always runs: the final hidden states of every probe"),
        untrained_inputs=untrained, vocab_part=vocab, permutation_visible=vocab.status == "usable",
        permutation_reason=f"{_units_note(loaded)}; {PERMUTATION_REASON}, which is {vocab.status} here",
    )


def _units_note(loaded: Any) -> str:
    """Whether fingerprints of this model made with a weight sketch would add the units part, which sees a copy with
    permuted (or rotated) hidden dimensions whatever its padded rows (named by the CLI flag: the field is data, the
    same from Python)."""
    from seedprints.model.weights import weight_sketch_of  # model/ imports torch

    try:
        weight_sketch_of(loaded, SketchSize(rows_per_dim=1, units=1, heads=1))
    except UsageError as exc:
        return f"the units part (fingerprint --weight-sketch) cannot read this model ({exc})"
    return "fingerprints that carry a weight sketch (fingerprint --weight-sketch) see one through the units part"


def _local(model: Any, run: RunOptions) -> Any:
    """``model`` itself, or for a Hub id its snapshot folder, downloaded now (a local path of that name wins)."""

    ref = hub.parse_hub_id(model) if isinstance(model, (str, os.PathLike)) else None
    return model if ref is None else hub.download(ref, trust_remote_code=run.trust_remote_code, progress=run.progress).path


def _part(matrix: torch.Tensor, rows: MatrixRows, tokens: tuple[int, ...], what: str) -> PartCheck:
    """``usable`` unless the rows of ``tokens`` are all zero, fewer than MIN_DISTINCT_ROWS distinct rows, or one
    vector plus noise (spread after removing their mean under MIN_RELATIVE_SPREAD of the ordinary rows')."""
    from seedprints.model.rows import row_stats

    stats = row_stats(matrix, tokens, rows.ordinary_spread)
    count = f"{stats.rows} {what} rows"
    relative = stats.relative_spread
    if stats.zero == stats.rows:
        return PartCheck("degenerate", f"all {count} are zero", stats)
    if stats.distinct < MIN_DISTINCT_ROWS:
        return PartCheck("degenerate", f"only {stats.distinct} distinct rows among the {count} "
                         f"(fewer than {MIN_DISTINCT_ROWS})", stats)
    if relative is not None and relative < MIN_RELATIVE_SPREAD:
        return PartCheck("degenerate", f"the {count} are one vector plus noise: their spread after removing their "
                         f"mean is {relative:.2g} of ordinary rows' (under {MIN_RELATIVE_SPREAD:g})", stats)
    shown = "" if relative is None else f", spread {relative:.2g} of ordinary rows'"
    return PartCheck("usable", f"{count}: {stats.distinct} distinct{shown}", stats)


def _no_untrained_rows(padded_rows: int, tokenizer_length: int | None) -> str:
    """Why the default probes use no padded row: no tokenizer to tell, or too few padded rows."""
    if tokenizer_length is None:
        return "no tokenizer, so no row is known to be padding: the default probes are uniform tokens"
    return (f"{padded_rows} padded rows, fewer than the {MIN_UNTRAINED_ROWS} the default probes need: they are uniform "
            "tokens")
