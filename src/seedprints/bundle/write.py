"""Write evidence bundles: embed the fingerprints a result was computed from, record the tests, seal (and sign)
the whole, and check that it verifies before it is written."""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import shlex
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from seedprints import fingerprint as _fpfile
from seedprints import machine as _machine
from seedprints import output_paths, signing
from seedprints.bundle.layout import (
    BUNDLE_FORMAT, ENCODINGS, KINDS, SEAL_ALGORITHM, BundleError, Comparison, EmbeddedFingerprint, canonical_json,
    environment, parse_embedded,
)
from seedprints.bundle.verify import check_bundle
from seedprints.encoding import RankedFingerprint, encode
from seedprints.fingerprint import Fingerprint
from seedprints.inputs import short_repr
from seedprints.progress import progress_bar

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

_OUTPUT_OPTIONS = {"--bundle": 1, "--report": 1, "--sign": 1, "--force": 0}  # option -> the values it takes
_MODEL_FILE_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".json", ".model", ".txt", ".tiktoken", ".py"}


def embed(item: Fingerprint | RankedFingerprint, *, source: str | None = None, model_dir: str | Path | None = None,
          progress: bool = False) -> EmbeddedFingerprint:
    """Embed an in-memory fingerprint (as the bytes ``save`` writes) or a ranked one (its compact encoding).

    ``model_dir``, when the fingerprint was made from a model directory, adds its files' checksums.
    """
    files = model_file_checksums(model_dir, progress=progress) if model_dir is not None else None
    if isinstance(item, Fingerprint):
        return EmbeddedFingerprint("fingerprint", _fpfile.to_bytes(item), source, files)
    return EmbeddedFingerprint("ranks", encode(item), source, files)


