"""Weight edits that derive one causal language model from another, for a zoo of known lineage.

Every function here takes an in-memory :mod:`transformers` causal LM and returns a **new** model
(a deep copy); the input is never modified. Functions that draw random numbers take a ``seed``
and are deterministic given it: random numbers are drawn on the CPU from a
:class:`torch.Generator`, so the result does not depend on the device the model lives on.

Edits
-----
``"int8"``, ``"int4"`` (:func:`quantize_roundtrip`)
    Symmetric round-to-nearest weight quantisation and dequantisation, one scale per output
    channel (or per group of input columns), of every linear layer inside the transformer.
``"prune"`` (:func:`magnitude_prune`)
    Zero the smallest-magnitude fraction of each linear weight matrix.
``"noise"`` (:func:`add_weight_noise`)
    Gaussian noise scaled to each parameter tensor's own standard deviation.
``"permute"`` (:func:`permute_hidden`)
    Function-preserving re-labelling of the residual-stream (hidden) dimensions: the logits are
    unchanged, but every hidden dimension moves. This is the SeedPrints blind spot (see SPEC).
``"permute-mlp"`` (:func:`permute_mlp`)
    Function-preserving re-labelling of the intermediate (MLP) neurons of every layer.

Merges (:func:`average_models`) take several models, so they are not in :data:`TRANSFORMS`;
:func:`describe` still documents them under the name ``"merge"``.

Which tensors are edited
------------------------
Quantisation and pruning touch the weight matrices of :class:`torch.nn.Linear` and GPT-2's
:class:`transformers.pytorch_utils.Conv1D` layers, **excluding the output embedding**
(``lm_head``), and never touch embeddings, norms or biases. This matches what real
quantisers and pruners ship (bitsandbytes ``load_in_8bit`` skips the output embedding, GPTQ and
AWQ quantise only the linear layers of the blocks, SparseGPT and Wanda prune only those), and
the fingerprint reads the final hidden state, which the LM head does not affect.
Noise is added to every floating-point parameter (embeddings and norms included): it models
generic weight perturbation rather than a specific tool.
"""

from __future__ import annotations

import copy
import difflib
import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from seedprints.errors import UsageError, ZooConfigError

__all__ = [
    "TRANSFORMS",
    "add_weight_noise",
    "average_models",
    "describe",
    "get_transform",
    "hidden_permutation",
    "magnitude_prune",
    "permute_hidden",
    "permute_mlp",
    "quantize_roundtrip",
]

_QUANT_BITS = (4, 8)
_WEIGHT_SUM_TOL = 1e-6

# --------------------------------------------------------------------------------------------
# parameter checks (shared by the functions and the registry)
# --------------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_seed(transform: str, seed: Any) -> int:
    if not _is_int(seed) or seed < 0:
        raise ZooConfigError(
            f"transform {transform!r}: seed={seed!r} is not allowed; "
            "pass a non-negative integer seed"
        )
    return int(seed)


def _check_bits(transform: str, bits: Any) -> int:
    if not _is_int(bits) or bits not in _QUANT_BITS:
        raise ZooConfigError(
            f"transform {transform!r}: bits={bits!r} is not supported; allowed values: 4, 8"
        )
    return int(bits)


def _check_group_size(transform: str, group_size: Any) -> int | None:
    if group_size is None:
        return None
    if not _is_int(group_size) or group_size < 1:
        raise ZooConfigError(
            f"transform {transform!r}: group_size={group_size!r} is not allowed; "
            "pass a positive integer (e.g. 128) or None for one scale per output channel"
        )
    return int(group_size)


def _check_fraction(transform: str, fraction: Any) -> float:
    if not _is_real(fraction) or not (0.0 <= float(fraction) < 1.0):
        raise ZooConfigError(
            f"transform {transform!r}: fraction={fraction!r} is outside the allowed range "
            "[0, 1); pass the share of weights to zero, e.g. 0.5"
        )
    return float(fraction)


def _check_relative_std(transform: str, relative_std: Any) -> float:
    if not _is_real(relative_std) or not (0.0 <= float(relative_std) < math.inf):
        raise ZooConfigError(
            f"transform {transform!r}: relative_std={relative_std!r} is outside the allowed "
            "range [0, inf); pass a non-negative finite number, e.g. 0.01"
        )
    return float(relative_std)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _copy(model: nn.Module) -> nn.Module:
    """A deep copy that keeps tied weights tied (``deepcopy`` memoises shared parameters)."""
    return copy.deepcopy(model)


