"""A model's config: read ``config.json`` (or a GGUF header) safely, validate it, and derive what a fingerprint records."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
import transformers

from seedprints.errors import ModelLoadError, compact_message
from seedprints.model import sources
from seedprints.model.hf import quiet_transformers
from seedprints.naming import setting


def read_raw_config(path: Path) -> tuple[bytes, dict[str, Any]]:
    """Check the directory and parse config.json ourselves, so every failure gets a precise message."""
    if not path.exists():
        raise sources.missing_source(path)
    if not path.is_dir():
        raise ModelLoadError(f"{path} is a file, not a model directory; pass the directory that holds config.json")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelLoadError(
            f"{path} is not a Hugging Face model directory (no config.json); pass the directory "
            "written by save_pretrained or downloaded from the hub"
        )
    try:
        raw_bytes = config_file.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read {config_file}: {exc.strerror}; check its permissions") from exc
    raw = sources.read_json_object(config_file, "re-download or re-save the model")
    model_type = raw.get("model_type")
    if model_type is not None and not isinstance(model_type, str):
        raise ModelLoadError(
            f"{config_file} gives model_type as {type(model_type).__name__} {model_type!r}; it must be a string "
            "such as \"llama\", fix config.json"
        )
    for key in ("dtype", "torch_dtype"):
        value = raw.get(key)
        if value is not None and not (isinstance(value, str) and is_torch_dtype_name(value)):
            raise ModelLoadError(
                f"{config_file} gives {key} {value!r}, which is not a torch dtype; set it to \"float32\", "
                "\"bfloat16\" or \"float16\""
            )
    validate_config(raw, config_file)
    return raw_bytes, raw



def is_torch_dtype_name(name: str) -> bool:
    """True for a name torch knows as a dtype (``"float16"``, ``"torch.bfloat16"``), or transformers' ``"auto"``."""
    return name == "auto" or isinstance(getattr(torch, name.removeprefix("torch."), None), torch.dtype)



def validate_config(config: Any, where: str | os.PathLike[str]) -> None:
    """Refuse a config no model can be built from, before anything is allocated.

    Checks that ``hidden_size``, ``num_hidden_layers``, ``num_attention_heads`` and ``vocab_size``
    (where the config has them) are positive integers and that the heads divide the width when no
    ``head_dim`` is given; building such a model would print warnings or fail deep in torch.

    Parameters
    ----------
    config : transformers.PretrainedConfig, dict or object
        The config, or the raw ``config.json`` object (checked before transformers parses it).
    where : str or path
        The config's file (or GGUF file), named in the message.

    Raises
    ------
    ModelLoadError
        Naming the field, its value and ``where``.
    """
    def field(name: str) -> Any:
        return config.get(name) if isinstance(config, dict) else getattr(config, name, None)

    for name in _POSITIVE_CONFIG_FIELDS:
        value = field(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise ModelLoadError(
                f"{where} sets {name} to {value!r}; it must be a positive integer, fix the config or re-download the model"
            )
    hidden, heads = field("hidden_size"), field("num_attention_heads")
    if isinstance(hidden, int) and isinstance(heads, int) and hidden % heads and not field("head_dim"):
        raise ModelLoadError(
            f"{where} sets hidden_size {hidden}, which num_attention_heads {heads} does not divide; fix the config "
            "or re-download the model"
        )



def remote_code_error(path: Path) -> ModelLoadError:
    return ModelLoadError(
        f"{path} needs its own modelling code (auto_map in config.json); pass --trust-remote-code "
        "(trust_remote_code=True) only if you trust the code in that directory"
    )



def directory_config(path: Path, raw: dict[str, Any], trust_remote_code: bool) -> Any:
    """The transformers config of the model directory ``path`` (``raw``: its config.json, for the error lines).

    Unlike :func:`seedprints.seeds.load_config` (a config from values, for rebuilding an init), this reads a model
    as transformers would load it, remote code included when trusted."""
    try:
        with quiet_transformers():
            return transformers.AutoConfig.from_pretrained(
                str(path), local_files_only=True, trust_remote_code=trust_remote_code
            )
    except Exception as exc:  # transformers raises ValueError, OSError, KeyError, ... here
        text = str(exc)
        if not trust_remote_code and ("trust_remote_code" in text or "custom code" in text):
            raise remote_code_error(path) from exc
        model_type = raw.get("model_type")
        if model_type is None:
            raise ModelLoadError(
                f"{path / 'config.json'} has no model_type; this is not a transformers model config"
            ) from exc
        if "does not recognize this architecture" in text or "Unrecognized" in text:
            hint = (f" or pass {setting('trust_remote_code', True)} if it ships its own code and you trust it"
                    if "auto_map" in raw else "")
            raise ModelLoadError(
                f"{path / 'config.json'} has model_type {model_type!r}, which transformers "
                f"{transformers.__version__} does not know; upgrade transformers{hint}"
            ) from exc
        raise ModelLoadError(
            f"transformers cannot parse {path / 'config.json'}: {compact_message(exc, first_line=True)}; fix config.json or re-download the model"
        ) from exc



def checkpoint_dtype(raw: dict[str, Any]) -> str | None:
    value = raw.get("dtype") or raw.get("torch_dtype")
    if value is None and isinstance(raw.get("text_config"), dict):
        value = raw["text_config"].get("dtype") or raw["text_config"].get("torch_dtype")
    return str(value).removeprefix("torch.") if value is not None else None



def gguf_config(source: sources.ModelSource) -> tuple[bytes, dict[str, Any], Any]:
    file = source.directory / str(source.gguf_file)
    sources.check_gguf(file)
    try:
        with quiet_transformers():
            config = transformers.AutoConfig.from_pretrained(
                str(source.directory), gguf_file=source.gguf_file, local_files_only=True
            )
    except Exception as exc:  # transformers raises ValueError / KeyError on GGUF metadata it cannot map
        raise ModelLoadError(f"transformers cannot read the model config in {file}: {compact_message(exc, first_line=True)}") from exc
    raw = config.to_dict()
    return json.dumps(raw, sort_keys=True, default=str).encode(), raw, config



def config_hash(config: Any, module: torch.nn.Module) -> str:
    fields = {key: getattr(config, key, None) if config is not None else None for key in _CONFIG_HASH_KEYS}
    if config is None:
        fields["architectures"] = [type(module).__name__]
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]



def vocab_size_of(module: torch.nn.Module, config: Any) -> int | None:
    embeddings = None
    with contextlib.suppress(Exception):
        embeddings = module.get_input_embeddings()  # type: ignore[operator]
    weight = getattr(embeddings, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.ndim == 2:
        return int(weight.shape[0])
    size = getattr(config, "vocab_size", None)
    return int(size) if isinstance(size, int) else None



def is_encoder(config: Any) -> bool:
    """BERT-style bidirectional encoder: a masked-LM model type not configured as a decoder."""
    if config is None or getattr(config, "is_decoder", False) or getattr(config, "is_encoder_decoder", False):
        return False
    architectures = getattr(config, "architectures", None) or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        return False
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    return getattr(config, "model_type", None) in MODEL_FOR_MASKED_LM_MAPPING_NAMES


_POSITIVE_CONFIG_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")



_CONFIG_HASH_KEYS = ("model_type", "architectures", "hidden_size", "num_hidden_layers", "vocab_size")
