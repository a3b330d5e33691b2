"""A model's tokenizer: load a directory's when present, say why it failed, and how many ids it (or a GGUF file's
token list) produces."""

from __future__ import annotations

import hashlib
import json
import re
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import transformers

from seedprints.errors import compact_message
from seedprints.inputs import load_json, special_file
from seedprints.model.hf import quiet_transformers
from seedprints.model.reuse import REUSED_TOKENIZERS
from seedprints.model.sources import ModelSource, gguf_reader

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



_PAD_PLACEHOLDER = re.compile(rb"\[PAD\d+\]")  # llama.cpp's converter's name for an embedding row no token uses



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
    cache = REUSED_TOKENIZERS.get()
    if cache is None:
        return _build_tokenizer(path, trust_remote_code, present)
    key = _content_key(path, present, trust_remote_code)
    if key not in cache:
        cache[key] = _build_tokenizer(path, trust_remote_code, present)
    return cache[key]


def _content_key(path: Path, present: list[Path], trust_remote_code: bool) -> tuple[Any, ...]:
    """What a directory's tokenizer is built from: the digests of its tokenizer files (and of config.json when no
    tokenizer_config.json names the class), so a derivative that ships its base's files reuses its tokenizer;
    with remote code, the directory too (its code files may differ)."""
    files = present + ([path / "config.json"] if not (path / "tokenizer_config.json").exists() else [])
    digests = tuple((file.name, hashlib.sha256(file.read_bytes()).hexdigest()) for file in files if file.is_file())
    return (trust_remote_code, str(path.resolve()) if trust_remote_code else "", digests)


def _build_tokenizer(path: Path, trust_remote_code: bool, present: list[Path]) -> tuple[Any, str | None]:
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

    Embedding rows from here on are padding: no text encodes them, so no model trained them. A trailing run of
    llama.cpp's ``[PAD<i>]`` placeholders (a tokenizer rebuilt from a GGUF file keeps them as tokens) is padding
    too, so such a directory gets the spec of its GGUF file and of the original.
    """
    if tokenizer is None:
        return None
    return remembered(tokenizer, _LENGTHS, _measured_length)


_LENGTHS: weakref.WeakKeyDictionary[Any, tuple[int, Any]] = weakref.WeakKeyDictionary()


def remembered(tokenizer: Any, memo: weakref.WeakKeyDictionary[Any, tuple[int, Any]], measure: Any) -> Any:
    """``measure(tokenizer)``, computed once per tokenizer object while its size (``len``) stays the same: listing a
    150k-token vocabulary takes a tenth of a second and a verb asks several times. Objects that cannot be weakly
    referenced or have no size are measured every time."""
    try:
        size = len(tokenizer)
        known = memo.get(tokenizer)
    except TypeError:
        return measure(tokenizer)
    if known is not None and known[0] == size:
        return known[1]
    value = measure(tokenizer)
    memo[tokenizer] = (size, value)
    return value


def _measured_length(tokenizer: Any) -> int | None:
    try:
        vocab = tokenizer.get_vocab()
    except Exception:  # noqa: BLE001 - a tokenizer that cannot list its vocabulary tells nothing
        return None
    names = {i: token for token, i in vocab.items()}
    end = max(names) + 1 if names else 0
    while end - 1 in names and _PAD_PLACEHOLDER.fullmatch(str(names[end - 1]).encode()):
        end -= 1
    return end or None



def source_tokenizer(source: ModelSource, trust_remote_code: bool) -> tuple[Any, str | None, int | None]:
    """A model's tokenizer, why its files did not load, and its length, one rule for loading and for specs alone.

    A GGUF file's tokenizer is its own token list (:func:`gguf_tokenizer_length`); tokenizer files beside it are
    not read. A directory's is its tokenizer files (an adapter's own; the caller falls back to its base's).
    """
    if source.kind == "gguf":
        return None, None, gguf_tokenizer_length(source.directory / str(source.gguf_file))
    tokenizer, error = load_tokenizer(source.directory, trust_remote_code)
    return tokenizer, error, tokenizer_length(tokenizer)



def gguf_tokenizer_length(file: Path) -> int | None:
    """:func:`tokenizer_length` of a GGUF file, read from its metadata alone, so it gets its original's default spec.

    None when the file has no token list (``tokenizer.ggml.tokens``), as for a directory without tokenizer. The
    tensors are memory-mapped, never read.
    """
    from gguf import GGUFValueType

    reader = gguf_reader(file)
    names = _gguf_array(reader, "tokenizer.ggml.tokens", GGUFValueType.STRING)
    if names is None:
        return None
    types = _gguf_array(reader, "tokenizer.ggml.token_type", GGUFValueType.INT32)
    return token_list_length([bytes(name) for name in names],
                             [int(kind[0]) for kind in types] if types is not None else None)



def _gguf_array(reader: Any, key: str, item_type: int) -> list[Any] | None:
    """The items of the GGUF array field ``key`` (numpy parts), None when it is absent or not an array of ``item_type``."""
    from gguf import GGUFValueType

    field = reader.fields.get(key)
    if field is None or list(field.types) != [GGUFValueType.ARRAY, item_type]:
        return None
    return [field.parts[index] for index in field.data]



def token_list_length(names: Sequence[bytes], types: Sequence[int] | None) -> int | None:
    """Tokenizer length of a GGUF token list: the index of its last real token + 1 (None when it has none).

    llama.cpp's converter writes a placeholder named ``[PAD<i>]`` of type UNUSED for every embedding row its
    Hugging Face tokenizer does not cover, so the trailing run of such placeholders is the padding, and the length
    is the Hugging Face tokenizer's (largest id + 1). Everything before the last real token counts, as it does in
    the tokenizer's ids; a token of type UNUSED with another name (Gemma's ``<unused12>``) is real, and so is a
    ``[PAD<i>]`` of another type. Without types (or with a type list of another length) the name alone decides.
    """
    from gguf import TokenType

    kinds = types if types is not None and len(types) == len(names) else None
    end = len(names)
    while end and _PAD_PLACEHOLDER.fullmatch(names[end - 1]) and (kinds is None or kinds[end - 1] == TokenType.UNUSED):
        end -= 1
    return end or None