def _model_type(model: nn.Module) -> str:
    config = getattr(model, "config", None)
    return str(getattr(config, "model_type", type(model).__name__))


def _conv1d_type() -> type | None:
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # pragma: no cover - very old or future transformers
        return None
    return Conv1D


def _linear_weights(model: nn.Module) -> list[tuple[str, nn.Parameter, int]]:
    """``(module name, weight, input axis)`` of every linear layer except the output embedding.

    The input axis is 1 for :class:`torch.nn.Linear` (weight ``[out, in]``) and 0 for GPT-2's
    ``Conv1D`` (weight ``[in, out]``). Shared weights are listed once.
    """
    conv1d = _conv1d_type()
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


def _randperm(n: int, generator: torch.Generator) -> torch.Tensor:
    """A random permutation of ``range(n)`` that is not the identity when ``n > 1``."""
    identity = torch.arange(n)
    while True:
        perm = torch.randperm(n, generator=generator)
        if n < 2 or not torch.equal(perm, identity):
            return perm


def _permute_(param: torch.Tensor, dim: int, perm: torch.Tensor) -> None:
    with torch.no_grad():
        param.copy_(param.index_select(dim, perm.to(param.device)))


# --------------------------------------------------------------------------------------------
# quantisation, pruning, noise
# --------------------------------------------------------------------------------------------


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
    name = f"int{bits}" if _is_int(bits) and bits in _QUANT_BITS else "quantize_roundtrip"
    bits = _check_bits(name, bits)
    group_size = _check_group_size(name, group_size)
    new = _copy(model)
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
    fraction = _check_fraction("prune", fraction)
    new = _copy(model)
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
    relative_std = _check_relative_std("noise", relative_std)
    seed = _check_seed("noise", seed)
    new = _copy(model)
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


# --------------------------------------------------------------------------------------------
# function-preserving permutations
# --------------------------------------------------------------------------------------------

# Rules for the hidden (residual-stream) axis: (regex on the parameter name, axis to permute or
# None for "not on the hidden axis"). Names are matched in full; the optional prefix lets the
# same rules serve the bare backbone (LlamaModel, GPT2Model) and the *ForCausalLM wrapper.
_P = r"(?:.*\.)?"
_LLAMA_HIDDEN_RULES: tuple[tuple[str, int | None], ...] = (
    (_P + r"embed_tokens\.weight", 1),
    (_P + r"(?:q_proj|k_proj|v_proj)\.weight", 1),  # read the residual stream
    (_P + r"(?:q_proj|k_proj|v_proj)\.bias", None),  # qwen2: on the head axis, not hidden
    (_P + r"(?:q_norm|k_norm)\.weight", None),  # qwen3: per head_dim
    (_P + r"o_proj\.weight", 0),  # writes the residual stream
    (_P + r"o_proj\.bias", 0),
    (_P + r"(?:gate_proj|up_proj)\.weight", 1),
    (_P + r"(?:gate_proj|up_proj)\.bias", None),
    (_P + r"down_proj\.weight", 0),
    (_P + r"down_proj\.bias", 0),
    (_P + r"(?:input_layernorm|post_attention_layernorm|norm)\.(?:weight|bias)", 0),
    (_P + r"lm_head\.weight", 1),
    (_P + r"lm_head\.bias", None),
)
_GPT2_HIDDEN_RULES: tuple[tuple[str, int | None], ...] = (
    # Conv1D weights are [in, out]: reading the residual stream permutes axis 0.
    (_P + r"(?:wte|wpe)\.weight", 1),
    (_P + r"(?:ln_1|ln_2|ln_f)\.(?:weight|bias)", 0),
    (_P + r"attn\.c_attn\.weight", 0),
    (_P + r"attn\.c_attn\.bias", None),  # q|k|v axis
    (_P + r"attn\.c_proj\.weight", 1),
    (_P + r"attn\.c_proj\.bias", 0),
    (_P + r"mlp\.c_fc\.weight", 0),
    (_P + r"mlp\.c_fc\.bias", None),  # intermediate axis
    (_P + r"mlp\.c_proj\.weight", 1),
    (_P + r"mlp\.c_proj\.bias", 0),
    (_P + r"lm_head\.weight", 1),
)
_HIDDEN_RULES: dict[str, tuple[tuple[str, int | None], ...]] = {
    "llama": _LLAMA_HIDDEN_RULES,
    "mistral": _LLAMA_HIDDEN_RULES,
    "qwen2": _LLAMA_HIDDEN_RULES,
    "qwen3": _LLAMA_HIDDEN_RULES,
    "gpt2": _GPT2_HIDDEN_RULES,
}
_SUPPORTED_PERMUTE = ", ".join(sorted(_HIDDEN_RULES))


