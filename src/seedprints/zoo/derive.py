"""Weight edits that derive one causal language model from another, for a zoo of known lineage, by name.

The edits live in :mod:`~seedprints.zoo.perturb`, :mod:`~seedprints.zoo.permute`,
:mod:`~seedprints.zoo.padding` and :mod:`~seedprints.zoo.merge`; this module is where the zoo and its callers take them from: it
names them (:data:`TRANSFORMS`), checks their parameters and records them for the manifest
(:func:`describe`).

Every edit takes an in-memory :mod:`transformers` causal LM and returns a **new** model
(a deep copy); the input is never modified. Functions that draw random numbers take a ``seed``
and are deterministic given it: random numbers are drawn on the CPU from a
:class:`torch.Generator`, so the result does not depend on the device the model lives on.

Edits
-----
``"int8"``, ``"int4"`` (:func:`quantize_roundtrip`)
    Symmetric round-to-nearest weight quantisation and dequantisation, one scale per output
    channel (or per group of input columns), of every linear layer inside the transformer.
``"prune"`` (:func:`magnitude_prune`)
    Zero the smallest-magnitude fraction of each linear weight matrix.
``"noise"`` (:func:`add_weight_noise`)
    Gaussian noise scaled to each parameter tensor's own standard deviation.
``"permute"`` (:func:`permute_hidden`)
    Function-preserving re-labelling of the residual-stream (hidden) dimensions: the logits are
    unchanged, but every hidden dimension moves. This is the SeedPrints blind spot.
``"permute-mlp"`` (:func:`permute_mlp`)
    Function-preserving re-labelling of the intermediate (MLP) neurons of every layer.
``"zero-padding"`` (:func:`zero_padding`), ``"refresh-padding"`` (:func:`refresh_padding`)
    The embedding and LM-head rows past the tokenizer (from ``first_row``, the tokenizer's length)
    set to zero, as some exports do, or drawn afresh from the init distribution, as resizing the
    embeddings does. The logits of real tokens are unchanged.

Merges (:func:`average_models`) take several models, so they are not in :data:`TRANSFORMS`;
:func:`describe` still documents them under the name ``"merge"``.

Which tensors are edited
------------------------
Quantisation and pruning touch the weight matrices of :class:`torch.nn.Linear` and GPT-2's
:class:`transformers.pytorch_utils.Conv1D` layers, **excluding the output embedding**
(``lm_head``), and never touch embeddings, norms or biases. This matches what real
quantisers and pruners ship (bitsandbytes ``load_in_8bit`` skips the output embedding, GPTQ and
AWQ quantise only the linear layers of the blocks, SparseGPT and Wanda prune only those), and
the fingerprint reads the final hidden state, which the LM head does not affect.
Noise is added to every floating-point parameter (embeddings and norms included): it models
generic weight perturbation rather than a specific tool.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn

from seedprints.errors import ZooConfigError
from seedprints.zoo.edit_checks import (
    WEIGHT_SUM_TOL,
    check_first_row,
    check_fraction,
    check_group_size,
    check_relative_std,
    check_seed,
    is_real,
)
from seedprints.zoo.merge import average_models
from seedprints.zoo.padding import refresh_padding, zero_padding
from seedprints.zoo.permute import hidden_permutation, permute_hidden, permute_mlp
from seedprints.zoo.perturb import add_weight_noise, magnitude_prune, quantize_roundtrip

__all__ = [
    "TRANSFORMS",
    "add_weight_noise",
    "average_models",
    "describe",
    "get_transform",
    "hidden_permutation",
    "magnitude_prune",
    "permute_hidden",
    "permute_mlp",
    "quantize_roundtrip",
    "refresh_padding",
    "with_first_row",
    "zero_padding",
]


def _int8(model: nn.Module, *, seed: int, **params: Any) -> nn.Module:
    """Registry entry ``"int8"``: :func:`quantize_roundtrip` with ``bits=8`` (``seed`` unused)."""
    check_seed("int8", seed)
    return quantize_roundtrip(model, 8, **_resolve("int8", params))


def _int4(model: nn.Module, *, seed: int, **params: Any) -> nn.Module:
    """Registry entry ``"int4"``: :func:`quantize_roundtrip` with ``bits=4`` (``seed`` unused)."""
    check_seed("int4", seed)
    return quantize_roundtrip(model, 4, **_resolve("int4", params))


def _prune(model: nn.Module, *, seed: int, **params: Any) -> nn.Module:
    """Registry entry ``"prune"``: :func:`magnitude_prune` (``seed`` unused)."""
    check_seed("prune", seed)
    return magnitude_prune(model, **_resolve("prune", params))


def _noise(model: nn.Module, *, seed: int, **params: Any) -> nn.Module:
    """Registry entry ``"noise"``: :func:`add_weight_noise`."""
    return add_weight_noise(model, **_resolve("noise", params), seed=seed)


def _permute(model: nn.Module, *, seed: int, **params: Any) -> nn.Module:
    """Registry entry ``"permute"``: :func:`permute_hidden`."""
    _resolve("permute", params)
    return permute_hidden(model, seed=seed)


def _permute_mlp(model: nn.Module, *, seed: int, **params: Any) -> nn.Module:
    """Registry entry ``"permute-mlp"``: :func:`permute_mlp`."""
    _resolve("permute-mlp", params)
    return permute_mlp(model, seed=seed)


def _zero_padding(model: nn.Module, *, seed: int, **params: Any) -> nn.Module:
    """Registry entry ``"zero-padding"``: :func:`zero_padding` (``seed`` unused)."""
    check_seed("zero-padding", seed)
    return zero_padding(model, **_resolve("zero-padding", params))


def _refresh_padding(model: nn.Module, *, seed: int, **params: Any) -> nn.Module:
    """Registry entry ``"refresh-padding"``: :func:`refresh_padding`."""
    return refresh_padding(model, **_resolve("refresh-padding", params), seed=seed)


# name -> (defaults, validators, summary, function_preserving, uses_seed)
_SPECS: dict[str, tuple[dict[str, Any], dict[str, Callable[[str, Any], Any]], str, bool, bool]] = {
    "int8": (
        {"group_size": None},
        {"group_size": check_group_size},
        "symmetric round-to-nearest int8 quantise/dequantise of every linear weight "
        "(one scale per output channel or per group; lm_head, embeddings, norms untouched)",
        False,
        False,
    ),
    "int4": (
        {"group_size": None},
        {"group_size": check_group_size},
        "symmetric round-to-nearest int4 quantise/dequantise of every linear weight "
        "(one scale per output channel or per group; lm_head, embeddings, norms untouched)",
        False,
        False,
    ),
    "prune": (
        {"fraction": 0.5},
        {"fraction": check_fraction},
        "unstructured magnitude pruning: zero the smallest-|w| fraction of each linear weight "
        "matrix (lm_head, embeddings, norms untouched)",
        False,
        False,
    ),
    "noise": (
        {"relative_std": 0.01},
        {"relative_std": check_relative_std},
        "Gaussian noise with std = relative_std * std of each parameter tensor",
        False,
        True,
    ),
    "permute": (
        {},
        {},
        "function-preserving permutation of the residual-stream (hidden) dimensions",
        True,
        True,
    ),
    "permute-mlp": (
        {},
        {},
        "function-preserving permutation of the MLP intermediate neurons of every layer",
        True,
        True,
    ),
    "zero-padding": (
        {"first_row": None},
        {"first_row": check_first_row},
        "embedding and lm_head rows from first_row (the tokenizer's length) on set to zero; "
        "logits of real tokens unchanged",
        False,
        False,
    ),
    "refresh-padding": (
        {"first_row": None},
        {"first_row": check_first_row},
        "embedding and lm_head rows from first_row (the tokenizer's length) on drawn afresh from "
        "N(0, initializer_range^2); logits of real tokens unchanged",
        False,
        True,
    ),
}

TRANSFORMS: dict[str, Callable[..., nn.Module]] = {
    "int8": _int8,
    "int4": _int4,
    "prune": _prune,
    "noise": _noise,
    "permute": _permute,
    "permute-mlp": _permute_mlp,
    "zero-padding": _zero_padding,
    "refresh-padding": _refresh_padding,
}
"""Single-model edits by name; each is called as ``fn(model, *, seed=..., **params)``.

