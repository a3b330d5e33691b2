"""The embedded fingerprints of a verified evidence bundle, taken out into a new folder written whole.

``seedprints verify BUNDLE --extract DIR`` writes each embedded fingerprint as the file it was: a
fingerprint file's exact bytes as ``NAME.fp.safetensors``, a registry entry's compact ranks
(:mod:`seedprints.encoding`) as ``NAME.ranks``; and ``extracted.json``, which names the bundle, its seal
and, per fingerprint, its name in the bundle, file, encoding, SHA-256, size and source. Nothing is written unless the
bundle verifies, and the folder is built beside ``DIR`` and renamed into place.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from seedprints import tempfiles
from seedprints.bundle.layout import EmbeddedFingerprint
from seedprints.bundle.verify import VerifyResult, verified_contents
from seedprints.errors import OutputPathError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MANIFEST = "extracted.json"
SUFFIXES = {"fingerprint": ".fp.safetensors", "ranks": ".ranks"}
_MAX_STEM = 100  # file names stay well below the 255 bytes file systems allow


@dataclasses.dataclass(frozen=True)
class ExtractedFile:
    """One fingerprint written out: the bundle's name for it, where it went, and what it holds."""

    name: str
    path: str
    encoding: str
    sha256: str
    size: int
    source: str | None


@dataclasses.dataclass(frozen=True)
class Extraction:
    """The folder written, its manifest, and each file in it (in the bundle's order)."""

    dir: str
    manifest: str
    files: list[ExtractedFile]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: what ``verify --extract --json`` adds under ``extracted``."""
        return dataclasses.asdict(self)


def extract(bundle: str | Path, out_dir: str | Path, *, force: bool = False,
            public_key: Ed25519PublicKey | None = None) -> tuple[VerifyResult, Extraction]:
    """Verify ``bundle`` (as :func:`seedprints.bundle.verify.verify_bundle`), then write its fingerprints into ``out_dir``.

    Parameters
    ----------
    bundle : str or Path
        The evidence bundle.
    out_dir : str or Path
        A folder that does not exist, is empty, or (with ``force``) holds a previous extraction.
    force : bool
        Replace a previous extraction in ``out_dir`` (never anything else).
    public_key : Ed25519PublicKey, optional
        Accept the bundle only if this key signed it.

    Returns
    -------
    tuple of VerifyResult and Extraction
        What verification confirmed, and what was written.

    Raises
    ------
    BundleError
        The bundle does not verify; nothing is written.
    OutputPathError
        ``out_dir`` cannot be written or holds something other than a previous extraction.

    Example: ``extract("evidence.json", "fingerprints")`` writes ``fingerprints/reference.fp.safetensors``,
    ``fingerprints/suspect.fp.safetensors`` and ``fingerprints/extracted.json``.
    """
    out_dir = check_extract_dir(out_dir, force=force)
    result, embedded = verified_contents(bundle, public_key)
    names = file_names(embedded)
    written = [ExtractedFile(name, str(out_dir / names[name]), item.encoding, result.fingerprints[name], len(item.data),
                             item.source) for name, item in embedded.items()]
    manifest = {"bundle": str(bundle), "seal": result.digest,
                "fingerprints": [{**dataclasses.asdict(f), "path": names[f.name]} for f in written]}
    files = {names[name]: item.data for name, item in embedded.items()}
    files[MANIFEST] = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    _write_folder(out_dir, files, force)
    return result, Extraction(str(out_dir), str(out_dir / MANIFEST), written)


def file_names(embedded: Mapping[str, EmbeddedFingerprint]) -> dict[str, str]:
    """A distinct, portable file name per embedded fingerprint: its name with other characters as ``_``, and its suffix."""
    taken, out = {MANIFEST}, {}
    for name, item in embedded.items():
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:_MAX_STEM] or "fingerprint"
        candidate, count = stem + SUFFIXES[item.encoding], 1
        while candidate.lower() in taken:  # case-insensitive file systems would merge two names
            count += 1
            candidate = f"{stem}-{count}{SUFFIXES[item.encoding]}"
        taken.add(candidate.lower())
        out[name] = candidate
    return out


def check_extract_dir(path: str | Path, *, force: bool = False) -> Path:
    """Fail fast, before reading the bundle, if ``path`` is a file, a non-empty folder (without ``force``), a folder
    that is not a previous extraction (``force`` never deletes anything else), or under a missing parent folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"extract folder {path} is a file; give the name of a new folder")
    if path.is_dir() and any(path.iterdir()):
        if not force:
            raise OutputPathError(f"extract folder {path} is not empty; choose a new folder, or pass --force to replace "
                                  "a previous extraction")
        if not _previous_extraction(path):
            raise OutputPathError(f"extract folder {path} holds something other than a previous extraction (no {MANIFEST}, "
                                  "or files it does not list); --force only replaces one, so choose a new folder")
    if not path.parent.is_dir():
        raise OutputPathError(f"cannot extract into {path}: folder {path.parent} does not exist; create it first")
    return path


def _previous_extraction(path: Path) -> bool:
    """Whether ``path`` holds only an extraction's manifest and regular files that the manifest lists."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        listed = {entry["path"] for entry in manifest["fingerprints"]} | {MANIFEST}
    except (OSError, ValueError, KeyError, TypeError):  # no manifest, or not ours
        return False
    return all(p.name in listed and p.is_file() and not p.is_symlink() for p in path.iterdir())


def _write_folder(out_dir: Path, files: dict[str, bytes], force: bool) -> None:
    """Write ``files`` into a temporary folder beside ``out_dir`` and rename it into place; on any failure remove it."""
    try:
        tmp = tempfiles.temp_dir(out_dir)
    except OSError as exc:
        raise OutputPathError(f"cannot extract into {out_dir}: {exc.strerror}; choose a writable location") from exc
    try:
        for name, data in files.items():
            with tempfiles.replacing(tmp / name) as handle:  # fsynced, with the usual mode
                handle.write(data)
        os.chmod(tmp, 0o777 & ~tempfiles.umask())  # mkdtemp makes 0700
        check_extract_dir(out_dir, force=force)  # again: the folder may have changed while the bundle was verified
        _move_into_place(tmp, out_dir)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, OutputPathError):
            raise OutputPathError(f"cannot extract into {out_dir}: {exc.strerror}; choose a writable location") from exc
        raise


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename ``tmp`` to ``out_dir``; a previous extraction there is moved aside first and removed only after."""
    aside = None
    if out_dir.is_dir() and any(out_dir.iterdir()):
        aside = tempfiles.temp_dir(out_dir)
        os.replace(out_dir, aside)  # onto the new empty folder
    try:
        os.replace(tmp, out_dir)  # onto an empty folder, or none
    except OSError:
        if aside is not None:
            os.replace(aside, out_dir)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)

