"""A model directory's tokenizer: load it when present, say why it failed, and how many ids it produces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import transformers

from seedprints.errors import compact_message
from seedprints.inputs import load_json, special_file
from seedprints.model.hf import quiet_transformers

_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
)



_TOKENIZER_SIDE_FILES = ("special_tokens_map.json", "added_tokens.json", "merges.txt")  # read beside the above



def load_tokenizer(path: Path, trust_remote_code: bool) -> tuple[Any, str | None]:
    """A directory's tokenizer, or None and why its files did not load ((None, None) when it has none).

    Nothing is reported here: only text probes need the tokenizer, and they report the reason (see
    :func:`_ragged_rows`). A tokenizer file that is a pipe or device is refused before anything opens it.
    """
    present = [path / name for name in _TOKENIZER_FILES + _TOKENIZER_SIDE_FILES if (path / name).exists()]
    if not any(file.name in _TOKENIZER_FILES for file in present):
        return None, None
    for file in present:
        if special_file(file):
            return None, f"its tokenizer file {file} is not a regular file (a pipe or device)"
    try:
        with quiet_transformers():
            return transformers.AutoTokenizer.from_pretrained(
                str(path), local_files_only=True, trust_remote_code=trust_remote_code
            ), None
    except Exception as exc:  # OSError, ValueError, JSON and tokenizers errors, ...
        return None, tokenizer_failure(path, present, exc)



def tokenizer_failure(path: Path, present: list[Path], exc: BaseException) -> str:
    """Why a tokenizer did not load: the JSON file that is not JSON if there is one, else transformers' whole reason."""
    for file in present:
        if file.suffix == ".json":
            try:
                load_json(file.read_bytes())
            except json.JSONDecodeError as bad:
                return f"its tokenizer file {file} is not valid JSON ({bad})"
            except OSError as bad:
                return f"its tokenizer file {file} cannot be read ({bad.strerror or bad})"
    names = ", ".join(file.name for file in present)
    return f"its tokenizer files in {path} ({names}) do not load: {compact_message(exc, 1000, with_class=True)}"



def tokenizer_length(tokenizer: Any) -> int | None:
    """Largest id a tokenizer can produce + 1 (added tokens included); None for no tokenizer or an empty one.

    Embedding rows from here on are padding: no text encodes them, so no model trained them.
    """
    if tokenizer is None:
        return None
    try:
        ids = tokenizer.get_vocab().values()
    except Exception:  # noqa: BLE001 - a tokenizer that cannot list its vocabulary tells nothing
        return None
    return max(ids) + 1 if ids else None
