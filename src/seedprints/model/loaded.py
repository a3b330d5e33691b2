"""A model ready to read probes, and what a fingerprint records about it."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch


@dataclasses.dataclass
class LoadedModel:
    """A model ready to read probes.

    Attributes
    ----------
    module : torch.nn.Module
        The inner model without LM head (e.g. ``LlamaModel``, ``BertModel``, ``GPT2Model``), in eval mode.
    tokenizer : transformers tokenizer or None
        The directory's tokenizer; None if it has none (only text probes need one).
    config : transformers.PretrainedConfig or None
        The model config; None for a plain torch module without one.
    model_id : str
        Where the model came from: the directory as given, or the module's name for an in-memory model.
    revision : str
        The git commit of the directory (or of its Hugging Face cache snapshot) if known, else the
        first 12 hex digits of the SHA-256 of ``config.json``; ``"in-memory"`` for a module.
    config_hash : str
        First 16 hex digits of the SHA-256 of the canonical JSON of the config's ``model_type``,
        ``architectures``, ``hidden_size``, ``num_hidden_layers`` and ``vocab_size``.
    hidden_size : int
        Width d of the hidden states.
    vocab_size : int or None
        Rows of the input embedding matrix (the largest valid token id + 1); None if unknown.
    dtype : torch.dtype
        Dtype of the forward pass.
    dtype_reason : str
        Why that dtype: ``"asked for"`` or what ``--dtype auto`` saw (:func:`seedprints.model.precision.choose_dtype`).
    is_encoder : bool
        True for bidirectional encoders (BERT-style), False for causal decoders.
    unembedding : callable or None
        Loads the ``[V, d]`` output-embedding (LM head) matrix on demand; None when the model has none.
    weights_digest : str
        Short digest of the config and weight files (see :func:`seedprints.sources.weights_digest`), or of
        the parameters of an in-memory module: what partial results are keyed on.
    tokenizer_error : str or None
        Why the directory's tokenizer files did not load (None if they did or there are none); only
        text probes need them, so this is reported when text probes are run, not at load.
    tokenizer_length : int or None
        Token ids the tokenizer can produce (its largest id + 1), for a GGUF file read from its own token list
        (:func:`seedprints.model.tokenizer.source_tokenizer`); None without a tokenizer.
    """

    module: torch.nn.Module
    tokenizer: Any
    config: Any
    model_id: str
    revision: str
    config_hash: str
    hidden_size: int
    vocab_size: int | None
    dtype: torch.dtype
    is_encoder: bool
    unembedding: Callable[[], torch.Tensor] | None = None
    weights_digest: str = ""
    tokenizer_error: str | None = None
    tokenizer_length: int | None = None
    dtype_reason: str = ""
