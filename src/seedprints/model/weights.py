"""What the units part reads of a loaded model's weights (:mod:`seedprints.stats.units`)."""

from __future__ import annotations

from seedprints.errors import UsageError
from seedprints.naming import setting
from seedprints.model.loaded import LoadedModel
from seedprints.stats.units import FILE_SKETCH, SketchSize, WeightSketch, weight_sketch

__all__ = ["file_sketch", "weight_sketch_of"]


def weight_sketch_of(loaded: LoadedModel, size: SketchSize = SketchSize()) -> WeightSketch:
    """The :class:`~seedprints.stats.units.WeightSketch` of a loaded llama-style model: its tokenizer's embedding rows
    (every row when it has no tokenizer), each layer's MLP neurons and value channels, in float32; ``size``: how much
    of each (default all).

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
    return weight_sketch(loaded.module.state_dict(), head_dim=int(head_dim), tokenizer_length=loaded.tokenizer_length,
                         size=size)


def file_sketch(loaded: LoadedModel) -> WeightSketch:
    """The sketch a fingerprint records (:data:`~seedprints.stats.units.FILE_SKETCH`), or one line saying why this
    model has none to give."""
    try:
        return weight_sketch_of(loaded, FILE_SKETCH)
    except UsageError as exc:
        raise UsageError(f"{loaded.model_id} has no weight sketch to record ({exc}); drop "
                         f"{setting('weight_sketch', True)}") from exc
