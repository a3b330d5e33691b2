"""Where an output may be written, and writing it whole: checked before any long work, renamed into place after."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from seedprints import tempfiles
from seedprints.errors import OutputPathError
from seedprints.inputs import special_file


def check_output_path(path: str | Path, inputs: Iterable[str | Path] = ()) -> Path:
    """Fail fast, before any expensive work, if ``path`` cannot be written or would overwrite one of ``inputs``.

    Refused: a folder, a FIFO or device (renaming over it would replace it), a path whose folder is
    missing or read-only, the same file as an input (e.g. a bundle written over the suspect), and a
    path inside an input folder (e.g. a fingerprint written into the model directory it was made from).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputPathError(f"output {path} is a directory; give a file name such as {path / 'model.fp.safetensors'}")
    if special_file(path):
        raise OutputPathError(f"output {path} is not a regular file (a pipe or device); give the name of a file")
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {path}: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OutputPathError(f"cannot write {path}: folder {folder} is not writable; choose another location")
    for source in inputs:
        if same_file(path, Path(source)):
            raise OutputPathError(f"output {path} is the input {source} itself; writing it would destroy the input, "
                                  "so choose another name")
        if _inside(path, Path(source)):
            raise OutputPathError(f"output {path} is inside the input folder {source}; writing it could destroy the "
                                  "model's own files, so write it elsewhere")
    return path



def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same resolved path (even before it exists, like a journal SQLite
    will create), or the same existing file through a link."""
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False



def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies in ``folder`` or below it (links resolved)."""
    try:
        return folder.is_dir() and path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False



def write_atomic(path: Path, payload: bytes) -> Path:
    """Write bytes to a temp file beside ``path`` and rename it into place, so no half file is ever seen."""
    check_output_path(path)
    with tempfiles.replacing(path) as handle:
        handle.write(payload)
    return path
