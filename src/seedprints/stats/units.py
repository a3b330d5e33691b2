"""The units part: a lineage statistic on weights that a relabelling or rotation of the hidden dimensions cannot hide.

A copy whose residual-stream dimensions were relabelled (or rotated, as rotation-based quantizers do) computes the
same function; the hidden part then compares unrelated dimensions. This part reads weights instead of hidden states,
in two steps that use disjoint evidence:

1. **Align** the suspect's hidden dimensions to the reference's on the input embeddings alone: the orthogonal map
   ``R`` (Procrustes) that best carries the reference's embedding rows onto the suspect's, over the token ids both
   tokenizers share. A permutation is an orthogonal map, and so is a rotation.
2. **Test** on the units inside the blocks, each read by its own index: every MLP neuron of every layer (its gate row,
   up row and down column, put in the reference's hidden coordinates through ``R``) and every value channel of every
   attention head (its ``v_proj`` row and ``o_proj`` column). ``T`` is the sum of the cosines between the reference's
   unit ``i`` and the suspect's unit ``i``.

*Why the null holds.* Under H0 the two models were initialised independently. A model's MLP neurons (in each layer)
and its value channels (in each head) are exchangeable: the init draws them i.i.d., and training (gradients, AdamW,
weight decay, quantisation) commutes with relabelling them, whatever the data. So relabelling the suspect's units by
uniform permutations, one per layer and per head, leaves the joint distribution of the two models unchanged. The
alignment reads only the embeddings, which such a relabelling does not touch, so ``R`` is unchanged by it and ``T`` is
distributed like the sum along uniform relabellings of each block: the exact mean and variance are Hoeffding's
(:func:`seedprints.stats.moments.permutation_moments`, summed over the independent blocks), the tail normal. The
alignment may match anything two models trained on the same data share; it cannot move this null, because the null
does not come from the alignment. Assumptions: independent inits, llama-style blocks whose neurons and value
channels are relabelled as wholes (no grouped key/value heads for the value channels), and weights of both models.

*A sketch that fits in a fingerprint file* keeps a prefix of each: the first token rows of the embedding, the first
MLP neurons of each layer and the first heads' value channels (:data:`FILE_SKETCH`). Comparing two sketches of
different sizes reads their common prefix. The null still holds: relabellings that keep the first ``m`` units among
themselves are a subgroup of those above, so they too leave the joint distribution unchanged, and ``T`` on the prefix
is distributed along uniform relabellings of the prefix alone, whose moments the same formula gives.

What it cannot see: a copy whose MLP neurons *and* value channels were relabelled as well (the units it reads by
index); such a copy leaves the hidden states alone, so the hidden part still sees it unless the hidden dimensions
were relabelled too. Long training that moves every unit far from its init weakens it like every other part.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from seedprints.errors import IncompatibleFingerprintsError, UsageError
from seedprints.stats.moments import log10_upper_tail, permutation_moments

__all__ = ["FILE_SKETCH", "SketchSize", "UNITS_ASSUMED", "WeightSketch", "common_prefix", "units_test", "weight_sketch"]

UNITS_ASSUMED = ("independent inits; MLP neurons (per layer) and value channels (per head) exchangeable, as init and "
                 "training treat them alike; alignment read from the input embeddings only")
MIN_EMBEDDING_ROWS = 8


@dataclasses.dataclass(frozen=True)
class SketchSize:
    """How much of a model a :class:`WeightSketch` keeps (None: all of it).

    Attributes
    ----------
    rows_per_dim : int or None
        Embedding rows kept, per hidden dimension: the alignment is a ``d x d`` map, so it needs at least ``d`` rows.
    units : int or None
        MLP neurons kept per layer (the first ones).
    heads : int or None
        Heads whose value channels are kept per layer (the first ones).
    """

    rows_per_dim: int | None = None
    units: int | None = None
    heads: int | None = None


# What ``fingerprint --weight-sketch`` records: twice as many rows as the alignment's d x d map needs at least, and a
# few units per layer (an exact copy's T is the number of units compared, k; the null sd is about sqrt(k / 3d)).
FILE_SKETCH = SketchSize(rows_per_dim=2, units=32, heads=2)


@dataclasses.dataclass(frozen=True)
class WeightSketch:
    """What the units part reads of one model's weights.

    Attributes
    ----------
    embedding : numpy.ndarray
        ``[t, d]`` input-embedding rows of token ids ``0 .. t-1`` (the tokenizer's rows; padded rows are not needed).
    mlp : tuple of numpy.ndarray
        Per layer, ``[n, 3d]``: each MLP neuron's gate row, up row and down column.
    values : tuple of numpy.ndarray
        Per layer, ``[c, 2d]``: each value channel's ``v_proj`` row and ``o_proj`` column (empty with grouped heads).
    head_dim : int
        Channels per head: value channels are exchangeable within a head.
    """

    embedding: np.ndarray
    mlp: tuple[np.ndarray, ...]
    values: tuple[np.ndarray, ...]
    head_dim: int

    def __post_init__(self) -> None:
        if self.embedding.ndim != 2:
            raise UsageError(f"embedding must be [t, d], got shape {self.embedding.shape}")
        d = self.embedding.shape[1]
        for what, blocks, width in (("mlp", self.mlp, 3 * d), ("values", self.values, 2 * d)):
            for block in blocks:
                if block.ndim != 2 or block.shape[1] != width:
                    raise UsageError(f"{what} blocks must be [units, {width}], got shape {block.shape}")
        if self.head_dim < 1 or any(block.shape[0] % self.head_dim for block in self.values):
            raise UsageError(f"head_dim={self.head_dim} does not divide the value channels")

    @property
    def hidden_size(self) -> int:
        return int(self.embedding.shape[1])

    def summary(self) -> dict[str, int]:
        """What the sketch holds, for reports: embedding rows, layers, MLP neurons and value channels in all."""
        return {"embedding_rows": int(self.embedding.shape[0]), "layers": len(self.mlp),
                "mlp_units": sum(int(m.shape[0]) for m in self.mlp), "value_channels": sum(int(v.shape[0]) for v in self.values)}

    def describe(self) -> str:
        """One line: ``1792 embedding rows; 768 MLP neurons and 0 value channels over 24 layers``."""
        s = self.summary()
        return (f"{s['embedding_rows']} embedding rows; {s['mlp_units']} MLP neurons and {s['value_channels']} value "
                f"channels over {s['layers']} layers")


def _array(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=np.float32)


def weight_sketch(
    state: Mapping[str, Any], *, head_dim: int, tokenizer_length: int | None = None, size: SketchSize = SketchSize()
) -> WeightSketch:
    """The :class:`WeightSketch` of a llama-style state dict (llama, mistral, qwen2, qwen3 parameter names).

    Parameters
    ----------
    state : mapping of str to array_like or torch.Tensor
        ``model.state_dict()`` or a safetensors file's tensors (``model.`` prefix optional).
    head_dim : int
        The attention heads' width (``config.head_dim``, else ``hidden_size // num_attention_heads``).
    tokenizer_length : int, optional
        Rows of the embedding the tokenizer uses (default: every row).
    size : SketchSize
        How much to keep (default: everything); only the kept slices are converted to float32.

    Raises
    ------
    UsageError
        A parameter the sketch needs is missing.
    """
    names = {key.removeprefix("model."): key for key in state}

    def get(name: str) -> Any:
        if name not in names:
            raise UsageError(f"the weights have no {name!r}; the units part reads llama-style blocks")
        return state[names[name]]

    embedding = get("embed_tokens.weight")
    d = int(embedding.shape[1])
    rows = embedding.shape[0] if tokenizer_length is None else min(tokenizer_length, embedding.shape[0])
    if size.rows_per_dim is not None:
        rows = min(rows, size.rows_per_dim * d)
    channels = None if size.heads is None else size.heads * int(head_dim)
    layers = sorted({int(name.split(".")[1]) for name in names if name.startswith("layers.")})
    mlp, values = [], []
    for layer in layers:
        p = f"layers.{layer}."
        mlp.append(np.concatenate([_array(get(p + "mlp.gate_proj.weight")[:size.units]),
                                   _array(get(p + "mlp.up_proj.weight")[:size.units]),
                                   _array(get(p + "mlp.down_proj.weight")[:, :size.units]).T], axis=1))
        v, o = get(p + "self_attn.v_proj.weight"), get(p + "self_attn.o_proj.weight")
        if v.shape[0] == o.shape[1]:
            values.append(np.concatenate([_array(v[:channels]), _array(o[:, :channels]).T], axis=1))
    return WeightSketch(embedding=_array(embedding[:rows]), mlp=tuple(mlp), values=tuple(values), head_dim=int(head_dim))


def common_prefix(a: WeightSketch, b: WeightSketch) -> tuple[WeightSketch, WeightSketch]:
    """Both sketches cut to what both hold: the shared embedding rows, units and whole heads of each layer.

    Needs sketches that :func:`units_abstains` accepts but for their sizes (same width, layers and head width)."""
    rows = min(a.embedding.shape[0], b.embedding.shape[0])
    mlp = [min(x.shape[0], y.shape[0]) for x, y in zip(a.mlp, b.mlp)]
    values = [min(x.shape[0], y.shape[0]) for x, y in zip(a.values, b.values)]

    def cut(s: WeightSketch) -> WeightSketch:
        return WeightSketch(embedding=s.embedding[:rows], mlp=tuple(m[:k] for m, k in zip(s.mlp, mlp)),
                            values=tuple(v[:k] for v, k in zip(s.values, values)), head_dim=s.head_dim)

    return cut(a), cut(b)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)


def alignment(ref: WeightSketch, suspect: WeightSketch) -> tuple[np.ndarray, float]:
    """``(R, fit)``: the orthogonal ``R`` with ``suspect.embedding ~ ref.embedding @ R`` on the shared token rows, and
    the cosine between the two sides after it (1 for an exact relabelled or rotated copy)."""
    rows = min(ref.embedding.shape[0], suspect.embedding.shape[0])
    a = np.asarray(ref.embedding[:rows], dtype=np.float64)
    b = np.asarray(suspect.embedding[:rows], dtype=np.float64)
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    u, _, vt = np.linalg.svd(a.T @ b)
    r = u @ vt
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return r, (float(np.sum((a @ r) * b)) / denom if denom > 0 else 0.0)


def units_abstains(ref: WeightSketch, suspect: WeightSketch) -> str | None:
    """Why the units part cannot compare these two sketches, or None when it can."""
    if ref.hidden_size != suspect.hidden_size:
        return f"the two models' hidden sizes differ ({ref.hidden_size} and {suspect.hidden_size})"
    if min(ref.embedding.shape[0], suspect.embedding.shape[0]) < MIN_EMBEDDING_ROWS:
        return f"fewer than {MIN_EMBEDDING_ROWS} embedding rows to align the hidden dimensions on"
    if len(ref.mlp) != len(suspect.mlp):
        return f"the two models have different numbers of MLP layers ({len(ref.mlp)} and {len(suspect.mlp)})"
    if len(ref.values) != len(suspect.values) or ref.head_dim != suspect.head_dim:
        return "the two models' attention value channels differ in layers or head width"
    if not ref.mlp and not ref.values:
        return "the weights hold no MLP neuron nor value channel"
    return None


def units_test(ref: WeightSketch, suspect: WeightSketch) -> dict[str, Any]:
    """The units part on two weight sketches (see the module docstring).

    Returns
    -------
    dict
        ``statistic`` (sum of same-index unit cosines), ``null_mean``, ``null_sd``, ``z``, ``log10_p`` (one-sided normal
        tail), ``alignment_fit``, ``units`` (how many were compared) and ``assumed``.

    Raises
    ------
    IncompatibleFingerprintsError
        The sketches cannot be compared (:func:`units_abstains` says why).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> def sketch(seed):
    ...     g = np.random.default_rng(seed)
    ...     return WeightSketch(g.standard_normal((64, 8)), (g.standard_normal((40, 24)),), (), 1)
    >>> a = sketch(1)
    >>> perm = rng.permutation(8)
    >>> copy = WeightSketch(a.embedding[:, perm], (np.concatenate([s[:, perm] for s in np.split(a.mlp[0], 3, 1)], 1),), (), 1)
    >>> units_test(a, copy)["z"] > 5, abs(units_test(a, sketch(2))["z"]) < 4
    (True, True)
    """
    why = units_abstains(ref, suspect)
    if why is not None:
        raise IncompatibleFingerprintsError(f"the units part cannot compare these weights: {why}")
    ref, suspect = common_prefix(ref, suspect)
    r, fit = alignment(ref, suspect)
    back = r.T  # a suspect row vector over its hidden dimensions, times R^T, is in the reference's coordinates
    d = ref.hidden_size
    statistic = mean = var = 0.0
    units = 0
    blocks: list[tuple[np.ndarray, np.ndarray, int]] = [(a, b, a.shape[0]) for a, b in zip(ref.mlp, suspect.mlp)]
    blocks += [(a, b, ref.head_dim) for a, b in zip(ref.values, suspect.values)]
    for a, b, size in blocks:
        b = np.asarray(b, dtype=np.float64)
        aligned = np.concatenate([b[:, i * d:(i + 1) * d] @ back for i in range(b.shape[1] // d)], axis=1)
        s = _unit_rows(a) @ _unit_rows(aligned).T
        for start in range(0, s.shape[0], size):  # units are exchangeable within a layer's MLP, within a head
            block = s[start:start + size, start:start + size]
            mu, v = permutation_moments(block)
            statistic, mean, var = statistic + float(np.trace(block)), mean + mu, var + v
        units += s.shape[0]
    sd = math.sqrt(var)
    z = (statistic - mean) / sd if sd > 0 else 0.0
    return {"statistic": statistic, "null_mean": mean, "null_sd": sd, "z": z, "log10_p": log10_upper_tail(z),
            "alignment_fit": fit, "units": units, "assumed": UNITS_ASSUMED}
