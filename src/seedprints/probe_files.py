"""Probes a user brings: a JSON file of token-id sequences or of texts, or a .txt file of one text per line.

The file's SHA-256 goes into its :class:`~seedprints.probes.ProbeSpec`, so a fingerprint made from it names exactly
these probes, and comparing needs the same file again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from seedprints.errors import UsageError
from seedprints.inputs import load_json, special_file
from seedprints.probes import MIN_PROBES, Probes, ProbeSpec

__all__ = ["MAX_PROBE_FILE_BYTES", "load_probe_file"]

MAX_PROBE_FILE_BYTES = 1 << 30  # 1 GiB of probes is far beyond what a fingerprint needs


def load_probe_file(path: str | Path) -> Probes:
    """Load user probes: JSON ``{"token_ids": [[...], ...]}`` or ``{"texts": [...]}``, or a .txt file (one text per line).

    Raises UsageError naming the file when it is missing, malformed, or has too few probes.
    """
    path = Path(path)
    if special_file(path):
        raise UsageError(f"probe file {path} is not a regular file (a pipe or device); give a JSON or .txt file")
    try:
        if path.stat().st_size > MAX_PROBE_FILE_BYTES:
            raise UsageError(f"probe file {path} is larger than {MAX_PROBE_FILE_BYTES >> 20} MiB; use fewer or shorter probes")
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read probe file {path}: {exc.strerror}; check the path") from exc
    digest = hashlib.sha256(raw).hexdigest()
    if path.suffix == ".txt":
        texts = [line for line in raw.decode("utf-8", errors="replace").splitlines() if line.strip()]
        return _text_probes(path, texts, digest)
    try:
        payload: Any = load_json(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"probe file {path} is not valid JSON ({exc}); expected {{\"token_ids\": [[...]]}} or "
                         "{\"texts\": [...]}") from exc
    if isinstance(payload, dict) and "texts" in payload and "token_ids" in payload:
        raise UsageError(f"probe file {path} has both 'token_ids' and 'texts'; keep the one you mean")
    if isinstance(payload, dict) and "texts" in payload:
        texts = payload["texts"]
        if not isinstance(texts, list) or not all(isinstance(t, str) and t for t in texts):
            raise UsageError(f"probe file {path}: 'texts' must be a list of non-empty strings")
        return _text_probes(path, texts, digest)
    if isinstance(payload, dict) and "token_ids" in payload:
        rows = payload["token_ids"]
        ok = isinstance(rows, list) and all(
            isinstance(r, list) and r and all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t < 2**31 for t in r)
            for r in rows
        )
        if not ok:
            raise UsageError(f"probe file {path}: 'token_ids' must be a list of non-empty lists of token ids "
                             "(integers from 0 below the model's vocabulary)")
        sequences = [np.asarray(r, dtype=np.int64) for r in rows]
        _check_count(path, len(sequences))
        spec = ProbeSpec(kind="token-file", n=len(sequences), length=max(len(s) for s in sequences),
                         seed=0, source_sha256=digest)
        return Probes(spec, sequences=sequences)
    raise UsageError(f"probe file {path} needs a 'token_ids' or a 'texts' key")


def _check_count(path: Path, count: int) -> None:
    if count < MIN_PROBES:
        raise UsageError(f"probe file {path} has {count} probes; use at least {MIN_PROBES}")


def _text_probes(path: Path, texts: list[str], digest: str) -> Probes:
    _check_count(path, len(texts))
    spec = ProbeSpec(kind="text-file", n=len(texts), length=max(len(t) for t in texts), seed=0, source_sha256=digest)
    return Probes(spec, texts=texts)