Parameters and defaults: ``int8``/``int4``: ``group_size=None``; ``prune``: ``fraction=0.5``;
``noise``: ``relative_std=0.01``; ``permute``, ``permute-mlp``: none; ``zero-padding``,
``refresh-padding``: ``first_row`` (required; :func:`with_first_row` fills it in). ``seed`` is
required by all and used by ``noise``, ``permute``, ``permute-mlp`` and ``refresh-padding``. Look names up with :func:`get_transform`
to get a :class:`~seedprints.errors.ZooConfigError` rather than a ``KeyError``.
"""


def _resolve(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults in and validate ``params`` of transform ``name`` (raises ZooConfigError)."""
    defaults, validators = _SPECS[name][0], _SPECS[name][1]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        allowed = ", ".join(defaults) or "none"
        raise ZooConfigError(
            f"transform {name!r}: unknown parameter {unknown[0]!r}; allowed parameters: {allowed}"
        )
    resolved = {**defaults, **params}
    return {key: validators[key](name, value) for key, value in resolved.items()}


def with_first_row(name: str, params: Mapping[str, Any], first_row: int) -> dict[str, Any]:
    """``params`` of edit ``name`` with ``first_row`` (the tokenizer's length) filled in where the edit takes one."""
    takes = name in _SPECS and "first_row" in _SPECS[name][0]
    return {"first_row": first_row, **params} if takes else dict(params)


