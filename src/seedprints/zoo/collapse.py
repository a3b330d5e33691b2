"""The embedding rows no token ever trains collapse onto one vector in long training; a stage that does it in seconds.

A row whose token is never an input nor a target (a row past the tokenizer, or a token absent
from the data) still gets the softmax's push every step: its gradient is ``sum_pos p_t(pos) h(pos)``,
the same direction ``h`` for every such row, scaled by its own small probability. Adam divides
that scale away, so every such row takes the same step; what tells the rows apart is what is left
of their init, which decoupled weight decay shrinks by ``exp(-sum_steps lr * weight_decay)``.
After a real pretraining run (Qwen2.5: about 10^6 steps at lr ~1e-4 with weight decay 0.1, a sum
of order 10) nothing is left of it, and bf16 storage rounds the rows to a few distinct vectors.
Where the model gives those tokens so little probability that the gradient falls under Adam's
epsilon (a strong model such as Qwen2.5), weight decay also shrinks the shared vector towards
zero; the zoo's weak models stay above it, so their collapsed vector keeps an ordinary size.

:func:`collapse_unused_rows` continues exactly that optimisation for those rows alone, the rest of
the model frozen, on the final hidden states of real batches: the gradient is the softmax's, the
optimiser AdamW; a weight decay far above the usual makes the sum reach a long run's in a few
hundred steps. :func:`collapse_stats` measures the result as the issue measured Qwen2.5's rows.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from seedprints.errors import ZooConfigError
from seedprints.zoo.batches import iter_batches
from seedprints.zoo.specs import TrainSpec

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

__all__ = ["LONG_RUN", "CollapseSpec", "CollapseStats", "collapse_stats", "collapse_unused_rows", "unused_rows"]

_CHUNK = 4096  # positions per logits block: bounds the memory of a large vocabulary


@dataclasses.dataclass(frozen=True)
class CollapseSpec:
    """The stage that stands for a long run's effect on untrained rows; ``steps * lr * weight_decay`` is what counts."""

    steps: int = 800
    lr: float = 1e-3
    weight_decay: float = 20.0  # steps * lr * weight_decay = 16: a long run's sum (see the module docstring)
    positions: int = 128  # final hidden states per step, drawn from the pool
    batches: int = 4  # batches of the pretraining data whose hidden states make the pool


LONG_RUN = CollapseSpec()
"""The stage the ``tied-collapsed`` regime applies after pretraining."""


@dataclasses.dataclass(frozen=True)
class CollapseStats:
    """How far a set of rows has collapsed onto one vector, in the three numbers measured on Qwen2.5."""

    along_mean: float  # share of the rows' summed squared norm along their mean (Qwen2.5: ~1.0)
    spread_ratio: float  # per-element std after removing their mean, over the same for ordinary rows (Qwen2.5: ~1e-3)
    distinct: int  # bitwise distinct rows among them (Qwen2.5: a few)
    rows: int


def unused_rows(tokenizer: PreTrainedTokenizerFast, spec: TrainSpec, vocab_size: int) -> torch.Tensor:
    """Sorted ids of the embedding rows whose token never occurs in ``spec``'s batches (rows past the tokenizer included)."""
    import torch

    seen = torch.zeros(vocab_size, dtype=torch.bool)
    for batch in iter_batches(tokenizer, spec):
        seen[batch.reshape(-1)] = True
    return torch.nonzero(~seen).squeeze(1)


def collapse_unused_rows(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, spec: TrainSpec,
                         collapse: CollapseSpec = LONG_RUN) -> PreTrainedModel:
    """Continue AdamW with weight decay on the tied rows no batch of ``spec`` uses, the rest frozen; in place."""
    import torch

    if not model.config.get_text_config().tie_word_embeddings:
        raise ZooConfigError("the unused-row collapse stage needs tied embeddings (arch tie_embeddings: true)")
    weight = model.get_output_embeddings().weight
    rows = unused_rows(tokenizer, spec, weight.shape[0]).to(weight.device)
    hidden, base = _hidden_pool(model, tokenizer, spec, rows, collapse.batches)
    with torch.no_grad():
        weight[rows] = _settle(weight[rows].detach().clone(), hidden, base, collapse, spec.data_seed)
    return model


def _hidden_pool(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, spec: TrainSpec, rows: torch.Tensor,
                 batches: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Final hidden states of the first ``batches`` batches, and each position's log-sum-exp over the other rows' logits."""
    import torch

    weight = model.get_output_embeddings().weight
    others = torch.ones(weight.shape[0], dtype=torch.bool, device=weight.device)
    others[rows] = False
    with torch.no_grad():
        hidden = torch.cat([model.base_model(input_ids=batch.to(weight.device)).last_hidden_state.flatten(0, 1)
                            for batch in iter_batches(tokenizer, spec, steps=batches)])
        kept = weight[others]
        base = torch.cat([torch.logsumexp(chunk @ kept.T, dim=1) for chunk in hidden.split(_CHUNK)])
    return hidden, base


def _settle(rows: torch.Tensor, hidden: torch.Tensor, base: torch.Tensor, collapse: CollapseSpec, seed: int) -> torch.Tensor:
    """The rows after ``collapse.steps`` AdamW steps on the softmax gradient they get when no position targets them."""
    import torch

    param = torch.nn.Parameter(rows)
    optimizer = torch.optim.AdamW([param], lr=collapse.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=collapse.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(collapse.steps):
        pick = torch.randint(hidden.shape[0], (collapse.positions,), generator=generator).to(hidden.device)
        h = hidden[pick]
        logits = h @ param.detach().T
        log_p = logits - torch.logaddexp(base[pick], torch.logsumexp(logits, dim=1)).unsqueeze(1)
        param.grad = log_p.exp().T @ h / collapse.positions  # d(mean cross-entropy)/d(row): no target among them
        optimizer.step()
    return param.detach()


def collapse_stats(weight: torch.Tensor, rows: torch.Tensor, ordinary: torch.Tensor) -> CollapseStats:
    """Measure ``weight[rows]`` against ``weight[ordinary]``, on the values as stored (bf16 rounding included)."""
    import torch

    picked, normal = weight[rows].float(), weight[ordinary].float()
    mean = picked.mean(dim=0)
    along = float((picked @ mean).square().sum() / mean.square().sum() / picked.square().sum())
    ratio = float((picked - mean).std() / (normal - normal.mean(dim=0)).std())
    distinct = len(torch.unique(weight[rows].contiguous().view(torch.uint8), dim=0))
    return CollapseStats(along_mean=along, spread_ratio=ratio, distinct=distinct, rows=len(rows))
