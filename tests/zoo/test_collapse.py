"""Tests of seedprints.zoo.collapse: the stage that collapses untrained tied rows as a long run does, measured as on Qwen2.5."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from seedprints.errors import ZooConfigError
from seedprints.zoo.batches import iter_batches
from seedprints.zoo.collapse import collapse_stats, collapse_unused_rows, unused_rows
from seedprints.zoo.train import init_model, train

from .test_train import SPEC as TRAIN_SPEC
from .test_train import TINY

PADDED = 64
TIED = dataclasses.replace(TINY, vocab_size=512 + PADDED, tie_embeddings=True)
SPEC = dataclasses.replace(TRAIN_SPEC, steps=20)


@pytest.fixture(scope="module")
def pretrained(tokenizer):
    """A tiny tied llama after plain pretraining: its untrained rows are still apart."""
    return train(init_model(TIED, 0), tokenizer, SPEC)


@pytest.fixture(scope="module")
def collapsed(tokenizer, pretrained):
    """The same after the collapse stage, stored in bf16 as the regime stores it."""
    return collapse_unused_rows(copy.deepcopy(pretrained), tokenizer, SPEC).to(torch.bfloat16)


def _rows(tokenizer) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The padded rows, every unused row, and the ordinary (trained) rows."""
    unused = unused_rows(tokenizer, SPEC, TIED.vocab_size)
    used = torch.ones(TIED.vocab_size, dtype=torch.bool)
    used[unused] = False
    return torch.arange(len(tokenizer), TIED.vocab_size), unused, torch.nonzero(used).squeeze(1)


def test_unused_rows_are_the_padding_and_the_tokens_no_batch_holds(tokenizer):
    unused = unused_rows(tokenizer, SPEC, TIED.vocab_size)
    seen = torch.unique(torch.cat([batch.reshape(-1) for batch in iter_batches(tokenizer, SPEC)]))
    assert set(range(len(tokenizer), TIED.vocab_size)) <= set(unused.tolist())
    assert (unused < len(tokenizer)).any()  # never-seen tokens of the tokenizer, too
    assert not set(unused.tolist()) & set(seen.tolist())
    assert len(unused) + len(seen) == TIED.vocab_size


def test_pretraining_alone_leaves_the_rows_apart(tokenizer, pretrained):
    padded, _, ordinary = _rows(tokenizer)
    stats = collapse_stats(pretrained.get_input_embeddings().weight.detach().to(torch.bfloat16), padded, ordinary)
    assert stats.distinct == PADDED and stats.spread_ratio > 0.1


def test_the_stage_collapses_padded_and_never_seen_rows_as_on_qwen(tokenizer, collapsed):
    padded, unused, ordinary = _rows(tokenizer)
    weight = collapsed.get_input_embeddings().weight.detach()
    for rows in (padded, unused):
        stats = collapse_stats(weight, rows, ordinary)
        assert stats.along_mean >= 0.99  # (a) all along their mean
        assert stats.spread_ratio <= 0.01  # (b) what is left off it: under 1% of ordinary rows' spread
        assert stats.distinct <= 4  # (c) a few distinct rows in bf16, the rest byte-identical twins


def test_the_stage_moves_only_unused_rows(tokenizer, pretrained):
    _, unused, ordinary = _rows(tokenizer)
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    after = collapse_unused_rows(copy.deepcopy(pretrained), tokenizer, SPEC).state_dict()
    key = "model.embed_tokens.weight"
    assert torch.equal(after[key][ordinary], before[key][ordinary])
    assert not torch.equal(after[key][unused], before[key][unused])
    assert all(torch.equal(after[k], before[k]) for k in before if k not in (key, "lm_head.weight"))


def test_the_stage_needs_tied_embeddings(tokenizer):
    with pytest.raises(ZooConfigError, match="needs tied embeddings"):
        collapse_unused_rows(init_model(dataclasses.replace(TIED, tie_embeddings=False), 0), tokenizer, SPEC)