def _hidden_size(model: nn.Module) -> int:
    config = model.config
    for key in ("hidden_size", "n_embd"):
        value = getattr(config, key, None)
        if _is_int(value):
            return int(value)
    raise ZooConfigError(  # pragma: no cover - every supported config has one of these
        f"cannot find the hidden size of model_type {_model_type(model)!r}"
    )


def hidden_permutation(hidden_size: int, *, seed: int) -> torch.Tensor:
    """The hidden-dimension permutation :func:`permute_hidden` applies for ``seed``.

    Parameters
    ----------
    hidden_size : int
        Width of the residual stream.
    seed : int >= 0
        Same seed as given to :func:`permute_hidden`.

    Returns
    -------
    torch.Tensor
        int64 tensor ``perm`` of shape ``[hidden_size]``, never the identity when
        ``hidden_size > 1``: hidden dimension ``i`` of the permuted model carries dimension
        ``perm[i]`` of the original, so ``h_new[..., i] == h_old[..., perm[i]]``. Useful as ground
        truth when testing whether an alignment recovers the permutation.

    Example:
        >>> perm = hidden_permutation(4, seed=0)
        >>> sorted(perm.tolist()), perm.tolist() != [0, 1, 2, 3]
        ([0, 1, 2, 3], True)
    """
    seed = _check_seed("permute", seed)
    if not _is_int(hidden_size) or hidden_size < 1:
        raise UsageError(f"hidden_size={hidden_size!r} must be a positive integer")
    return _randperm(hidden_size, torch.Generator().manual_seed(seed))


def permute_hidden(model: nn.Module, *, seed: int) -> nn.Module:
    """Permute the residual-stream (hidden) dimensions without changing the model's function.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A llama, mistral, qwen2, qwen3 or gpt2 model (``config.model_type``); not modified.
    seed : int >= 0
        Chooses the permutation; :func:`hidden_permutation` returns it.

    Returns
    -------
    transformers.PreTrainedModel
        A new model with the same logits (up to float rounding) whose hidden states are the
        original ones with their last axis permuted: ``h_new[..., i] == h_old[..., perm[i]]``.

    Raises
    ------
    ZooConfigError
        The model type is not supported, or a parameter is not covered by the rules for its
        type (a variant this function does not know; nothing is returned half-permuted).

    Notes
    -----
    Embedding columns (token and, for gpt2, position), the input axis of every matrix that reads
    the residual stream (q/k/v, gate/up, c_attn, c_fc, lm_head), the output axis and bias of
    every matrix that writes it (o_proj, down_proj, c_proj) and the weights and biases of every
    RMSNorm/LayerNorm are permuted with the same ``perm``. Norms are invariant because their mean
    and variance are taken over the whole hidden axis. q/k/v biases (qwen2), the gpt2 c_attn and
    c_fc biases and qwen3's q/k norms live on other axes and are left alone. Tied embeddings are
    permuted once.

    Example:
        >>> import torch, transformers
        >>> cfg = transformers.LlamaConfig(hidden_size=32, num_hidden_layers=1,
        ...     num_attention_heads=4, intermediate_size=64, vocab_size=100)
        >>> m = transformers.LlamaForCausalLM(cfg).eval()
        >>> p = permute_hidden(m, seed=1)
        >>> ids = torch.randint(0, 100, (1, 8))
        >>> torch.allclose(m(ids).logits, p(ids).logits, atol=1e-5)
        True
    """
    seed = _check_seed("permute", seed)
    model_type = _model_type(model)
    rules = _HIDDEN_RULES.get(model_type)
    if rules is None:
        raise ZooConfigError(
            f"transform 'permute': model_type {model_type!r} is not supported; "
            f"supported: {_SUPPORTED_PERMUTE}"
        )
    hidden = _hidden_size(model)
    compiled = [(re.compile(pattern), axis) for pattern, axis in rules]
    new = _copy(model)
    plan: list[tuple[torch.Tensor, int]] = []
    for name, param in new.named_parameters():  # tied parameters appear once
        for pattern, axis in compiled:
            if pattern.fullmatch(name):
                break
        else:
            raise ZooConfigError(
                f"transform 'permute': parameter {name!r} of model_type {model_type!r} is not "
                "covered by the permutation rules; this model variant is not supported"
            )
        if axis is None:
            continue
        if param.dim() <= axis or param.shape[axis] != hidden:
            raise ZooConfigError(
                f"transform 'permute': parameter {name!r} has shape {tuple(param.shape)}, "
                f"expected size {hidden} on axis {axis}; this model variant is not supported"
            )
        plan.append((param, axis))
    perm = hidden_permutation(hidden, seed=seed)
    for param, axis in plan:
        _permute_(param, axis, perm)
    return new