def embed_file(path: str | Path, used: Fingerprint | None = None) -> EmbeddedFingerprint:
    """Embed a fingerprint file's exact bytes; with ``used``, refuse if the file no longer holds that fingerprint."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read {path} to embed it in the bundle: {exc.strerror}") from exc
    parsed = _fpfile.from_bytes(data, source=str(path))
    if used is not None and not (_same(parsed.hidden, used.hidden) and _same(parsed.logits, used.logits)):
        raise BundleError(f"{path} changed while it was being compared; run the comparison again")
    return EmbeddedFingerprint("fingerprint", data, str(path))


def embed_source(source: str | Path, fp: Fingerprint, *, whole_file: bool = True, progress: bool = False) -> EmbeddedFingerprint:
    """Embed what a command-line argument named: a fingerprint file's exact bytes (or, when ``whole_file`` is
    False, the rows of it that were used), or a model directory's fingerprint with its files' checksums."""
    from seedprints.pipeline import is_fingerprint_file  # pipeline imports scipy: only where a side is given by path

    if not is_fingerprint_file(source):
        return embed(fp, source=str(source), model_dir=source, progress=progress)
    return embed_file(source, fp) if whole_file else embed(fp, source=f"{source} (first {fp.n} probes)")


def model_file_checksums(model_dir: str | Path, *, progress: bool = False) -> dict[str, str]:
    """SHA-256 of every weight, config, tokenizer and code file under a model directory (hidden paths skipped)."""
    root = Path(model_dir)
    files = sorted(
        p for p in root.rglob("*")
        if p.is_file() and p.suffix in _MODEL_FILE_SUFFIXES and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    total = sum(p.stat().st_size for p in files)
    out: dict[str, str] = {}
    with progress_bar(progress, total, "hashing model files", unit="bytes") as advance:
        for p in files:
            digest = hashlib.sha256()
            with p.open("rb") as handle:
                while chunk := handle.read(1 << 24):
                    digest.update(chunk)
                    advance(len(chunk))
            out[p.relative_to(root).as_posix()] = digest.hexdigest()
    return out


def write_bundle(
    path: str | Path,
    *,
    fingerprints: Mapping[str, EmbeddedFingerprint],
    tests: Sequence[Comparison],
    command: str,
    kind: str = "compare",
    identification: Mapping[str, Any] | None = None,
    signer: Ed25519PrivateKey | None = None,
) -> Path:
    """Write a sealed evidence bundle atomically, after checking that it verifies.

    Parameters
    ----------
    path : str or Path
        The JSON file to write.
    fingerprints : mapping of str to EmbeddedFingerprint
        The fingerprints by the names the tests use (e.g. ``"reference"``, ``"suspect"``).
    tests : sequence of Comparison
        The results to record; each names its reference and suspect in ``fingerprints``.
    command : str
        The command line that reproduced the results from the original inputs; it is recorded as
        :func:`rerunnable` makes it, without the outputs it wrote.
    kind : {"compare", "identify"}
        What produced the bundle.
    identification : mapping, optional
        For ``kind="identify"`` (required there): the scan's family, as in the module's layout.
    signer : Ed25519PrivateKey, optional
        Sign the bundle with this key (:func:`seedprints.signing.load_private_key`).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    BundleError
        A test names an unknown fingerprint, or the bundle would not verify.
    OutputPathError
        ``path`` cannot be written.
    """
    path = output_paths.check_output_path(path)
    if kind not in KINDS:
        raise BundleError(f"unknown bundle kind {kind!r}; use one of {', '.join(KINDS)}")
    body: dict[str, Any] = {
        "bundle_format": BUNDLE_FORMAT,
        "kind": kind,
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": rerunnable(command),
        "environment": environment(),
        "machine": _machine.describe(),
        "fingerprints": {name: _describe(name, item) for name, item in fingerprints.items()},
        "tests": [_test_record(t, fingerprints) for t in tests],
    }
    if identification is not None:
        body["identification"] = dict(identification)
    text = canonical_json(body)  # what the seal hashes and the signature signs
    bundle = {**body, "seal": {"algorithm": SEAL_ALGORITHM, "digest": hashlib.sha256(text).hexdigest()}}
    if signer is not None:
        bundle["signature"] = signing.sign(text, signer)
    with warnings.catch_warnings():  # the run being recorded has already shown its warnings
        warnings.simplefilter("ignore")
        check_bundle(bundle, str(path))
    return output_paths.write_atomic(path, (json.dumps(bundle, indent=1, sort_keys=True, allow_nan=False) + "\n").encode())


def rerunnable(command: str) -> str:
    """``command`` without the outputs it wrote (``--bundle``, ``--report``, ``--force``, ``--sign``), so that it
    reruns beside them, from the folder the original ran in, and prints the result instead of refusing to overwrite.

    Example: ``rerunnable("seedprints compare a b --bundle ev.json --force")`` is ``"seedprints compare a b"``.
    """
    try:
        words, kept, skip = shlex.split(command), [], 0
    except ValueError as exc:  # an unclosed quote
        raise BundleError(f"the command to record, {short_repr(command)}, is not a shell command line ({exc})") from exc
    for word in words:
        if skip:
            skip -= 1
        elif word in _OUTPUT_OPTIONS:
            skip = _OUTPUT_OPTIONS[word]
        else:
            kept.append(word)
    return shlex.join(kept)


def _describe(name: str, item: EmbeddedFingerprint) -> dict[str, Any]:
    """The bundle's record of one embedded fingerprint (its facts are re-read from the data on verify)."""
    if item.encoding not in ENCODINGS:
        raise BundleError(f"fingerprint {name!r} has unknown encoding {item.encoding!r}; use one of {', '.join(ENCODINGS)}")
    parsed = parse_embedded(item.encoding, item.data, item.source or name)
    return {
        "encoding": item.encoding, "sha256": hashlib.sha256(item.data).hexdigest(), "size": len(item.data),
        "data_base64": base64.b64encode(item.data).decode("ascii"), "source": item.source, "model_files": item.model_files,
        "probe_hash": parsed.probe_hash, "probe_spec": parsed.spec.to_json(), "model_id": parsed.model_id,
        "n": parsed.n, "hidden_size": parsed.hidden_size,
    }


def _test_record(test: Comparison, fingerprints: Mapping[str, EmbeddedFingerprint]) -> dict[str, Any]:
    for name in (test.reference, test.suspect):
        if name not in fingerprints:
            raise BundleError(f"a test names fingerprint {name!r}, which the bundle does not embed")
    return {"reference": test.reference, "suspect": test.suspect, "method": test.result.method,
            "alpha": float(test.result.alpha), "settings": dict(test.settings), "result": test.result.to_dict()}


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b, equal_nan=True))
