"""Partial extraction results on disk, so an interrupted fingerprint run resumes where it stopped.

The partial file is hidden beside the output (``.NAME.partial``): a safetensors file whose ``hidden``
tensor holds the rows done so far and whose metadata names the model (a digest of its config and
weights), the probe spec hash, the forward dtype and the full shape. A run only resumes from a file
whose key matches its own; anything else is refused, so rows of two models are never mixed. Writes
are atomic (temp file, fsync, rename), so a crash mid-write leaves the previous partial file intact.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from seedprints.errors import UsageError
from seedprints.output_paths import write_atomic

PARTIAL_FORMAT = "1"
_TENSOR = "hidden"


def partial_path(output: str | Path) -> Path:
    """Where the partial results for ``output`` live: a hidden file in the same folder."""
    output = Path(output)
    return output.with_name(f".{output.name}.partial")


def kept_rows(path: str | Path) -> tuple[int, int] | None:
    """``(rows kept, rows in all)`` of the partial file ``path``, read from its header; None without a readable one."""
    try:
        with Path(path).open("rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(size))
        return int(header[_TENSOR]["shape"][0]), int(header["__metadata__"]["n"])
    except (OSError, ValueError, KeyError, TypeError, IndexError, struct.error):
        return None


class Checkpoint:
    """Rows done so far for one (model, probe spec, dtype) key, saved to and restored from ``path``.

    Parameters
    ----------
    path : Path
        The partial file (see :func:`partial_path`).
    key : dict of str to str
        What the rows depend on (model digest, probe hash, dtype, N, d); stored, and compared on restore.
    """

    def __init__(self, path: str | Path, key: dict[str, str]) -> None:
        self.path = Path(path)
        self.key = {"seedprints_partial": PARTIAL_FORMAT, **{k: str(v) for k, v in key.items()}}

    def restore(self, n: int, d: int) -> tuple[np.ndarray | None, int]:
        """``(rows [n, d] float32 with the first ``done`` filled, done)``; ``(None, 0)`` when there is no partial file.

        Raises
        ------
        UsageError
            The partial file is unreadable, or was written for another model, probe spec, dtype or shape.
        """
        if not self.path.is_file():
            return None, 0
        from safetensors import SafetensorError
        from safetensors.numpy import load

        how = f"delete {self.path} to start over"
        try:
            with self.path.open("rb") as handle:
                data = handle.read()
            tensors = load(data)
            metadata = _metadata(data)
        except (OSError, SafetensorError, ValueError, struct.error) as exc:
            raise UsageError(f"partial results {self.path} are unreadable; {how}") from exc
        changed = sorted(k for k in self.key if metadata.get(k) != self.key[k])
        if changed:
            what = ", ".join(f"{k} {metadata.get(k)!r} (now {self.key[k]!r})" for k in changed[:2])
            raise UsageError(f"partial results {self.path} were made for another model or probe spec ({what}); {how}")
        rows = tensors.get(_TENSOR)
        if rows is None or rows.ndim != 2 or rows.shape[1] != d or rows.shape[0] > n or rows.dtype != np.float32:
            raise UsageError(f"partial results {self.path} have an unexpected shape; {how}")
        result = np.empty((n, d), dtype=np.float32)
        result[: rows.shape[0]] = rows
        return result, int(rows.shape[0])

    def save(self, rows: np.ndarray) -> None:
        """Atomically replace the partial file with ``rows`` (the first rows of the result, in order)."""
        from safetensors.numpy import save

        write_atomic(self.path, save({_TENSOR: np.ascontiguousarray(rows, dtype=np.float32)}, metadata=self.key))

    def discard(self) -> None:
        """Remove the partial file (after the final output has been written)."""
        self.path.unlink(missing_ok=True)


def _metadata(data: bytes) -> dict[str, str]:
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise ValueError("metadata is not an object")
    return metadata
