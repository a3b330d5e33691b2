"""The results folder of ``zoo eval|identify|seeds``: checked before the long run, created only to write into.

A run that fails (bad manifests, no model evaluable, an interrupt) must leave no empty folder
behind, yet a folder that can never be written must fail before minutes of fingerprinting.
"""

from __future__ import annotations

import os
from pathlib import Path

from seedprints.errors import OutputPathError
from seedprints.output_paths import check_output_path


def check_out_dir(path: str | Path) -> Path:
    """Fail fast, creating nothing, when ``path`` is not and cannot become a writable folder of results."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise OutputPathError(f"output {path} exists and is not a folder; give the name of a folder for the results")
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputPathError(f"output folder {path} is not writable; choose another --out")
        check_output_path(path / "results.json")
        return path
    ancestor = next(p for p in path.absolute().parents if p.exists() or p.is_symlink())
    if not ancestor.is_dir():
        raise OutputPathError(f"cannot create output folder {path}: {ancestor} is not a folder; choose another --out")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot create output folder {path}: {ancestor} is not writable; choose another --out")
    return path


def make_out_dir(path: str | Path) -> Path:
    """Create the results folder (and missing parents) once there is something to write into it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"cannot create output folder {path}: {exc.strerror}; choose a writable location") from exc
    return path
