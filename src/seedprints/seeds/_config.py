"""An architecture's config for seeds: read it, check it can be built and fits in memory, hash it, and the default
probes of its vocabulary."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seedprints.errors import ModelLoadError, compact_message
from seedprints.inputs import load_json, short_repr, special_file
from seedprints.options import ProbeOptions
from seedprints.probes import ProbeSpec

if TYPE_CHECKING:
    from transformers import PretrainedConfig


# keys that say where a config came from, not what it builds (the init is float32 whatever `dtype` says)
_PROVENANCE_KEYS = ("_name_or_path", "_commit_hash", "architectures", "dtype", "torch_dtype", "transformers_version")

# sizes a config may leave out or set to null, but never to anything but a positive integer (vocab_size: at least 2)
_SIZE_KEYS = (
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "head_dim", "max_position_embeddings", "n_embd", "n_layer", "n_head", "n_inner", "n_positions", "d_model",
)


def load_config(config: Mapping[str, Any] | PretrainedConfig | str | Path) -> PretrainedConfig:
    """Turn a config dict, a ``config.json`` file, or a model directory holding one into a transformers config.

    Raises
    ------
    ModelLoadError
        The file is missing, a pipe or device, unreadable or not JSON; a size is not a positive integer or
        the dtype is not a torch dtype; or transformers does not know its ``model_type`` or refuses a value.
    """
    from huggingface_hub.errors import StrictDataclassError
    from transformers import AutoConfig, PretrainedConfig

    from seedprints.model.hf import quiet_transformers

    if isinstance(config, PretrainedConfig):
        return config
    where = "config"
    if isinstance(config, (str, Path)):
        path = Path(config)
        path = path / "config.json" if path.is_dir() else path
        where = str(path)
        if special_file(path):
            raise ModelLoadError(f"config {path} is not a regular file (a pipe or device); pass a model's config.json")
        try:
            config = load_json(path.read_bytes())
        except FileNotFoundError as exc:
            raise ModelLoadError(f"config file {path} does not exist; pass a model's config.json") from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"{path} is not a readable JSON file ({exc}); pass a model's config.json") from exc
    if not isinstance(config, Mapping):
        raise ModelLoadError(f"{where} must be a JSON object with a model_type, got {type(config).__name__}")
    values = dict(config)
    model_type = values.pop("model_type", None)
    if model_type is None:
        raise ModelLoadError(f"{where} has no model_type; pass a transformers model config (config.json)")
    if not isinstance(model_type, str) or not model_type:
        raise ModelLoadError(f"{where}: model_type {short_repr(model_type)} is not a name such as \"llama\"; correct the config")
    _check_values(values, where)
    try:
        with quiet_transformers():  # its warnings about odd values would precede our one-line error
            return AutoConfig.for_model(model_type, **values)
    except (ValueError, KeyError, TypeError, AttributeError, StrictDataclassError) as exc:
        raise ModelLoadError(
            f"{where}: transformers cannot build a {model_type!r} config ({compact_message(exc)}); correct the config"
        ) from exc


def check_config(config: Mapping[str, Any] | PretrainedConfig | str | Path) -> PretrainedConfig:
    """:func:`load_config`, then build the model on PyTorch's meta device (no memory, no RNG) to refuse, before any
    work, a config transformers cannot build or one whose float32 weights would not fit in this machine's memory.

    Raises
    ------
    ModelLoadError
        As :func:`load_config`, or transformers has no causal LM for the config, or the model is too large.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from seedprints.model.hf import quiet_transformers

    cfg = load_config(config)
    try:
        with quiet_transformers(), torch.device("meta"):
            model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    except Exception as exc:  # noqa: BLE001 - any failure of transformers on a stranger's config is a bad config
        raise ModelLoadError(
            f"transformers cannot build a causal LM from this {cfg.model_type!r} config ({compact_message(exc)}); correct the config"
        ) from exc
    count = sum(p.numel() for p in model.parameters())
    memory = _memory_bytes()
    if memory is not None and 4 * count > memory:
        raise ModelLoadError(
            f"this {cfg.model_type!r} config makes a model of {count:,} parameters ({_gigabytes(4 * count)} in float32), "
            f"more than this machine's {_gigabytes(memory)} of memory; check its sizes (vocab_size, hidden_size, layers) "
            "or use a machine with more memory"
        )
    return cfg


def default_probes(config: str | Path, cfg: PretrainedConfig, options: ProbeOptions) -> ProbeSpec:
    """The default probes of the architecture ``cfg`` (read from ``config``, a config file or its folder): the spec a
    default fingerprint of a model of that vocabulary has, its tokenizer length read from the tokenizer files beside
    the config."""
    from seedprints.model.metadata import directory_tokenizer_length  # torch and transformers

    config = Path(config)
    tokenizer_length = directory_tokenizer_length(config if config.is_dir() else config.parent)
    return options.spec_for([getattr(cfg, "vocab_size", None)], int(getattr(cfg, "hidden_size", 0) or 0), tokenizer_length)


def config_sha256(config: Mapping[str, Any] | PretrainedConfig | str | Path) -> str:
    """SHA-256 of the canonical JSON of what a config builds (provenance keys such as versions left out)."""
    values = {k: v for k, v in load_config(config).to_dict().items() if k not in _PROVENANCE_KEYS}
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_values(values: Mapping[str, Any], where: str) -> None:
    """Refuse sizes that are not positive integers and unknown dtypes (as the model layer knows them) before
    transformers warns about them."""
    import torch

    from seedprints.model.config import is_torch_dtype_name  # torch and transformers

    for key in _SIZE_KEYS:
        value = values.get(key)
        least = 2 if key == "vocab_size" else 1
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < least):
            raise ModelLoadError(f"{where}: {key} must be an integer of at least {least}, not {short_repr(value)}; correct the config")
    for key in ("dtype", "torch_dtype"):
        value = values.get(key)
        known = value is None or isinstance(value, torch.dtype) or (isinstance(value, str) and is_torch_dtype_name(value))
        if not known:
            raise ModelLoadError(f"{where}: {key} {short_repr(value)} is not a torch dtype; write e.g. \"float32\" or remove it")


def _memory_bytes() -> int | None:
    """This machine's physical memory, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _gigabytes(count: int) -> str:
    return f"{count / 1e9:,.1f} GB"
