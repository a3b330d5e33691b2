"""Function-preserving permutations: re-label the hidden (residual-stream) dimensions or the MLP neurons.

The logits do not change, but the coordinates the fingerprint reads do: the blind spot of a
test that compares hidden states coordinate by coordinate.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from seedprints.errors import UsageError, ZooConfigError
from seedprints.zoo.edit_checks import check_seed, conv1d_type, copy_model, is_int

__all__ = ["hidden_permutation", "permute_hidden", "permute_mlp"]


def _model_type(model: nn.Module) -> str:
    config = getattr(model, "config", None)
    return str(getattr(config, "model_type", type(model).__name__))


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
        if is_int(value):
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
    seed = check_seed("permute", seed)
    if not is_int(hidden_size) or hidden_size < 1:
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
    seed = check_seed("permute", seed)
    model_type = _model_type(model)
    rules = _HIDDEN_RULES.get(model_type)
    if rules is None:
        raise ZooConfigError(
            f"transform 'permute': model_type {model_type!r} is not supported; "
            f"supported: {_SUPPORTED_PERMUTE}"
        )
    hidden = _hidden_size(model)
    compiled = [(re.compile(pattern), axis) for pattern, axis in rules]
    new = copy_model(model)
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
    conv1d = conv1d_type()
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
    seed = check_seed("permute-mlp", seed)
    model_type = _model_type(model)
    if model_type not in _HIDDEN_RULES:
        raise ZooConfigError(
            f"transform 'permute-mlp': model_type {model_type!r} is not supported; "
            f"supported: {_SUPPORTED_PERMUTE}"
        )
    new = copy_model(model)
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
