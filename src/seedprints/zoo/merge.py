"""Merges: the weighted average of models of one architecture (a linear merge, a "blend" in the zoo)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from seedprints.errors import UsageError
from seedprints.zoo.edit_checks import WEIGHT_SUM_TOL, copy_model, is_real

__all__ = ["average_models"]


def average_models(models: Sequence[nn.Module], weights: Sequence[float]) -> nn.Module:
    """Weighted average of the parameters of models with identical architecture (a linear merge).

    Parameters
    ----------
    models : sequence of transformers.PreTrainedModel
        At least one model; all of the same class with the same parameter names and shapes.
        None is modified.
    weights : sequence of float
        One finite weight per model, summing to 1 (within 1e-6). Negative weights
        (extrapolation, as in task arithmetic) are allowed.

    Returns
    -------
    transformers.PreTrainedModel
        A copy of ``models[0]`` whose floating-point tensors are ``sum_i weights[i] * models[i]``,
        computed in float32 (float64 for float64 models) and cast back to ``models[0]``'s dtype.
        Non-floating buffers are taken from ``models[0]``. ``weights=[1, 0]`` returns exactly
        ``models[0]``'s values.

    Raises
    ------
    UsageError
        No models, a different number of weights and models, a non-finite weight, weights not
        summing to 1, or models whose classes, parameter names or shapes differ.

    Example:
        >>> import transformers
        >>> cfg = transformers.LlamaConfig(hidden_size=32, num_hidden_layers=1,
        ...     num_attention_heads=4, intermediate_size=64, vocab_size=100)
        >>> a, b = transformers.LlamaForCausalLM(cfg), transformers.LlamaForCausalLM(cfg)
        >>> m = average_models([a, b], [0.5, 0.5])
    """
    models = list(models)
    weights = list(weights)
    if not models:
        raise UsageError("average_models: no models given; pass at least one model")
    if len(weights) != len(models):
        raise UsageError(
            f"average_models: {len(models)} models but {len(weights)} weights; "
            "pass one weight per model"
        )
    for w in weights:
        if not is_real(w) or not math.isfinite(float(w)):
            raise UsageError(f"average_models: weight {w!r} is not a finite number")
    total = math.fsum(float(w) for w in weights)
    if abs(total - 1.0) > WEIGHT_SUM_TOL:
        raise UsageError(
            f"average_models: weights {weights} sum to {total:g}, not 1; normalise them"
        )
    first = models[0]
    states = [m.state_dict() for m in models]
    ref = states[0]
    for i, (m, state) in enumerate(zip(models, states)):
        if type(m) is not type(first):
            raise UsageError(
                f"average_models: model {i} is a {type(m).__name__}, model 0 a "
                f"{type(first).__name__}; merge models of one architecture"
            )
        if state.keys() != ref.keys():
            diff = sorted(set(state) ^ set(ref))
            raise UsageError(
                f"average_models: model {i} and model 0 have different parameters "
                f"(e.g. {diff[0]!r}); merge models of one architecture"
            )
        for key, tensor in state.items():
            if tensor.shape != ref[key].shape:
                raise UsageError(
                    f"average_models: {key!r} has shape {tuple(tensor.shape)} in model {i} but "
                    f"{tuple(ref[key].shape)} in model 0; merge models of one architecture"
                )
    merged: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for key, tensor in ref.items():
            if not tensor.is_floating_point():
                merged[key] = tensor.clone()
                continue
            acc_dtype = torch.float64 if tensor.dtype == torch.float64 else torch.float32
            acc = torch.zeros(tensor.shape, dtype=acc_dtype, device=tensor.device)
            for w, state in zip(weights, states):
                acc += float(w) * state[key].to(device=tensor.device, dtype=acc_dtype)
            merged[key] = acc.to(tensor.dtype)
    new = copy_model(first)
    new.load_state_dict(merged)
    return new