def _mlp_parts(module: nn.Module) -> list[tuple[torch.Tensor, int]] | None:
    """``(tensor, intermediate axis)`` pairs of an MLP block, or None if ``module`` is not one."""
    conv1d = _conv1d_type()
    names = ("gate_proj", "up_proj", "down_proj")
    if all(isinstance(getattr(module, n, None), nn.Linear) for n in names):
        parts: list[tuple[torch.Tensor, int]] = []
        for n in ("gate_proj", "up_proj"):  # [inter, d]: rows are neurons
            lin = getattr(module, n)
            parts.append((lin.weight, 0))
            if lin.bias is not None:
                parts.append((lin.bias, 0))
        parts.append((module.down_proj.weight, 1))  # [d, inter]
        return parts
    if (
        conv1d is not None
        and isinstance(getattr(module, "c_fc", None), conv1d)
        and isinstance(getattr(module, "c_proj", None), conv1d)
    ):
        # Conv1D [in, out]: c_fc is [d, inter], c_proj is [inter, d].
        return [(module.c_fc.weight, 1), (module.c_fc.bias, 0), (module.c_proj.weight, 0)]
    return None


def permute_mlp(model: nn.Module, *, seed: int) -> nn.Module:
    """Permute the intermediate (MLP) neurons of every layer without changing the function.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A llama, mistral, qwen2, qwen3 or gpt2 model; not modified.
    seed : int >= 0
        Seeds one CPU generator; layer ``l`` (in module order) gets the ``l``-th permutation
        drawn from it, so layers are permuted differently.

    Returns
    -------
    transformers.PreTrainedModel
        A new model with identical logits (up to float rounding) and hidden states.

    Raises
    ------
    ZooConfigError
        The model type is not supported or no MLP block was found.

    Notes
    -----
    Gated MLPs (llama family): rows of ``gate_proj`` and ``up_proj`` (and their biases, if any)
    and columns of ``down_proj``. GPT-2: columns and bias of ``c_fc``, rows of ``c_proj``
    (``Conv1D`` weights are ``[in, out]``). The activation is elementwise, so the permutation
    commutes with it.

    Example:
        >>> import transformers
        >>> cfg = transformers.LlamaConfig(hidden_size=32, num_hidden_layers=1,
        ...     num_attention_heads=4, intermediate_size=64, vocab_size=100)
        >>> p = permute_mlp(transformers.LlamaForCausalLM(cfg), seed=0)
    """
    seed = _check_seed("permute-mlp", seed)
    model_type = _model_type(model)
    if model_type not in _HIDDEN_RULES:
        raise ZooConfigError(
            f"transform 'permute-mlp': model_type {model_type!r} is not supported; "
            f"supported: {_SUPPORTED_PERMUTE}"
        )
    new = _copy(model)
    generator = torch.Generator().manual_seed(seed)
    found = 0
    for _, module in new.named_modules():
        parts = _mlp_parts(module)
        if parts is None:
            continue
        size = parts[0][0].shape[parts[0][1]]
        perm = _randperm(size, generator)
        for tensor, axis in parts:
            _permute_(tensor, axis, perm)
        found += 1
    if found == 0:
        raise ZooConfigError(
            f"transform 'permute-mlp': no MLP block found in model_type {model_type!r}"
        )
    return new


