"""What the units part reads of a loaded model's weights (:mod:`seedprints.stats.units`)."""

from __future__ import annotations

from seedprints.errors import UsageError
from seedprints.model.loaded import LoadedModel
from seedprints.stats.units import WeightSketch, weight_sketch

__all__ = ["weight_sketch_of"]


def weight_sketch_of(loaded: LoadedModel) -> WeightSketch:
    """The :class:`~seedprints.stats.units.WeightSketch` of a loaded llama-style model: its tokenizer's embedding rows
    (every row when it has no tokenizer), each layer's MLP neurons and value channels, in float32.

    Raises
    ------
    UsageError
        The model has no config saying its heads, or lacks the llama-style blocks the units part reads.
    """
    config = loaded.config
    heads = getattr(config, "num_attention_heads", None)
    head_dim = getattr(config, "head_dim", None) or (loaded.hidden_size // heads if heads else None)
    if not head_dim:
        raise UsageError(f"{loaded.model_id}: no config says the attention heads' width; the units part needs it")
    return weight_sketch(loaded.module.state_dict(), head_dim=int(head_dim), tokenizer_length=loaded.tokenizer_length)