_MERGE = "merge"


def _unknown(name: Any, known: Sequence[str]) -> ZooConfigError:
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ZooConfigError(f"unknown transform {name!r}.{hint} Available: {', '.join(known)}")


def get_transform(name: str) -> Callable[..., nn.Module]:
    """The function registered in :data:`TRANSFORMS` under ``name``.

    Raises
    ------
    ZooConfigError
        ``name`` is not a registered transform (the message lists the available names).

    Example:
        >>> get_transform("int8").__name__
        '_int8'
    """
    fn = TRANSFORMS.get(name) if isinstance(name, str) else None
    if fn is None:
        raise _unknown(name, list(TRANSFORMS))
    return fn


def describe(name: str, params: Mapping[str, Any] | None = None, *, seed: int | None = None) -> dict:
    """A JSON-ready record of one edit, for the zoo manifest; validates ``params``.

    Parameters
    ----------
    name : str
        A key of :data:`TRANSFORMS`, or ``"merge"`` for :func:`average_models`
        (params: ``{"weights": [...]}``).
    params : mapping, optional
        Parameters as they would be passed to the transform; defaults are filled in.
    seed : int, optional
        Recorded when given.

    Returns
    -------
    dict
        ``{"transform": name, "params": {...all parameters, defaults filled...},
        "function_preserving": bool, "uses_seed": bool, "summary": str}`` plus ``"seed"`` when
        given. Only plain JSON types.

    Raises
    ------
    ZooConfigError
        Unknown transform, unknown parameter, or impossible value (naming the transform, the value
        and the allowed range).

    Example:
        >>> describe("prune", {"fraction": 0.25})["params"]
        {'fraction': 0.25}
    """
    params = dict(params or {})
    if name == _MERGE:
        unknown = sorted(set(params) - {"weights"})
        if unknown or "weights" not in params:
            raise ZooConfigError(
                f"transform 'merge': parameters {sorted(params)} are not allowed; "
                "pass exactly {'weights': [w1, w2, ...]}"
            )
        weights = params["weights"]
        ok = isinstance(weights, Sequence) and not isinstance(weights, str) and len(weights) > 0
        ok = ok and all(is_real(w) and math.isfinite(float(w)) for w in weights)
        if not ok or abs(math.fsum(float(w) for w in weights) - 1.0) > WEIGHT_SUM_TOL:
            raise ZooConfigError(
                f"transform 'merge': weights={weights!r} must be finite numbers summing to 1"
            )
        record: dict[str, Any] = {
            "transform": _MERGE,
            "params": {"weights": [float(w) for w in weights]},
            "function_preserving": False,
            "uses_seed": False,
            "summary": "linear weight average of models of one architecture",
        }
    else:
        spec = _SPECS.get(name) if isinstance(name, str) else None
        if spec is None:
            raise _unknown(name, [*TRANSFORMS, _MERGE])
        _, _, summary, preserving, uses_seed = spec
        resolved = _resolve(name, params)
        record = {
            "transform": name,
            "params": resolved,
            "function_preserving": preserving,
            "uses_seed": uses_seed,
            "summary": summary,
        }
    if seed is not None:
        record["seed"] = check_seed(name, seed)
    return record
