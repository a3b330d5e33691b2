"""What every weight edit shares: parameter checks that fail in one line, a tie-keeping copy, GPT-2's layer type.

A check names the edit, the value given and what is allowed, so a bad zoo config fails before
anything is built; the edits and their registry (:mod:`seedprints.zoo.derive`) use the same checks.
"""

from __future__ import annotations

import copy
import math
import numbers
from typing import Any

from torch import nn

from seedprints.errors import ZooConfigError

__all__ = ["QUANT_BITS", "WEIGHT_SUM_TOL", "check_bits", "check_first_row", "check_fraction", "check_group_size",
           "check_relative_std", "check_seed", "conv1d_type", "copy_model", "is_int", "is_real"]

QUANT_BITS = (4, 8)
WEIGHT_SUM_TOL = 1e-6


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer (``True`` is not one)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (``True`` is not one)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_seed(transform: str, seed: Any) -> int:
    """The seed as an int; ZooConfigError unless it is a non-negative integer."""
    if not is_int(seed) or seed < 0:
        raise ZooConfigError(
            f"transform {transform!r}: seed={seed!r} is not allowed; "
            "pass a non-negative integer seed"
        )
    return int(seed)


def check_bits(transform: str, bits: Any) -> int:
    """The bits as an int; ZooConfigError unless 4 or 8."""
    if not is_int(bits) or bits not in QUANT_BITS:
        raise ZooConfigError(
            f"transform {transform!r}: bits={bits!r} is not supported; allowed values: 4, 8"
        )
    return int(bits)


def check_group_size(transform: str, group_size: Any) -> int | None:
    """The quantisation group size (None: one scale per output channel); ZooConfigError unless positive."""
    if group_size is None:
        return None
    if not is_int(group_size) or group_size < 1:
        raise ZooConfigError(
            f"transform {transform!r}: group_size={group_size!r} is not allowed; "
            "pass a positive integer (e.g. 128) or None for one scale per output channel"
        )
    return int(group_size)


def check_first_row(transform: str, first_row: Any) -> int | None:
    """The first padded row (None: the build fills in the tokenizer's length); ZooConfigError unless a positive integer."""
    if first_row is None:
        return None
    if not is_int(first_row) or first_row < 1:
        raise ZooConfigError(f"transform {transform!r}: first_row={first_row!r} is not allowed; pass the tokenizer's "
                             "length (a positive integer)")
    return int(first_row)


def check_fraction(transform: str, fraction: Any) -> float:
    """The pruned share as a float; ZooConfigError unless in [0, 1)."""
    if not is_real(fraction) or not (0.0 <= float(fraction) < 1.0):
        raise ZooConfigError(
            f"transform {transform!r}: fraction={fraction!r} is outside the allowed range "
            "[0, 1); pass the share of weights to zero, e.g. 0.5"
        )
    return float(fraction)


def check_relative_std(transform: str, relative_std: Any) -> float:
    """The relative noise level as a float; ZooConfigError unless finite and non-negative."""
    if not is_real(relative_std) or not (0.0 <= float(relative_std) < math.inf):
        raise ZooConfigError(
            f"transform {transform!r}: relative_std={relative_std!r} is outside the allowed "
            "range [0, inf); pass a non-negative finite number, e.g. 0.01"
        )
    return float(relative_std)


def copy_model(model: nn.Module) -> nn.Module:
    """A deep copy that keeps tied weights tied (``deepcopy`` memoises shared parameters)."""
    return copy.deepcopy(model)


def conv1d_type() -> type | None:
    """GPT-2's ``Conv1D`` layer class, or None where transformers has none."""
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # pragma: no cover - very old or future transformers
        return None
    return Conv1D
