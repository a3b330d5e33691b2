"""Edits of the embedding rows past the tokenizer: zero them, as some exports do, or draw them afresh, as resizing does.

Both change only rows ``first_row ..`` of the input embedding and of the LM head (once when
tied); no real token reads them, so the logits of real tokens are unchanged.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from seedprints.errors import ZooConfigError
from seedprints.zoo.edit_checks import check_first_row, check_seed, copy_model

__all__ = ["refresh_padding", "zero_padding"]

_REFRESH_STREAM = 0x9AD5  # keeps the refreshed rows' stream apart from every other draw of the same seed


def _padded_weights(model: nn.Module, transform: str, first_row: object) -> list[torch.Tensor]:
    """The input and output embedding weights (tied ones once), after checking that rows lie past ``first_row``."""
    first = check_first_row(transform, first_row)
    weights = {id(m.weight): m.weight for m in (model.get_input_embeddings(), model.get_output_embeddings())}
    rows = min(w.shape[0] for w in weights.values())
    if first is None or first >= rows:
        raise ZooConfigError(f"transform {transform!r}: first_row={first_row!r} leaves no row to edit in a vocabulary "
                             f"of {rows} rows; pass the tokenizer's length, below {rows}")
    return list(weights.values())


def zero_padding(model: nn.Module, first_row: int) -> nn.Module:
    """A copy whose embedding and LM-head rows from ``first_row`` on are zero (an export that blanks the padding)."""
    new = copy_model(model)
    with torch.no_grad():
        for weight in _padded_weights(new, "zero-padding", first_row):
            weight[first_row:] = 0
    return new


def refresh_padding(model: nn.Module, first_row: int, *, seed: int) -> nn.Module:
    """A copy whose rows from ``first_row`` on are drawn afresh from the init's N(0, initializer_range²) (a resize)."""
    seed = check_seed("refresh-padding", seed)
    new = copy_model(model)
    std = float(getattr(new.config, "initializer_range", 0.02))
    rng = np.random.default_rng([seed, _REFRESH_STREAM])
    with torch.no_grad():
        for weight in _padded_weights(new, "refresh-padding", first_row):
            fresh = rng.standard_normal(tuple(weight[first_row:].shape), dtype=np.float32) * std
            weight[first_row:] = torch.from_numpy(fresh).to(weight.device, weight.dtype)
    return new
