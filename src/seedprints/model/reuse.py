"""Tokenizers built once per verb: a cheap module (no torch, no transformers), so callers can open the scope early."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

# (directory, trust_remote_code, (name, mtime, size) of each tokenizer file) -> (tokenizer, why it did not load)
REUSED_TOKENIZERS: contextvars.ContextVar[dict[Any, tuple[Any, str | None]] | None] = contextvars.ContextVar(
    "reused_tokenizers", default=None
)


@contextlib.contextmanager
def reusing_tokenizers() -> Iterator[None]:
    """Within the block, a directory's tokenizer is built once for the same files: a verb reads tokenizers to resolve
    the probe spec and again to load the models, and a large vocabulary takes a second or more to build."""
    current = REUSED_TOKENIZERS.get()
    token = REUSED_TOKENIZERS.set({} if current is None else current)
    try:
        yield
    finally:
        REUSED_TOKENIZERS.reset(token)
