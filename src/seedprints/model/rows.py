"""A loaded model's embedding matrices and what their rows hold: distinct, zero and twin rows, and how far rows spread
around their mean, measured in float64 and in bounded memory (a matrix is read CHUNK_ROWS rows at a time)."""

from __future__ import annotations

import dataclasses
import math

import torch

from seedprints.errors import UsageError
from seedprints.model.loaded import LoadedModel

ORDINARY_SAMPLE = 4096  # evenly spaced rows below the tokenizer length: the reference spread, at bounded cost
CHUNK_ROWS = 8192  # rows read at a time when scanning a whole matrix, so memory stays bounded on large vocabularies
_INTEGER_OF_WIDTH = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


@dataclasses.dataclass(frozen=True)
class RowStats:
    """What a set of rows holds: how many differ, how many are zero, and how far they spread around their mean."""

    rows: int
    distinct: int  # byte-distinct rows
    groups: int  # groups of two or more byte-identical rows
    largest_group: int
    zero: int
    spread: float  # per-element std of the rows minus their mean row
    relative_spread: float | None  # spread / the matrix's ordinary rows' spread (None when that is 0)
    along_mean: float | None  # fraction of the rows' squared norm along their mean's direction (None: all zero)


@dataclasses.dataclass(frozen=True)
class MatrixRows:
    """One embedding matrix: its padded rows (past the tokenizer) against a sample of its ordinary rows."""

    dtype: str
    rows: int
    padded_rows: int  # rows at or past the tokenizer length (0 when there is no tokenizer to tell)
    zero_rows: int  # among all rows
    padded: RowStats | None  # None without padded rows
    ordinary_spread: float  # spread of up to ORDINARY_SAMPLE evenly spaced rows below the tokenizer
    in_vocab_twins: int | None  # rows below the tokenizer byte-identical to the padded rows' most common row


def embedding_matrices(loaded: LoadedModel) -> tuple[torch.Tensor, torch.Tensor | None, bool]:
    """The input embedding and LM-head matrices on the CPU (the head None when the model has none), and whether they
    are one matrix: shared storage, ``tie_word_embeddings`` in the config, or equal values (a GGUF without output)."""
    layer = loaded.module.get_input_embeddings() if hasattr(loaded.module, "get_input_embeddings") else None
    weight = getattr(layer, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
        raise UsageError(f"{loaded.model_id} has no input embedding matrix; there are no token rows to audit")
    embedding = weight.detach().cpu()
    try:
        head = loaded.unembedding().detach().cpu() if loaded.unembedding is not None else None
    except UsageError:  # a checkpoint without lm_head.weight that is not tied: a base model without its head
        head = None
    if head is None:
        return embedding, None, False
    tied = (head.untyped_storage().data_ptr() == embedding.untyped_storage().data_ptr()
            or bool(getattr(loaded.config, "tie_word_embeddings", False))
            or (head.shape == embedding.shape and torch.equal(head.to(embedding.dtype), embedding)))
    return embedding, head, tied


def matrix_rows(matrix: torch.Tensor, tokenizer_length: int | None) -> MatrixRows:
    """The padded rows (past ``tokenizer_length``) of ``matrix`` against an evenly spaced sample of its other rows."""
    rows = matrix.shape[0]
    vocab = rows if tokenizer_length is None else min(tokenizer_length, rows)
    count = min(ORDINARY_SAMPLE, vocab)
    ordinary_spread, _ = _spread(matrix, torch.arange(count) * vocab // count)
    padded, common = (None, None) if vocab == rows else _stats(matrix, torch.arange(vocab, rows), ordinary_spread)
    zero_rows, twins = _scan(matrix, vocab, common)
    return MatrixRows(dtype=str(matrix.dtype).removeprefix("torch."), rows=rows, padded_rows=rows - vocab,
                      zero_rows=zero_rows, padded=padded, ordinary_spread=ordinary_spread, in_vocab_twins=twins)


def row_stats(matrix: torch.Tensor, tokens: tuple[int, ...], ordinary_spread: float) -> RowStats:
    """:class:`RowStats` of the rows of ``tokens``, their spread also relative to ``ordinary_spread``."""
    return _stats(matrix, torch.tensor(tokens), ordinary_spread)[0]


def _stats(matrix: torch.Tensor, index: torch.Tensor, ordinary_spread: float) -> tuple[RowStats, torch.Tensor]:
    """Statistics of the rows at ``index``, and their most common row (as integers, see :func:`_bits`)."""
    rows = matrix[index]
    unique, counts = torch.unique(_bits(rows), dim=0, return_counts=True)
    spread, along_mean = _spread(matrix, index)
    stats = RowStats(
        rows=len(index), distinct=len(counts), groups=int((counts > 1).sum()), largest_group=int(counts.max()),
        zero=int((rows == 0).all(dim=1).sum()), spread=spread,
        relative_spread=spread / ordinary_spread if ordinary_spread > 0 else None, along_mean=along_mean,
    )
    return stats, unique[int(counts.argmax())]


def _spread(matrix: torch.Tensor, index: torch.Tensor) -> tuple[float, float | None]:
    """Per-element std of the rows at ``index`` minus their mean row, and the fraction of their squared norm along
    that mean's direction (None when every row is zero)."""
    chunks = index.split(CHUNK_ROWS)
    mean = sum(matrix[chunk].double().sum(dim=0) for chunk in chunks) / len(index)
    norm = float(mean.norm())
    unit = mean / norm if norm > 0 else mean
    deviation = squares = along = 0.0
    for chunk in chunks:
        rows = matrix[chunk].double()
        deviation += float(((rows - mean) ** 2).sum())
        squares += float((rows**2).sum())
        along += float(((rows @ unit) ** 2).sum())
    return math.sqrt(deviation / (len(index) * matrix.shape[1])), (along / squares if squares > 0 else None)


def _scan(matrix: torch.Tensor, vocab: int, common: torch.Tensor | None) -> tuple[int, int | None]:
    """Zero rows of the whole matrix, and rows below ``vocab`` byte-identical to ``common`` (None without it)."""
    zero_rows = twins = 0
    for start in range(0, matrix.shape[0], CHUNK_ROWS):
        chunk = matrix[start:start + CHUNK_ROWS]
        zero_rows += int((chunk == 0).all(dim=1).sum())
        if common is not None:
            twins += int((_bits(chunk[:max(0, vocab - start)]) == common).all(dim=1).sum())
    return zero_rows, twins if common is not None else None


def _bits(rows: torch.Tensor) -> torch.Tensor:
    """``rows`` reinterpreted as integers of the same width, so that equal means byte-identical."""
    return rows.contiguous().view(_INTEGER_OF_WIDTH[rows.element_size()])
