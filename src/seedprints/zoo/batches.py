"""The batches a training run sees: the domain's token stream cut into blocks, in an order drawn from ``data_seed``.

Two runs with the same :class:`~seedprints.zoo.specs.TrainSpec` and tokenizer see exactly the same
batches in the same order, whatever the model: the zoo's "same data, other seed" pairs rest on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from seedprints.errors import ZooConfigError
from seedprints.zoo.corpora import load_documents
from seedprints.zoo.specs import TrainSpec
from seedprints.zoo.tokenizer import SPECIAL_TOKENS

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerFast

__all__ = ["TAIL_MAX_COUNT", "TAIL_ZIPF_EXPONENT", "iter_batches", "tail_occurrences"]

_STREAM_CACHE: dict[tuple[str, str, int | None, int], torch.Tensor] = {}
_STREAM_CACHE_SIZE = 4


def _tokenizer_key(tokenizer: PreTrainedTokenizerFast) -> str:
    return hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode()).hexdigest()


def _token_stream(tokenizer: PreTrainedTokenizerFast, spec: TrainSpec) -> torch.Tensor:
    """The domain's documents, tokenised and joined by ``<|eos|>``: a 1-D int64 tensor (CPU)."""
    import torch

    key = (_tokenizer_key(tokenizer), spec.domain, spec.max_chars, spec.corpus_seed)
    cached = _STREAM_CACHE.get(key)
    if cached is not None:
        return cached
    docs: list[str] = []
    size = 0
    for doc in load_documents(spec.domain, seed=spec.corpus_seed):
        if spec.max_chars is not None and size >= spec.max_chars:
            break
        if spec.max_chars is not None:
            doc = doc[: spec.max_chars - size]
        docs.append(doc)
        size += len(doc)
    eos = tokenizer.eos_token_id
    ids: list[int] = []
    for enc in tokenizer.backend_tokenizer.encode_batch(docs, add_special_tokens=False):
        ids.extend(enc.ids)
        ids.append(eos)
    stream = torch.tensor(ids, dtype=torch.long)
    if len(_STREAM_CACHE) >= _STREAM_CACHE_SIZE:
        _STREAM_CACHE.pop(next(iter(_STREAM_CACHE)))
    _STREAM_CACHE[key] = stream
    return stream


def iter_batches(
    tokenizer: PreTrainedTokenizerFast, spec: TrainSpec, *, steps: int | None = None
) -> Iterator[torch.Tensor]:
    """Yield the training batches of ``spec``, one ``[batch_size, seq_len]`` int64 tensor a step.

    The token stream is cut into non-overlapping blocks of ``seq_len`` tokens; each epoch visits
    all blocks in a fresh permutation drawn from one ``torch.Generator`` seeded with
    ``spec.data_seed``, and batches are consecutive slices of those permutations. With
    ``spec.seen_tail``, every non-special token of the tokenizer is also written over random
    positions of the batches 1 to 20 times (:func:`tail_occurrences`), spread evenly over the
    steps, so that each occurrence is trained on. The result depends only on the tokenizer, the
    corpus and ``spec``, never on a model.

    Parameters
    ----------
    tokenizer : transformers.PreTrainedTokenizerFast
        The zoo tokenizer (:func:`seedprints.zoo.tokenizer.build_tokenizer`).
    spec : TrainSpec
        Domain, sizes and ``data_seed``.
    steps : int, optional
        Number of batches; default ``spec.steps``.

    Raises
    ------
    ZooConfigError
        If the corpus holds fewer than ``batch_size`` blocks of ``seq_len`` tokens.
    """
    import torch

    stream = _token_stream(tokenizer, spec)
    n_blocks = stream.numel() // spec.seq_len
    if n_blocks < spec.batch_size:
        raise ZooConfigError(
            f"domain {spec.domain!r} has {stream.numel()} tokens (max_chars={spec.max_chars}): fewer than "
            f"batch_size x seq_len = {spec.batch_size} x {spec.seq_len}; raise max_chars or lower them"
        )
    blocks = stream[: n_blocks * spec.seq_len].view(n_blocks, spec.seq_len)
    generator = torch.Generator().manual_seed(spec.data_seed)
    order = torch.empty(0, dtype=torch.long)
    total = spec.steps if steps is None else steps
    tail = _tail_schedule(tokenizer, spec, total) if spec.seen_tail else None
    for step in range(total):
        if order.numel() < spec.batch_size:
            order = torch.cat([order, torch.randperm(n_blocks, generator=generator)])
        take, order = order[: spec.batch_size], order[spec.batch_size :]
        batch = blocks[take]
        if tail is not None:
            batch = batch.clone()
            positions, tokens = tail[step]
            batch.view(-1)[positions] = tokens
        yield batch


TAIL_MAX_COUNT = 20
TAIL_ZIPF_EXPONENT = 1.5  # P(count = k) ~ k^-1.5 on 1..20: about half the tokens once, median 2


def tail_occurrences(first: int, stop: int, seed: int) -> np.ndarray:
    """Token ids ``first .. stop-1``, each repeated its Zipfian count (1 to 20), in a seeded random order."""
    rng = np.random.default_rng([seed, 0x7A11])
    ks = np.arange(1, TAIL_MAX_COUNT + 1)
    weights = ks ** -TAIL_ZIPF_EXPONENT
    counts = rng.choice(ks, size=stop - first, p=weights / weights.sum())
    return rng.permutation(np.repeat(np.arange(first, stop), counts))


def _tail_schedule(tokenizer: PreTrainedTokenizerFast, spec: TrainSpec, steps: int) -> list[tuple[Any, Any]]:
    """Per step: the flat batch positions to overwrite and the tail tokens written there."""
    import torch

    occurrences = tail_occurrences(len(SPECIAL_TOKENS), len(tokenizer), spec.data_seed)
    per_batch = spec.batch_size * spec.seq_len
    if len(occurrences) > steps * per_batch // 4:
        raise ZooConfigError(f"seen_tail needs {len(occurrences)} token slots, more than a quarter of the "
                             f"{steps} x {spec.batch_size} x {spec.seq_len} trained; train longer")
    rng = np.random.default_rng([spec.data_seed, 0x7A12])
    schedule = []
    for chunk in np.array_split(occurrences, steps):
        positions = rng.choice(per_batch, size=len(chunk), replace=False)
        schedule.append((torch.from_numpy(positions), torch.from_numpy(chunk.astype(np.int64))))
    return schedule