# --------------------------------------------------------------------------------------------
# merges
# --------------------------------------------------------------------------------------------


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
        if not _is_real(w) or not math.isfinite(float(w)):
            raise UsageError(f"average_models: weight {w!r} is not a finite number")
    total = math.fsum(float(w) for w in weights)
    if abs(total - 1.0) > _WEIGHT_SUM_TOL:
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
    new = _copy(first)
    new.load_state_dict(merged)
    return new


# --------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------


def _int8(model: nn.Module, *, seed: int, **params: Any) -> nn.Module:
    """Registry entry ``"int8"``: :func:`quantize_roundtrip` with ``bits=8`` (``seed`` unused)."""
    _check_seed("int8", seed)
    return quantize_roundtrip(model, 8, **_resolve("int8", params))


def _int4(model: nn.Module, *, seed: int, **params: Any) -> nn.Module:
    """Registry entry ``"int4"``: :func:`quantize_roundtrip` with ``bits=4`` (``seed`` unused)."""
    _check_seed("int4", seed)
    return quantize_roundtrip(model, 4, **_resolve("int4", params))


def _prune(model: nn.Module, *, seed: int, **params: Any) -> nn.Module:
    """Registry entry ``"prune"``: :func:`magnitude_prune` (``seed`` unused)."""
    _check_seed("prune", seed)
    return magnitude_prune(model, **_resolve("prune", params))


def _noise(model: nn.Module, *, seed: int, **params: Any) -> nn.Module:
    """Registry entry ``"noise"``: :func:`add_weight_noise`."""
    return add_weight_noise(model, **_resolve("noise", params), seed=seed)


def _permute(model: nn.Module, *, seed: int, **params: Any) -> nn.Module:
    """Registry entry ``"permute"``: :func:`permute_hidden`."""
    _resolve("permute", params)
    return permute_hidden(model, seed=seed)


def _permute_mlp(model: nn.Module, *, seed: int, **params: Any) -> nn.Module:
    """Registry entry ``"permute-mlp"``: :func:`permute_mlp`."""
    _resolve("permute-mlp", params)
    return permute_mlp(model, seed=seed)


# name -> (defaults, validators, summary, function_preserving, uses_seed)
_SPECS: dict[str, tuple[dict[str, Any], dict[str, Callable[[str, Any], Any]], str, bool, bool]] = {
    "int8": (
        {"group_size": None},
        {"group_size": _check_group_size},
        "symmetric round-to-nearest int8 quantise/dequantise of every linear weight "
        "(one scale per output channel or per group; lm_head, embeddings, norms untouched)",
        False,
        False,
    ),
    "int4": (
        {"group_size": None},
        {"group_size": _check_group_size},
        "symmetric round-to-nearest int4 quantise/dequantise of every linear weight "
        "(one scale per output channel or per group; lm_head, embeddings, norms untouched)",
        False,
        False,
    ),
    "prune": (
        {"fraction": 0.5},
        {"fraction": _check_fraction},
        "unstructured magnitude pruning: zero the smallest-|w| fraction of each linear weight "
        "matrix (lm_head, embeddings, norms untouched)",
        False,
        False,
    ),
    "noise": (
        {"relative_std": 0.01},
        {"relative_std": _check_relative_std},
        "Gaussian noise with std = relative_std * std of each parameter tensor",
        False,
        True,
    ),
    "permute": (
        {},
        {},
        "function-preserving permutation of the residual-stream (hidden) dimensions",
        True,
        True,
    ),
    "permute-mlp": (
        {},
        {},
        "function-preserving permutation of the MLP intermediate neurons of every layer",
        True,
        True,
    ),
}

