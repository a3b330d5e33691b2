"""Edits that move weights a little: int8/int4 quantisation round-trips, magnitude pruning, Gaussian noise.

See :mod:`seedprints.zoo.derive` for which tensors each edit touches and why.
"""

from __future__ import annotations

import torch
from torch import nn

from seedprints.zoo.edit_checks import (
    QUANT_BITS,
    check_bits,
    check_fraction,
    check_group_size,
    check_relative_std,
    check_seed,
    conv1d_type,
    copy_model,
    is_int,
)

__all__ = ["add_weight_noise", "magnitude_prune", "quantize_roundtrip"]


def _linear_weights(model: nn.Module) -> list[tuple[str, nn.Parameter, int]]:
    """``(module name, weight, input axis)`` of every linear layer except the output embedding.

    The input axis is 1 for :class:`torch.nn.Linear` (weight ``[out, in]``) and 0 for GPT-2's
    ``Conv1D`` (weight ``[in, out]``). Shared weights are listed once.
    """
    conv1d = conv1d_type()
    get_out = getattr(model, "get_output_embeddings", None)
    out_emb = get_out() if callable(get_out) else None
    seen: set[int] = set()
    found: list[tuple[str, nn.Parameter, int]] = []
    for name, module in model.named_modules():
        if module is out_emb:
            continue
        if isinstance(module, nn.Linear):
            axis = 1
        elif conv1d is not None and isinstance(module, conv1d):
            axis = 0
        else:
            continue
        weight = module.weight
        if out_emb is not None and weight is getattr(out_emb, "weight", None):
            continue
        if id(weight) in seen:
            continue
        seen.add(id(weight))
        found.append((name, weight, axis))
    return found


def _fake_quantize(weight: torch.Tensor, bits: int, group_size: int | None) -> torch.Tensor:
    """Quantise and dequantise a ``[out, in]`` float32 matrix, symmetric, round to nearest.

    Integer levels are ``-qmax .. qmax`` with ``qmax = 2**(bits-1) - 1`` (127 or 7); the scale of
    each output row (or each group of ``group_size`` input columns in that row) is
    ``max|w| / qmax``. A last, shorter group takes the leftover columns.
    """
    qmax = 2 ** (bits - 1) - 1
    out_features, in_features = weight.shape
    if group_size is None or group_size >= in_features:
        groups = weight.unsqueeze(1)  # [out, 1, in]
        pad = 0
    else:
        pad = (-in_features) % group_size
        padded = torch.nn.functional.pad(weight, (0, pad))  # zeros do not change max|w|
        groups = padded.reshape(out_features, -1, group_size)
    scale = groups.abs().amax(dim=-1, keepdim=True) / qmax
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    deq = torch.clamp(torch.round(groups / scale), -qmax, qmax) * scale
    deq = deq.reshape(out_features, -1)
    return deq[:, :in_features] if pad else deq


def quantize_roundtrip(model: nn.Module, bits: int, *, group_size: int | None = None) -> nn.Module:
    """Quantise every linear weight to ``bits`` bits and back (a simulated int8/int4 checkpoint).

    Parameters
    ----------
    model : transformers.PreTrainedModel
        The causal LM to quantise; not modified.
    bits : {8, 4}
        Bits per weight. Levels are the symmetric integers ``-qmax .. qmax``,
        ``qmax = 2**(bits-1) - 1``.
    group_size : int or None, optional
        ``None`` (default): one scale per output channel. An integer: one scale per run of
        ``group_size`` consecutive input columns in each output row (the GPTQ/AWQ layout,
        typically 128); the last group may be shorter.

    Returns
    -------
    transformers.PreTrainedModel
        A new model, same dtype and device, whose linear weights lie on the quantisation grid.

    Raises
    ------
    ZooConfigError
        ``bits`` is not 4 or 8, or ``group_size`` is not a positive integer.

    Notes
    -----
    ``w_q = clamp(round(w / s), -qmax, qmax) * s`` with ``s = max|w| / qmax`` over the channel or
    group, computed in float32 and cast back. Embeddings, norms, biases and the output embedding
    are left alone (see the module docstring for why).

    Example:
        >>> import transformers
        >>> cfg = transformers.LlamaConfig(hidden_size=32, num_hidden_layers=1,
        ...     num_attention_heads=4, intermediate_size=64, vocab_size=100)
        >>> q = quantize_roundtrip(transformers.LlamaForCausalLM(cfg), 8)
    """
    name = f"int{bits}" if is_int(bits) and bits in QUANT_BITS else "quantize_roundtrip"
    bits = check_bits(name, bits)
    group_size = check_group_size(name, group_size)
    new = copy_model(model)
    with torch.no_grad():
        for _, weight, axis in _linear_weights(new):
            w = weight.detach().float()
            w = w if axis == 1 else w.t()
            q = _fake_quantize(w, bits, group_size)
            q = q if axis == 1 else q.t()
            weight.copy_(q.to(weight.dtype))
    return new


