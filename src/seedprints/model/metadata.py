"""The strings a fingerprint header records about its model, and what a model's tokenizer files say without weights."""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from pathlib import Path
from typing import Any

import torch
import transformers

from seedprints import hub
from seedprints.model import sources
from seedprints.model.forward import module_device
from seedprints.model.loaded import LoadedModel
from seedprints.model.tokenizer import load_tokenizer, remembered, source_tokenizer, tokenizer_length


def model_metadata(loaded: LoadedModel) -> dict[str, str]:
    """Strings describing the model, for the fingerprint header.

    Returns
    -------
    dict of str to str
        ``model_revision``, ``config_hash``, ``dtype`` (e.g. ``"bfloat16"``), ``dtype_reason`` (why that
        dtype, e.g. ``"auto: bfloat16 checkpoint, CPU without native bfloat16, float32 fits"``), ``model_type``,
        ``architecture``, ``num_layers``, ``vocab_size``, ``tokenizer_hash`` (of the token -> id
        map: text probes are encoded by each model's own tokenizer, so this says how),
        ``transformers_version``, ``torch_version``, ``device`` (where the forward pass ran, e.g. ``"cuda:0"``;
        under a device map, the first layer's); unknown values are empty strings. A model downloaded
        from the Hub also gets ``hub_repo`` and ``hub_commit`` (:func:`seedprints.hub.snapshot_metadata`).

    Example
    -------
    >>> import transformers
    >>> from seedprints.model.load import load_model
    >>> from seedprints.model.metadata import model_metadata
    >>> cfg = transformers.LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
    ...                                intermediate_size=64, vocab_size=100)
    >>> meta = model_metadata(load_model(transformers.LlamaForCausalLM(cfg)))
    >>> meta["model_type"], meta["num_layers"], meta["dtype"]
    ('llama', '2', 'float32')
    """
    config = loaded.config
    architectures = getattr(config, "architectures", None) or []
    num_layers = getattr(config, "num_hidden_layers", None)
    return {
        "model_revision": loaded.revision,
        "config_hash": loaded.config_hash,
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "dtype_reason": loaded.dtype_reason,
        "model_type": str(getattr(config, "model_type", "") or ""),
        "architecture": str(architectures[0]) if architectures else type(loaded.module).__name__,
        "num_layers": str(num_layers) if num_layers is not None else "",
        "vocab_size": str(loaded.vocab_size) if loaded.vocab_size is not None else "",
        "tokenizer_hash": _tokenizer_hash(loaded.tokenizer),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "device": str(module_device(loaded.module)),
        **hub.snapshot_metadata(loaded.model_id),
    }



def _tokenizer_hash(tokenizer: Any) -> str:
    """First 16 hex digits of the SHA-256 of the tokenizer's token -> id map ("" without a tokenizer)."""
    if tokenizer is None:
        return ""
    return remembered(tokenizer, _HASHES, _vocab_digest)


_HASHES: weakref.WeakKeyDictionary[Any, tuple[int, Any]] = weakref.WeakKeyDictionary()


def _vocab_digest(tokenizer: Any) -> str:
    vocab = json.dumps(tokenizer.get_vocab(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(vocab.encode()).hexdigest()[:16]



def read_tokenizer_length(source: str | os.PathLike, *, trust_remote_code: bool = False) -> int | None:
    """The tokenizer length loading ``source`` would give (:func:`source_tokenizer`), without weights.

    A model directory's tokenizer files, a GGUF file's token list, an adapter's own tokenizer files or else its base's.
    """
    info = sources.inspect_source(Path(source), allow_pickle=True)
    tokenizer, error, length = source_tokenizer(info, trust_remote_code)
    if info.kind == "peft" and tokenizer is None and error is None:
        return read_tokenizer_length(sources.adapter_base(info.directory, None), trust_remote_code=trust_remote_code)
    return length



def directory_tokenizer_length(directory: Path, *, trust_remote_code: bool = False) -> int | None:
    """:func:`tokenizer_length` of the tokenizer files in ``directory`` (None when it has none that load)."""
    return tokenizer_length(load_tokenizer(Path(directory), trust_remote_code)[0])
