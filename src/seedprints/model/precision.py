"""The compute dtype that ``--dtype auto`` picks, and why.

Half-precision checkpoints run in bfloat16 where the device computes it natively (GPUs from compute capability
8.0, CPUs with AVX512-BF16, AMX or Arm's BF16 extension): float16 overflows on long random sequences, and bfloat16
halves the memory. A CPU without native bfloat16 emulates it and runs 2.5-3x slower than float32 (measured on a
real 0.5B model, see docs/real-models.md), and older GPUs emulate it too, so there ``auto`` computes in float32
when the float32 weights fit in half the memory available, and in bfloat16 otherwise. Everything else computes in
float32.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path

import torch

from seedprints.model.config import checkpoint_dtype

EXPLICIT = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
HALF = (torch.float16, torch.bfloat16)
# float32 weights may take at most this share of the memory available now: the rest is for the forward pass
# (activations of a batch), the tokenizer and whatever else the machine runs
FLOAT32_MEMORY_SHARE = 0.5
_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


@dataclasses.dataclass(frozen=True)
class DtypeChoice:
    """The dtype of the forward pass and a few words on why (recorded in the fingerprint as ``dtype_reason``)."""

    dtype: torch.dtype
    reason: str


def choose_dtype(
    requested: str, stored: str | torch.dtype | None, *, device: torch.device | None, float32_bytes: int | None
) -> DtypeChoice:
    """The compute dtype for ``requested`` (``"auto"`` or a name in :data:`EXPLICIT`).

    ``stored`` is the checkpoint's dtype (a config string or a parameter dtype; None if unknown, e.g. a GGUF file,
    which transformers dequantises to float); ``device`` is where the forward pass runs (None: spread by a
    device map, which keeps bfloat16); ``float32_bytes`` is the size of the weights in float32 (None if
    unknown, which counts as not fitting).
    """
    if requested != "auto":
        return DtypeChoice(EXPLICIT[requested], "asked for")
    name = str(stored).removeprefix("torch.") if stored is not None else None
    if name not in ("float16", "bfloat16"):
        return DtypeChoice(torch.float32, f"auto: {name or 'unknown'} checkpoint")
    if device is None or device.type not in ("cpu", "cuda"):
        return DtypeChoice(torch.bfloat16, f"auto: {name} checkpoint")
    what = "CPU" if device.type == "cpu" else "GPU"
    if (cpu_has_native_bf16() if device.type == "cpu" else gpu_has_native_bf16(device)):
        return DtypeChoice(torch.bfloat16, f"auto: {name} checkpoint, {what} with native bfloat16")
    available = available_memory_bytes() if device.type == "cpu" else gpu_free_bytes(device)
    if float32_bytes is not None and available is not None and float32_bytes <= FLOAT32_MEMORY_SHARE * available:
        return DtypeChoice(torch.float32, f"auto: {name} checkpoint, {what} without native bfloat16, float32 fits")
    return DtypeChoice(torch.bfloat16, f"auto: {name} checkpoint, {what} without native bfloat16, float32 does not fit")


def gpu_has_native_bf16(device: torch.device) -> bool:
    """True for a CUDA GPU that computes bfloat16 in hardware (compute capability 8.0 on, e.g. A100, H100)."""
    try:
        return torch.cuda.get_device_capability(device)[0] >= 8
    except (RuntimeError, AssertionError, ValueError):  # no such device: loading reports it
        return True


def gpu_free_bytes(device: torch.device) -> int | None:
    """Free memory on a CUDA GPU now; None where torch cannot say."""
    try:
        return int(torch.cuda.mem_get_info(device)[0])
    except (RuntimeError, AssertionError, ValueError):
        return None


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bfloat16 in hardware (torch's view where it has one, else ``/proc/cpuinfo``)."""
    capabilities = getattr(torch.cpu, "get_capabilities", None)
    if capabilities is not None:
        try:
            found = capabilities()
        except Exception:  # a torch build whose probe fails: fall back to the kernel's flags
            found = None
        if isinstance(found, dict) and any(flag in found for flag in _BF16_FLAGS):
            return any(bool(found.get(flag)) for flag in _BF16_FLAGS)
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = {word for line in text.splitlines() if line.lower().startswith(("flags", "features")) for word in line.split()}
    return any(flag in flags for flag in _BF16_FLAGS)


def available_memory_bytes() -> int | None:
    """Memory the machine can give now (Linux ``MemAvailable``, else free pages); None where neither is known."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def stored_dtype(model: object) -> str | None:
    """The dtype a model directory's ``config.json`` gives its weights (None for anything else or when unreadable)."""
    if not isinstance(model, (str, os.PathLike)):
        return None
    try:
        raw = json.loads((Path(model) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    name = checkpoint_dtype(raw) if isinstance(raw, dict) else None
    return name if name in EXPLICIT else None


def float32_size(weight_files: tuple[Path, ...], stored: str | None) -> int | None:
    """Bytes of the weights in float32, from the files' sizes in the stored dtype; None if unknown."""
    per_element = {"float16": 2, "bfloat16": 2, "float32": 4}.get(stored or "")
    if per_element is None or not weight_files:
        return None
    try:
        return sum(f.stat().st_size for f in weight_files) * 4 // per_element
    except OSError:
        return None
