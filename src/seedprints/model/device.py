"""Which torch device a run uses, checked against the devices this machine has."""

from __future__ import annotations

import torch

from seedprints.errors import UsageError
from seedprints.naming import setting


def resolve_device(device: str | torch.device) -> str | torch.device:
    """``"auto"`` as the fastest device here (cuda, then mps, then cpu); any other device as given."""
    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def parse_device(device: str | torch.device) -> torch.device:
    """A torch device from its name (``auto``: :func:`resolve_device`), or one clear error naming the devices here."""
    try:
        torch_device = torch.device(resolve_device(device))
    except (RuntimeError, TypeError) as exc:
        raise UsageError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from exc
    if torch_device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device {device!r} requested but CUDA is not available here; use {setting('device', 'cpu')}")
        if torch_device.index is not None and torch_device.index >= torch.cuda.device_count():
            raise UsageError(
                f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist; "
                f"use cuda:0..cuda:{torch.cuda.device_count() - 1}"
            )
    elif torch_device.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise UsageError(f"device {device!r} requested but MPS is not available here; use {setting('device', 'cpu')}")
    return torch_device
