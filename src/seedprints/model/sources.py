"""What a model path holds, and the loading policy checked before any weight is read.

A path is one of: a Hugging Face model directory (``config.json`` plus weights), a GGUF file (or a
directory holding exactly one, without ``config.json``), or a PEFT adapter directory
(``adapter_config.json``). Policy: safetensors and GGUF files hold only data and load by
default; pickled weights (``.bin``, ``.pt``, ``.pth``, ``.ckpt``, ``.pkl``) can run code when
unpickled and are refused unless the caller passes ``allow_pickle``. GGUF files are read through
transformers' GGUF loader, which dequantises every tensor to float before the model runs, so a
GGUF fingerprint is the fingerprint of the dequantised weights (not of llama.cpp's kernels).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

from seedprints.errors import ModelLoadError
from seedprints.inputs import load_json, special_file
from seedprints.naming import setting

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_DIGEST_SAMPLES = 64
_DIGEST_CHUNK = 1 << 16
_FLOAT_GGML_TYPES = ("F32", "F16")
_ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")  # the names peft reads, nothing else
_MAX_SAFETENSORS_HEADER = 100_000_000  # bytes; the safetensors library's own limit
_READ_NAMES = ("config.json", "adapter_config.json")  # besides weights and shard indexes: what the loaders read
_WEIGHT_SUFFIXES = (".safetensors", ".gguf", *PICKLE_SUFFIXES)


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """A model path, classified.

    Attributes
    ----------
    kind : {"transformers", "gguf", "peft"}
        A Hugging Face directory, a GGUF file, or a PEFT adapter directory.
    directory : Path
        The directory transformers reads (the GGUF file's folder for ``"gguf"``).
    gguf_file : str or None
        File name of the GGUF inside ``directory``; None for other kinds.
    weight_files : tuple of Path
        The files that hold the weights (the adapter's own files for ``"peft"``).
    """

    kind: str
    directory: Path
    gguf_file: str | None = None
    weight_files: tuple[Path, ...] = ()


def missing_source(path: Path) -> ModelLoadError:
    """The error for a model argument that does not exist, named by what its name says it was meant to be."""
    name = path.name.lower()
    if name.endswith((".safetensors", ".fp")):
        return ModelLoadError(f"fingerprint file {path} does not exist; check the path")
    if name.endswith(".gguf"):
        return ModelLoadError(f"GGUF file {path} does not exist; check the path")
    return ModelLoadError(f"model directory {path} does not exist; pass a local Hugging Face model directory "
                          "(or, where a verb takes one, a Hub id org/name)")


def inspect_source(path: Path, *, allow_pickle: bool = False) -> ModelSource:
    """Classify ``path`` and enforce the pickle policy, reading no weights.

    Raises
    ------
    ModelLoadError
        The path is missing, is a pipe or device (or holds a config, index or weight file that is
        one), is a file other than GGUF, is neither a model, a GGUF nor an adapter directory, holds
        several GGUF files, has an unreadable shard index, is an adapter without its weights, or
        holds only pickled weights while ``allow_pickle`` is False.
    """
    if not path.exists():
        raise missing_source(path)
    if special_file(path):
        raise ModelLoadError(f"{path} is not a regular file or directory (a pipe or device); pass a model directory")
    if path.is_file():
        if path.suffix.lower() == ".gguf":
            return ModelSource("gguf", path.parent, path.name, (path,))
        raise ModelLoadError(f"{path} is a file, not a model directory; pass the directory that holds config.json")
    _refuse_special_files(path)
    files = sorted(p for p in path.iterdir() if p.is_file())
    if (path / "adapter_config.json").is_file():
        weights = tuple(p for p in files if p.name.startswith("adapter_model"))
        adapter_config(path)
        _check_pickle(path, weights, allow_pickle, "adapter weights")
        if not any(p.name in _ADAPTER_WEIGHTS for p in weights):
            raise ModelLoadError(
                f"adapter {path} has adapter_config.json but no {_ADAPTER_WEIGHTS[0]}; copy the adapter's weight "
                "file into it"
            )
        return ModelSource("peft", path, None, weights)
    ggufs = [p for p in files if p.suffix.lower() == ".gguf"]
    if not (path / "config.json").is_file():
        if len(ggufs) == 1:
            return ModelSource("gguf", path, ggufs[0].name, (ggufs[0],))
        if len(ggufs) > 1:
            names = ", ".join(p.name for p in ggufs[:4])
            raise ModelLoadError(f"{path} holds several GGUF files ({names}); pass the one to fingerprint")
        what = " holds safetensors weights but" if any(p.suffix == ".safetensors" for p in files) else ""
        raise ModelLoadError(
            f"{path}{what} is not a Hugging Face model directory (no config.json); pass the directory "
            "written by save_pretrained or downloaded from the hub, with its config.json"
        )
    weights = tuple(p for p in files if p.suffix == ".safetensors" or p.suffix in PICKLE_SUFFIXES)
    _check_pickle(path, weights, allow_pickle, "weights")
    for file in weights:
        if file.suffix == ".safetensors":
            check_safetensors(file)
    for index in path.glob("*.index.json"):
        advice = "re-download the model's index file or re-save the model"
        if not isinstance(read_json_object(index, advice).get("weight_map"), dict):
            raise ModelLoadError(f"{index} has no weight_map object; {advice}")
    return ModelSource("transformers", path, None, weights)


def _refuse_special_files(directory: Path) -> None:
    """Refuse a config, index or weight file that is a pipe or device: skipped as absent, it would read as
    "no config.json" or "no weights"; opened, a FIFO blocks forever."""
    for entry in sorted(directory.iterdir()):
        read = entry.name in _READ_NAMES or entry.name.endswith(".index.json") or entry.suffix.lower() in _WEIGHT_SUFFIXES
        if read and special_file(entry):
            raise ModelLoadError(f"{entry} is not a regular file (a pipe or device); replace it with the real file")


def read_json_object(file: Path, advice: str) -> dict[str, Any]:
    """A JSON object from a model's metadata file (config, index, adapter config), or one clear error.

    Raises
    ------
    ModelLoadError
        The file is unreadable, is not JSON (junk, too deep, over-long integers) or holds no JSON
        object; the message ends with ``advice``.
    """
    try:
        raw = load_json(file.read_bytes())
    except OSError as exc:
        raise ModelLoadError(f"cannot read {file}: {exc.strerror or exc}; {advice}") from exc
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{file} is not valid JSON ({exc}); {advice}") from exc
    if not isinstance(raw, dict):
        raise ModelLoadError(f"{file} is not a JSON object; {advice}")
    return raw


_LFS_POINTER = b"version https://git-lfs"


def check_safetensors(file: Path) -> None:
    """Refuse a ``.safetensors`` file that does not start with a safetensors header (8-byte length, then a JSON
    object that fits in the file): a Git LFS pointer left by a clone without ``git lfs pull``, a text or HTML page
    saved under that name, or a truncated download, each named in seedprints' own words."""
    try:
        with file.open("rb") as handle:
            head = handle.read(64)
            size = file.stat().st_size
    except OSError as exc:
        raise ModelLoadError(f"cannot read weight file {file} ({exc.strerror or exc}); check its permissions") from exc
    if head.startswith(_LFS_POINTER):
        raise ModelLoadError(f"{file} is a Git LFS pointer, not the weights; run `git lfs pull` in the model's "
                             "repository or download the file itself")
    length = int.from_bytes(head[:8], "little") if len(head) >= 8 else 0
    if head[8:9] == b"{" and length > size - 8:
        raise ModelLoadError(f"{file} is cut short: its header alone needs {length + 8} bytes and the file has {size}; "
                             "the download did not finish, download it again")
    if len(head) < 9 or not 0 < length <= size - 8 or head[8:9] != b"{":
        kind = "text" if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head) else "data"
        raise ModelLoadError(f"{file} is not a safetensors file (it starts with {kind}, not a safetensors header; "
                             f"{size} bytes); re-download or re-save the model")


def safetensors_shapes(files: tuple[Path, ...]) -> dict[str, tuple[int, ...]] | None:
    """Every tensor's shape from the headers of safetensors files (no tensor data is read).

    Returns None when a file is not safetensors or its header is unreadable: the loader then
    reports that file itself.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    for file in files:
        if file.suffix != ".safetensors":
            return None
        try:
            with file.open("rb") as handle:
                size = int.from_bytes(handle.read(8), "little")
                header = load_json(handle.read(size)) if 0 < size <= _MAX_SAFETENSORS_HEADER else None
        except (OSError, json.JSONDecodeError):
            return None
        if not isinstance(header, dict):
            return None
        for key, entry in header.items():
            shape = entry.get("shape") if isinstance(entry, dict) else None
            if key != "__metadata__" and isinstance(shape, list) and all(isinstance(n, int) for n in shape):
                shapes[key] = tuple(shape)
    return shapes


def _check_pickle(path: Path, weights: tuple[Path, ...], allow_pickle: bool, what: str) -> None:
    if allow_pickle or any(p.suffix == ".safetensors" for p in weights):
        return
    pickled = [p for p in weights if p.suffix in PICKLE_SUFFIXES]
    if pickled:
        raise ModelLoadError(
            f"{path} holds pickled {what} ({pickled[0].name}), which can run code when loaded; convert to "
            "safetensors or pass --allow-pickle (allow_pickle=True) if you trust it"
        )


def warn_remote_code(path: Path) -> None:
    """The loud one-line warning given whenever a directory may run its own code."""
    warnings.warn(
        f"{setting('trust_remote_code', True)}: Python code shipped in {path} may run with your permissions", UserWarning,
        stacklevel=3,
    )


# ----------------------------------------------------------------------------------------------------------------------
# GGUF


def check_gguf(file: Path) -> None:
    """Refuse a GGUF file whose architecture transformers cannot build or whose tensor types it cannot dequantise.

    Raises
    ------
    ModelLoadError
        The file is not GGUF, its architecture is unsupported, or a tensor uses a quantisation
        type without a dequantiser; the message names the culprit.
    """
    reader = gguf_reader(file)
    from gguf import GGMLQuantizationType
    from gguf.quants import _type_traits
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    field = reader.fields.get("general.architecture")
    architecture = bytes(field.parts[field.data[0]]).decode() if field is not None else None
    if architecture is None:
        raise ModelLoadError(f"{file} has no general.architecture; it is not a model GGUF file")
    if architecture not in GGUF_SUPPORTED_ARCHITECTURES:
        raise ModelLoadError(
            f"{file} holds a GGUF model of architecture {architecture!r}, which transformers' GGUF loader does not "
            "support; convert the original checkpoint to safetensors instead"
        )
    readable = set(_FLOAT_GGML_TYPES) | {t.name for t in _type_traits}
    for tensor in reader.tensors:
        kind = GGMLQuantizationType(tensor.tensor_type).name
        if kind not in readable:
            raise ModelLoadError(
                f"{file} stores tensor {tensor.name} as {kind}, a quantisation type the gguf package cannot "
                "dequantise; use a GGUF with another type (e.g. Q8_0, Q4_K, F16) or the original weights"
            )


def gguf_reader(file: Path) -> Any:
    """A GGUF file's reader: its metadata parsed, its tensors memory-mapped (their bytes are read only when used)."""
    from gguf import GGUFReader

    try:
        return GGUFReader(str(file))
    except Exception as exc:  # ValueError (bad magic), KeyError (unknown type id), struct errors, ...
        raise ModelLoadError(f"{file} is not a readable GGUF file ({exc}); re-download or re-convert it") from exc


def gguf_unembedding(file: Path) -> Any:
    """The dequantised ``[V, d]`` output matrix of a GGUF (``output.weight``, else the tied ``token_embd.weight``)."""
    import numpy as np
    import torch
    from gguf import dequantize

    tensors = {t.name: t for t in gguf_reader(file).tensors}
    tensor = tensors.get("output.weight") or tensors.get("token_embd.weight")
    if tensor is None:
        raise ModelLoadError(f"{file} has neither output.weight nor token_embd.weight; it cannot give logits")
    return torch.from_numpy(np.array(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32))


# ----------------------------------------------------------------------------------------------------------------------
# PEFT adapters


def adapter_config(directory: Path) -> dict[str, Any]:
    """The parsed ``adapter_config.json`` of an adapter directory."""
    return read_json_object(directory / "adapter_config.json", "re-save the adapter")


def adapter_base(directory: Path, base: Path | None) -> Path:
    """The local base-model directory of an adapter: ``base`` if given, else its ``base_model_name_or_path``.

    Raises
    ------
    ModelLoadError
        Neither names an existing local directory.
    """
    if base is not None:
        if not Path(base).is_dir():
            raise ModelLoadError(f"base model directory {base} (for adapter {directory}) does not exist; pass {setting('base', metavar='DIR')}")
        return Path(base)
    named = adapter_config(directory).get("base_model_name_or_path")
    if isinstance(named, str) and named:
        candidate = Path(named).expanduser()
        if not candidate.is_absolute():
            candidate = candidate if candidate.is_dir() else directory / candidate
        if candidate.is_dir():
            return candidate
        raise ModelLoadError(
            f"adapter {directory} was trained on {named!r}, which is not a local directory here; "
            f"pass its local copy with {setting('base', metavar='DIR')} (an adapter's base is never downloaded)"
        )
    raise ModelLoadError(f"adapter {directory} does not name its base model; pass it with {setting('base', metavar='DIR')}")


# ----------------------------------------------------------------------------------------------------------------------
# Identity of the weights


def weights_digest(files: list[Path] | tuple[Path, ...], extra: bytes = b"") -> str:
    """First 16 hex digits of a SHA-256 over ``extra`` and, per weight file, its name, size and 64 evenly spaced
    64 KiB samples of its bytes: cheap on a 100 GB checkpoint, yet any re-trained weights change it."""
    digest = hashlib.sha256(extra)
    for file in sorted(files):
        size = file.stat().st_size
        digest.update(f"{file.name}\0{size}\0".encode())
        with file.open("rb") as handle:
            step = max(size // _DIGEST_SAMPLES, _DIGEST_CHUNK)
            for offset in range(0, size, step):
                handle.seek(offset)
                digest.update(handle.read(_DIGEST_CHUNK))
    return digest.hexdigest()[:16]