def magnitude_prune(model: nn.Module, fraction: float) -> nn.Module:
    """Zero the ``fraction`` smallest-magnitude entries of each linear weight matrix.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        The causal LM to prune; not modified.
    fraction : float in [0, 1)
        Share of entries zeroed in **each** matrix (unstructured, per-matrix magnitude pruning).

    Returns
    -------
    transformers.PreTrainedModel
        A new model in which each pruned matrix has exactly ``round(fraction * numel)`` entries
        set to zero (ties broken by position, so the count is exact and deterministic).

    Raises
    ------
    ZooConfigError
        ``fraction`` is outside [0, 1).

    Notes
    -----
    Same matrices as :func:`quantize_roundtrip`: linear layers of the blocks, not the output
    embedding, embeddings, norms or biases.

    Example:
        >>> import transformers
        >>> cfg = transformers.LlamaConfig(hidden_size=32, num_hidden_layers=1,
        ...     num_attention_heads=4, intermediate_size=64, vocab_size=100)
        >>> p = magnitude_prune(transformers.LlamaForCausalLM(cfg), 0.5)
        >>> int((p.model.layers[0].mlp.up_proj.weight == 0).sum())
        1024
    """
    fraction = check_fraction("prune", fraction)
    new = copy_model(model)
    with torch.no_grad():
        for _, weight, _axis in _linear_weights(new):
            k = int(round(fraction * weight.numel()))
            if k == 0:
                continue
            order = torch.argsort(weight.detach().abs().float().reshape(-1), stable=True)
            mask = torch.zeros(weight.numel(), dtype=torch.bool, device=weight.device)
            mask[order[:k]] = True
            weight.masked_fill_(mask.view(weight.shape), 0)
    return new


def add_weight_noise(model: nn.Module, relative_std: float, *, seed: int) -> nn.Module:
    """Add Gaussian noise to every parameter, scaled to that parameter's own spread.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        The model to perturb; not modified.
    relative_std : float >= 0
        Noise standard deviation as a multiple of each tensor's standard deviation.
    seed : int >= 0
        Seeds a CPU :class:`torch.Generator`; the same seed gives the same noise on any device.

    Returns
    -------
    transformers.PreTrainedModel
        A new model with ``w + N(0, (relative_std * std(w))**2)`` for every floating-point
        parameter of more than one element (tied parameters once). Tensors with zero spread, such
        as freshly initialised norm weights (all ones), are unchanged.

    Raises
    ------
    ZooConfigError
        ``relative_std`` is negative or not finite, or ``seed`` is not a non-negative integer.

    Example:
        >>> import transformers
        >>> cfg = transformers.LlamaConfig(hidden_size=32, num_hidden_layers=1,
        ...     num_attention_heads=4, intermediate_size=64, vocab_size=100)
        >>> n = add_weight_noise(transformers.LlamaForCausalLM(cfg), 0.01, seed=0)
    """
    relative_std = check_relative_std("noise", relative_std)
    seed = check_seed("noise", seed)
    new = copy_model(model)
    if relative_std == 0.0:
        return new
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, param in new.named_parameters():
            if not param.is_floating_point() or param.numel() < 2:
                continue
            w = param.detach().float()
            noise = torch.randn(w.shape, generator=generator, dtype=torch.float32)
            scale = relative_std * float(w.std())
            param.copy_((w + noise.to(w.device) * scale).to(param.dtype))
    return new
