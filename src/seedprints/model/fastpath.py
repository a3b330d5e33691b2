"""Forward-pass economies that leave the fingerprint unchanged up to float rounding.

A fingerprint reads one vector per probe: the final norm's output at the last real position. So in
the last layer only that position needs its attention output projection, MLP and final norm
(:func:`last_position_only`, for the architectures in its table); the
batch size on a GPU follows its free memory (:func:`auto_batch_size`) and halves on an out-of-memory
error (:func:`is_out_of_memory`); host-to-GPU copies use pinned memory without blocking
(:func:`to_device`); CPU runs use every core this process may use (:func:`cpu_threads`).
"""

from __future__ import annotations

import contextlib
import gc
import os
from typing import Any, Iterator

import torch

CPU_BATCH_SIZE = 32
MAX_AUTO_BATCH_SIZE = 1024
_MEMORY_SHARE = 0.5  # of the free accelerator memory, for activations
# model_type -> (list of layers, submodules of the last layer whose input may be cut to the last position, final norm
# if it may be cut too; GPT-2 reshapes the final norm's output to the input's length, so its norm sees every position)
_LAST_LAYER: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    **{
        model_type: ("layers", ("self_attn.o_proj", "mlp"), "norm")
        for model_type in ("llama", "mistral", "qwen2", "qwen3")
    },
    "gpt2": ("h", ("attn.c_proj", "mlp"), None),
    # BERT adds the residual inside attention.output (dense, then LayerNorm(h + input)): cutting both inputs there
    # leaves the feed-forward block one position per row
    "bert": ("encoder.layer", ("attention.output",), None),
}


class _Cutter:
    """Holds each row's last real position for the hooks of the current batch."""

    def __init__(self) -> None:
        self.last: torch.Tensor | None = None
        self.uniform = True

    def aim(self, last: torch.Tensor, uniform: bool) -> None:
        self.last, self.uniform = last, uniform

    def cut(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, L, ...]`` -> ``[B, 1, ...]`` at each row's last position (unchanged when already cut)."""
        if x.ndim < 3 or x.shape[1] == 1 or self.last is None:
            return x
        if self.uniform:
            return x[:, -1:]
        rows = torch.arange(x.shape[0], device=x.device)
        return x[rows, self.last.to(x.device)].unsqueeze(1)

    def hook(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """Cut every ``[B, L, ...]`` tensor argument (positional, or the ``hidden_states`` keyword)."""
        args = tuple(self.cut(a) if isinstance(a, torch.Tensor) else a for a in args)
        if isinstance(kwargs.get("hidden_states"), torch.Tensor):
            kwargs = {**kwargs, "hidden_states": self.cut(kwargs["hidden_states"])}
        return args, kwargs


def supports_last_position_only(module: torch.nn.Module, config: Any) -> bool:
    """True when :func:`last_position_only` knows this architecture and finds its submodules."""
    plan = _LAST_LAYER.get(getattr(config, "model_type", None))
    if plan is None:
        return False
    try:
        layers = module.get_submodule(plan[0])
        if not isinstance(layers, torch.nn.ModuleList) or len(layers) == 0:
            return False
        for name in plan[1]:
            layers[-1].get_submodule(name)
        if plan[2] is not None:
            module.get_submodule(plan[2])
    except AttributeError:
        return False
    return True


@contextlib.contextmanager
def last_position_only(module: torch.nn.Module, config: Any, enabled: bool = True) -> Iterator[_Cutter]:
    """Within the block, the last layer's output projection and MLP (and the final norm) see each row's last position only.

    The residual additions broadcast a ``[B, 1, d]`` update over ``[B, L, d]``, so the output at
    each row's last position is exactly what the full pass computes (other positions become
    meaningless, and the final norm returns ``[B, 1, d]``). Call ``cutter.aim(last, uniform)``
    before each forward. Architectures not in the table run unchanged.
    """
    cutter = _Cutter()
    handles = []
    if enabled and supports_last_position_only(module, config):
        layers_name, names, norm_name = _LAST_LAYER[config.model_type]
        last_layer = module.get_submodule(layers_name)[-1]
        targets = [last_layer.get_submodule(name) for name in names]
        targets += [module.get_submodule(norm_name)] if norm_name is not None else []
        handles = [target.register_forward_pre_hook(cutter.hook, with_kwargs=True) for target in targets]
    try:
        yield cutter
    finally:
        for handle in handles:
            handle.remove()


def rows_at(hidden: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """``[B, d]``: each row's vector at its last real position (position 0 of an already cut ``[B, 1, d]``)."""
    if hidden.shape[1] == 1:
        return hidden[:, 0]
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last.to(hidden.device)]


def is_out_of_memory(exc: BaseException) -> bool:
    """An accelerator (or allocator) out-of-memory error, which a smaller batch may avoid."""
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def release_memory() -> None:
    """Drop cached accelerator blocks after an out-of-memory error, before retrying smaller."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def auto_batch_size(config: Any, length: int, device: torch.device, dtype: torch.dtype) -> int:
    """Probes per forward pass: :data:`CPU_BATCH_SIZE` on CPU; on CUDA, what half the free memory holds.

    Per probe, a layer's peak activations are about ``length * (6 d + 2 ffn)`` values plus, if the
    attention kernel materialises scores, ``heads * length**2``; the count is capped at
    :data:`MAX_AUTO_BATCH_SIZE`. Errs on the large side: out-of-memory errors halve it anyway.
    """
    if device.type != "cuda":
        return CPU_BATCH_SIZE
    free, _ = torch.cuda.mem_get_info(device)
    d = int(getattr(config, "hidden_size", 4096) or 4096)
    ffn = int(getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None) or 4 * d)
    heads = int(getattr(config, "num_attention_heads", None) or getattr(config, "n_head", None) or 32)
    itemsize = torch.empty((), dtype=dtype).element_size()
    per_probe = itemsize * (length * (6 * d + 2 * ffn) + heads * length * length)
    return max(1, min(MAX_AUTO_BATCH_SIZE, int(_MEMORY_SHARE * free // per_probe)))


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy to ``device``; to a GPU from pinned memory without blocking the host."""
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def available_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@contextlib.contextmanager
def cpu_threads(device: torch.device) -> Iterator[None]:
    """On CPU, run torch on every available core (unless OMP_NUM_THREADS says otherwise); restore afterwards."""
    before = torch.get_num_threads()
    cores = available_cores()
    change = device.type == "cpu" and before != cores and "OMP_NUM_THREADS" not in os.environ
    if change:
        torch.set_num_threads(cores)
    try:
        yield
    finally:
        if change:
            torch.set_num_threads(before)
