"""An in-memory module made ready for extraction: the same :class:`LoadedModel` a model directory gives, with its
width read from its config or one tiny forward pass, and a digest of its weights for resuming."""

from __future__ import annotations

import hashlib

import torch
import transformers

from seedprints.errors import ModelLoadError, compact_message
from seedprints.model import precision
from seedprints.model.config import config_hash, is_encoder, vocab_size_of
from seedprints.model.forward import call_module, last_hidden, module_unembedding
from seedprints.model.loaded import LoadedModel

__all__ = ["wrap_module"]


def wrap_module(source: torch.nn.Module, *, dtype: str, device: torch.device) -> LoadedModel:
    """A module already in memory as a :class:`LoadedModel` (see :func:`seedprints.model.load.load_model`): its
    ``base_model`` when it is a ``PreTrainedModel``, cast and moved as ``dtype`` and ``device`` ask, in eval mode."""
    module = source.base_model if isinstance(source, transformers.PreTrainedModel) else source
    config = getattr(module, "config", None)
    if config is None:
        config = getattr(source, "config", None)
    param = next(module.parameters(), None)
    current = param.dtype if param is not None else torch.float32
    float32_bytes = sum(p.numel() for p in module.parameters()) * 4
    choice = precision.choose_dtype(dtype, current, device=device, float32_bytes=float32_bytes)
    if param is not None and (param.dtype != choice.dtype or param.device != device):
        module.to(device=device, dtype=choice.dtype)
    module.eval()
    hidden_size = getattr(config, "hidden_size", None)
    if not isinstance(hidden_size, int):
        hidden_size = _infer_width(module, device)
    name = getattr(config, "_name_or_path", "") or type(source).__name__
    return LoadedModel(
        module=module,
        tokenizer=None,
        config=config,
        model_id=str(name),
        revision="in-memory",
        config_hash=config_hash(config, module),
        hidden_size=int(hidden_size),
        vocab_size=vocab_size_of(module, config),
        dtype=choice.dtype,
        dtype_reason=choice.reason,
        is_encoder=is_encoder(config),
        unembedding=module_unembedding(source),
        weights_digest=_parameters_digest(module),
    )


def _parameters_digest(module: torch.nn.Module) -> str:
    """First 16 hex digits of a SHA-256 over each parameter's name, shape and up to 4096 evenly spaced values."""
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, param in module.named_parameters():
            flat = param.detach().reshape(-1)
            sample = flat[:: max(1, flat.numel() // 4096)].float().cpu().numpy()
            digest.update(f"{name}\0{tuple(param.shape)}\0".encode() + sample.tobytes())
    return digest.hexdigest()[:16]


def _infer_width(module: torch.nn.Module, device: torch.device) -> int:
    ids = torch.zeros((1, 1), dtype=torch.long, device=device)
    try:
        with torch.inference_mode():
            hidden = last_hidden(call_module(module, {"input_ids": ids, "attention_mask": torch.ones_like(ids)}))
    except Exception as exc:
        raise ModelLoadError(
            f"cannot infer the hidden size of {type(module).__name__} from a forward pass ({compact_message(exc, first_line=True)}); "
            "give the module a config with hidden_size"
        ) from exc
    return int(hidden.shape[-1])
