"""What an evidence bundle holds (:mod:`seedprints.bundle` shows its layout): the format's constants and types, the
seal over its canonical JSON, and the facts of the run that writes or verifies one."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
from importlib import metadata as _metadata
from typing import Any, Mapping

from seedprints import __version__
from seedprints import fingerprint as _fpfile
from seedprints.encoding import RankedFingerprint, decode
from seedprints.errors import SeedprintsError
from seedprints.fingerprint import Fingerprint
from seedprints.stats.result import LineageResult

BUNDLE_FORMAT = "1"
KINDS = ("compare", "identify")
ENCODINGS = ("fingerprint", "ranks")  # fingerprint file bytes, or seedprints.encoding's compact ranks
SEAL_ALGORITHM = "sha256 of canonical JSON"
REL_TOLERANCE = 1e-9  # another CPU or BLAS build moves the last digits (~1e-15); an edited result moves far more
ABS_TOLERANCE = 1e-12  # the same near 0, where a relative difference means nothing
MAX_BUNDLE_BYTES = 1 << 32  # 4 GiB: a bundle embeds a few fingerprints, not a model
LIBRARIES = ("numpy", "scipy", "torch", "transformers")


class BundleError(SeedprintsError, ValueError):
    """A bundle is unreadable, edited after sealing, or its numbers do not recompute."""


@dataclasses.dataclass(frozen=True)
class EmbeddedFingerprint:
    """One fingerprint as a bundle stores it.

    Attributes
    ----------
    encoding : {"fingerprint", "ranks"}
        ``data`` is a fingerprint file's bytes, or :func:`seedprints.encoding.encode` bytes.
    data : bytes
        The embedded bytes; their SHA-256 is recorded beside them.
    source : str or None
        Where they came from (a path, a model directory, a registry entry name).
    model_files : dict of str to str or None
        SHA-256 of each weight, config and tokenizer file when the source was a model directory.
    """

    encoding: str
    data: bytes
    source: str | None = None
    model_files: dict[str, str] | None = None


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One test a bundle records: which embedded fingerprints, the result, and the settings that rerun it.

    ``settings`` are the keyword arguments given to :func:`seedprints.compare` besides ``method`` and
    ``alpha`` (e.g. ``budget``, ``buffer_k``), or to
    :func:`seedprints.stats.lineage.lineage_test_ranked` when a side is embedded as ranks.
    """

    reference: str
    suspect: str
    result: LineageResult
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)


def seal(body: Mapping[str, Any]) -> str:
    """SHA-256 of the bundle's :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(body)).hexdigest()


def canonical_json(body: Mapping[str, Any]) -> bytes:
    """What the seal and the signature cover: the bundle without them, as JSON with sorted keys, no spaces, ASCII."""
    text = json.dumps({k: v for k, v in body.items() if k not in ("seal", "signature")}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.encode()


def environment() -> dict[str, str]:
    """Versions of Python, seedprints and the numeric libraries (read from package metadata: nothing is imported)."""
    versions = {"seedprints": __version__, "python": platform.python_version(), "platform": platform.platform()}
    for name in LIBRARIES:
        try:
            versions[name] = _metadata.version(name)
        except _metadata.PackageNotFoundError:
            versions[name] = ""
    return versions


def parse_embedded(encoding: str, data: bytes, source: str) -> Fingerprint | RankedFingerprint:
    """Parse embedded bytes with the fingerprint reader or the rank decoder (both check every size first)."""
    if encoding == "fingerprint":
        return _fpfile.from_bytes(data, source=source)
    return decode(data, source=source)
