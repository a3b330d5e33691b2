"""Whether a model can take a probe spec, from its config alone: width, vocabulary and positions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from seedprints.errors import IncompatibleFingerprintsError, ModelLoadError, UsageError
from seedprints.model import sources
from seedprints.model.config import gguf_config, directory_config, read_raw_config, validate_config
from seedprints.model.hf import offline_hub
from seedprints.naming import setting
from seedprints.probes import ProbeSpec


def max_positions(config: Any) -> int | None:
    value = getattr(config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) and value > 0 else None



def refit_advice(origin: str | None, fix: str) -> str:
    """Advice for probes that do not fit the model: ``fix`` (e.g. ``"length=64 or less"``, or ``"--length 64 or less"``
    on the CLI) in this run, or, for probes taken from a reference (``origin``, when the caller knows it), in a new
    fingerprint of that reference."""
    redo = f"re-fingerprint that reference with {fix}"
    if origin is not None:
        return f"the probes come from {origin}, so {redo}"
    return f"use {fix} when fingerprinting, or, for probes taken from a reference fingerprint or registry entry, {redo}"



def check_vocab(model_id: str, vocab_size: int | None, max_id: int, what: str, fix: str, origin: str | None) -> None:
    if vocab_size is not None and max_id >= vocab_size:
        raise UsageError(
            f"{what} reach id {max_id} but {model_id} has only {vocab_size} token embeddings; {refit_advice(origin, fix)}"
        )



def check_length(model_id: str, config: Any, length: int, origin: str | None, file: bool = False) -> None:
    limit = max_positions(config)
    if limit is not None and length > limit:
        fix = f"a probe file whose rows have at most {limit} tokens" if file else f"{setting('length', limit)} or less"
        raise UsageError(f"probes of length {length} exceed the {limit} positions of {model_id}; {refit_advice(origin, fix)}")



def check_generated(model_id: str, vocab_size: int | None, config: Any, hidden_size: int, spec: ProbeSpec,
                     origin: str | None) -> None:
    """Refuse generated (token or embedding) probes the model cannot take: ids past its embeddings, more tokens
    than its positions, or embedding vectors of another width."""
    if spec.max_token_id is not None:
        check_vocab(model_id, vocab_size, spec.max_token_id,
                     f"token probes (vocab_bound={spec.vocab_bound})", f"{setting('vocab_bound', vocab_size)} or less", origin)
    elif spec.hidden_size != hidden_size:
        raise UsageError(
            f"embedding probes have width d={spec.hidden_size} but {model_id} has hidden size {hidden_size}; embedding "
            f"probes need equal widths, make them with d={hidden_size} or use token probes"
        )
    check_length(model_id, config, spec.length, origin)



def check_model_takes(source: str | os.PathLike, spec: ProbeSpec, *, hidden_size: int | None = None,
                      origin: str | None = None, trust_remote_code: bool = False) -> None:
    """From the config alone, before any weight is read: refuse a model whose width differs from ``hidden_size``
    (the reference fingerprint's) or that cannot take the generated probes of ``spec``.

    Raises IncompatibleFingerprintsError for a width mismatch and UsageError for probes that do not fit, the same
    answers a full extraction would give only after loading the weights (or, for the width, after the forward pass).
    """
    config = source_config(source, trust_remote_code=trust_remote_code)
    hidden, vocab = config_shape(config, source)
    if hidden_size is not None and hidden != hidden_size:
        raise IncompatibleFingerprintsError(
            f"hidden sizes differ ({origin or 'the reference'} has d={hidden_size}, {source} has d={hidden} by its "
            "config); this test compares dimensions one to one and needs equal widths"
        )
    if not spec.from_file:
        check_generated(str(source), vocab, config, hidden, spec, origin)



def read_model_shape(source: str | os.PathLike, *, trust_remote_code: bool = False) -> tuple[int, int | None]:
    """``(hidden_size, vocab_size)`` of a model directory, GGUF file or adapter from its config alone (no weights loaded)."""
    return config_shape(source_config(source, trust_remote_code=trust_remote_code), source)



def source_config(source: str | os.PathLike, *, trust_remote_code: bool) -> Any:
    """The checked config of a model directory, GGUF file or adapter (its base's), read without any weight."""
    info = sources.inspect_source(Path(source), allow_pickle=True)  # no weights are read here
    if info.kind == "peft":
        return source_config(sources.adapter_base(info.directory, None), trust_remote_code=trust_remote_code)
    with offline_hub():
        if info.kind == "gguf":
            _, _, config = gguf_config(info)
        else:
            _, raw = read_raw_config(info.directory)
            config = directory_config(info.directory, raw, trust_remote_code)
    validate_config(config, source)
    return config



def config_shape(config: Any, source: str | os.PathLike) -> tuple[int, int | None]:
    hidden = getattr(config, "hidden_size", None)
    if not isinstance(hidden, int):
        raise ModelLoadError(f"{source} gives no hidden_size in its config; seedprints cannot fingerprint this model")
    vocab = getattr(config, "vocab_size", None)
    return hidden, vocab if isinstance(vocab, int) else None