TRANSFORMS: dict[str, Callable[..., nn.Module]] = {
    "int8": _int8,
    "int4": _int4,
    "prune": _prune,
    "noise": _noise,
    "permute": _permute,
    "permute-mlp": _permute_mlp,
}
"""Single-model edits by name; each is called as ``fn(model, *, seed=..., **params)``.

Parameters and defaults: ``int8``/``int4``: ``group_size=None``; ``prune``: ``fraction=0.5``;
``noise``: ``relative_std=0.01``; ``permute``, ``permute-mlp``: none. ``seed`` is required by all
and used by ``noise``, ``permute`` and ``permute-mlp``. Look names up with :func:`get_transform`
to get a :class:`~seedprints.errors.ZooConfigError` rather than a ``KeyError``.
"""


def _resolve(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults in and validate ``params`` of transform ``name`` (raises ZooConfigError)."""
    defaults, validators = _SPECS[name][0], _SPECS[name][1]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        allowed = ", ".join(defaults) or "none"
        raise ZooConfigError(
            f"transform {name!r}: unknown parameter {unknown[0]!r}; allowed parameters: {allowed}"
        )
    resolved = {**defaults, **params}
    return {key: validators[key](name, value) for key, value in resolved.items()}


_MERGE = "merge"


def _unknown(name: Any, known: Sequence[str]) -> ZooConfigError:
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ZooConfigError(f"unknown transform {name!r}.{hint} Available: {', '.join(known)}")


def get_transform(name: str) -> Callable[..., nn.Module]:
    """The function registered in :data:`TRANSFORMS` under ``name``.

    Raises
    ------
    ZooConfigError
        ``name`` is not a registered transform (the message lists the available names).

    Example:
        >>> get_transform("int8").__name__
        '_int8'
    """
    fn = TRANSFORMS.get(name) if isinstance(name, str) else None
    if fn is None:
        raise _unknown(name, list(TRANSFORMS))
    return fn


def describe(name: str, params: Mapping[str, Any] | None = None, *, seed: int | None = None) -> dict:
    """A JSON-ready record of one edit, for the zoo manifest; validates ``params``.

    Parameters
    ----------
    name : str
        A key of :data:`TRANSFORMS`, or ``"merge"`` for :func:`average_models`
        (params: ``{"weights": [...]}``).
    params : mapping, optional
        Parameters as they would be passed to the transform; defaults are filled in.
    seed : int, optional
        Recorded when given.

    Returns
    -------
    dict
        ``{"transform": name, "params": {...all parameters, defaults filled...},
        "function_preserving": bool, "uses_seed": bool, "summary": str}`` plus ``"seed"`` when
        given. Only plain JSON types.

    Raises
    ------
    ZooConfigError
        Unknown transform, unknown parameter, or impossible value (naming the transform, the value
        and the allowed range).

    Example:
        >>> describe("prune", {"fraction": 0.25})["params"]
        {'fraction': 0.25}
    """
    params = dict(params or {})
    if name == _MERGE:
        unknown = sorted(set(params) - {"weights"})
        if unknown or "weights" not in params:
            raise ZooConfigError(
                f"transform 'merge': parameters {sorted(params)} are not allowed; "
                "pass exactly {'weights': [w1, w2, ...]}"
            )
        weights = params["weights"]
        ok = isinstance(weights, Sequence) and not isinstance(weights, str) and len(weights) > 0
        ok = ok and all(_is_real(w) and math.isfinite(float(w)) for w in weights)
        if not ok or abs(math.fsum(float(w) for w in weights) - 1.0) > _WEIGHT_SUM_TOL:
            raise ZooConfigError(
                f"transform 'merge': weights={weights!r} must be finite numbers summing to 1"
            )
        record: dict[str, Any] = {
            "transform": _MERGE,
            "params": {"weights": [float(w) for w in weights]},
            "function_preserving": False,
            "uses_seed": False,
            "summary": "linear weight average of models of one architecture",
        }
    else:
        spec = _SPECS.get(name) if isinstance(name, str) else None
        if spec is None:
            raise _unknown(name, [*TRANSFORMS, _MERGE])
        _, _, summary, preserving, uses_seed = spec
        resolved = _resolve(name, params)
        record = {
            "transform": name,
            "params": resolved,
            "function_preserving": preserving,
            "uses_seed": uses_seed,
            "summary": summary,
        }
    if seed is not None:
        record["seed"] = _check_seed(name, seed)
    return record
