"""Exceptions and warnings raised by seedprints.

Every error carries a one-line message that says what is wrong, which input it is about, and what
to do; the CLI prints exactly that line and exits with status 1.
"""

from __future__ import annotations


class SeedprintsError(Exception):
    """Base class of every error seedprints raises on purpose."""


class UsageError(SeedprintsError, ValueError):
    """An argument has an impossible value (e.g. ``buffer_k`` larger than the hidden size)."""


class FingerprintFormatError(SeedprintsError, ValueError):
    """A fingerprint file is corrupt, truncated, not ours, or from an unknown format version."""


class IncompatibleFingerprintsError(SeedprintsError, ValueError):
    """Two fingerprints cannot be compared: different probe specs, shapes or hidden sizes."""


class InsufficientDataError(SeedprintsError, ValueError):
    """Too few probes (rows) or dimensions remain for the test to mean anything."""


class NonFiniteHiddenStatesError(SeedprintsError, ValueError):
    """A model produced NaN or Inf hidden states (usually fp16 overflow)."""


class ModelLoadError(SeedprintsError, OSError):
    """A model directory is missing, is not a model, or fails to load."""


class HubError(ModelLoadError):
    """A Hugging Face Hub model cannot be had: gated, private, unknown revision, no safetensors, or no connection."""


class HubUnreachableError(HubError):
    """The Hub did not answer (network, server error): unlike the other Hub errors, trying again may help."""


class OutputPathError(SeedprintsError, OSError):
    """An output file or directory cannot be written."""


class ZooConfigError(SeedprintsError, ValueError):
    """A zoo config has unknown keys or impossible values, or a zoo manifest is missing."""


class RegistryError(SeedprintsError, OSError):
    """A registry is missing, not ours, locked, from a newer schema, or lacks the named entry."""


class ArchiveError(RegistryError):
    """A registry archive is corrupt, truncated, foreign, unsafe or from a newer format; nothing was imported."""


class SigningKeyError(SeedprintsError, ValueError):
    """A signing key or public key file is missing, unreadable, or not an Ed25519 key of ours."""


class LowPowerWarning(UserWarning):
    """The test ran but has little power (e.g. very few identity dimensions survived)."""


def compact_message(exc: BaseException, limit: int = 200, *, with_class: bool = False, first_line: bool = False) -> str:
    """An exception's message on one line, ready to sit inside a sentence of ours: runs of whitespace collapsed, a
    final full stop dropped, cut to ``limit`` characters.

    ``with_class`` prefixes the class name (often all that says what went wrong in a library's error);
    ``first_line`` keeps only the first line of a long message, plus the next when the first only announces it
    (ends in ':').
    """
    lines = [" ".join(line.split()) for line in str(exc).splitlines() if line.strip()]
    if first_line and lines:
        lines = lines[:2] if lines[0].endswith(":") and len(lines) > 1 else lines[:1]
    text = " ".join(lines).rstrip(".") or type(exc).__name__
    if with_class and text != type(exc).__name__:
        text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."
