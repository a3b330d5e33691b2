"""The settings of a run, built once (by the CLI or the caller) and passed everywhere.

:class:`RunOptions` says how a model is loaded and run; :class:`ProbeOptions` how probes are built when no spec
is given. Both are frozen: a value seen anywhere is the value the run used.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from seedprints.errors import UsageError
from seedprints.naming import setting
from seedprints.probes import (
    DEFAULT_PROBE_SEED,
    MAX_UNTRAINED_TOKENS,
    ProbeSpec,
    default_vocab_bound,
    embedding_spec,
    token_spec,
    untrained_token_spec,
)
from seedprints.stats.defaults import MIN_DIMS

DEFAULT_DEVICE = "auto"  # cuda, then mps, then cpu


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a model is loaded and run.

    Attributes
    ----------
    device : str
        Torch device of the forward pass: ``auto`` (cuda, then mps, then cpu), ``cpu``, ``cuda``, ``cuda:1``, ``mps``.
    dtype : str
        ``auto`` (bf16 for half-precision checkpoints, float32 instead on a CPU without native bf16 when it fits; else fp32), ``float32``, ``bfloat16`` or ``float16``.
    batch_size : int or None
        Probes per forward pass; None: 32 on CPU, from free memory on a GPU (halved on out-of-memory).
    trust_remote_code, allow_pickle : bool
        Let a model directory run its own code / load pickled weights (only for models you trust).
    device_map : str or None
        ``auto`` etc.: spread the model over devices with accelerate (replaces ``device``).
    base : str, Path or None
        Base model directory of a PEFT adapter (default: the adapter's own ``base_model_name_or_path``).
    progress : bool
        Progress bars on stderr.
    weight_sketch : bool
        Also record a sketch of the model's weights in its fingerprint (:data:`seedprints.stats.units.FILE_SKETCH`),
        so that comparing two such fingerprints runs the units part, which sees through relabelled hidden dimensions.
    """

    device: str = DEFAULT_DEVICE
    dtype: str = "auto"
    batch_size: int | None = None
    trust_remote_code: bool = False
    allow_pickle: bool = False
    device_map: str | None = None
    base: str | Path | None = None
    progress: bool = False
    weight_sketch: bool = False


DEFAULT_N = 2000
DEFAULT_LENGTH = 512
DEFAULT_KIND = "untrained"
PROBE_KIND_ALIASES = {"rare": DEFAULT_KIND}  # the name of the default probes before 0.2


@dataclasses.dataclass(frozen=True)
class ProbeOptions:
    """How to build probes when no spec is given: kind, N, L, seed, and optional vocabulary bound or file."""

    kind: str = DEFAULT_KIND
    n: int = DEFAULT_N
    length: int = DEFAULT_LENGTH
    seed: int = DEFAULT_PROBE_SEED
    vocab_bound: int | None = None
    embedding_std: float = 0.02
    probe_file: str | None = None
    rare_tokens: int | None = None  # untrained probes: at most this many input and logit tokens (default 128)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", PROBE_KIND_ALIASES.get(self.kind, self.kind))

    @property
    def reads_tokenizer(self) -> bool:
        """True when the spec depends on the tokenizer's length (untrained probes take the rows past it)."""
        return self.kind == "untrained"

    @property
    def draws_token_ids(self) -> bool:
        """True when the probes are token ids (untrained or token probes), so they need the model's vocabulary."""
        return self.kind in ("token", "untrained")

    def bound(self, vocab_sizes: list[int | None]) -> int:
        """Token ids stay below this: ``--vocab-bound``, else min(smallest vocabulary, 32000)."""
        return default_vocab_bound(self._rows(vocab_sizes)) if self.vocab_bound is None else self.vocab_bound

    def _rows(self, vocab_sizes: list[int | None]) -> int:
        """The embedding rows the probes may use: ``--vocab-bound``, else the smallest vocabulary."""
        known = [v for v in vocab_sizes if v]
        if self.vocab_bound is None and not known:
            raise UsageError(f"cannot tell the model's vocabulary size; pass {setting('vocab_bound')}")
        return self.vocab_bound if self.vocab_bound is not None else min(known)

    def spec_for(self, vocab_sizes: list[int | None], hidden_size: int, tokenizer_length: int | None = None) -> ProbeSpec:
        """The spec these options give for models of the given vocabularies, width and tokenizer length.

        Untrained probes depend on nothing else (:func:`seedprints.probes.untrained_token_spec`), so two
        models of the same vocabulary get the same spec wherever they are fingerprinted.
        """
        if self.reads_tokenizer:
            count = MAX_UNTRAINED_TOKENS if self.rare_tokens is None else self.rare_tokens
            if count < MIN_DIMS:
                raise UsageError(f"{setting('rare_tokens', count)} is too few; the lineage test needs at least {MIN_DIMS} "
                                 "logit tokens")
            return untrained_token_spec(self.n, self.length, self._rows(vocab_sizes), tokenizer_length, seed=self.seed,
                                        max_tokens=count)
        if self.kind == "token":
            return token_spec(self.n, self.length, self.bound(vocab_sizes), seed=self.seed)
        if self.kind == "embedding":
            return embedding_spec(self.n, self.length, hidden_size, seed=self.seed, std=self.embedding_std)
        raise UsageError(f"unknown probe kind {self.kind!r}; use 'untrained', 'token' or 'embedding' (or a probe file)")


def split_settings(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keyword settings split into :class:`RunOptions` and :class:`ProbeOptions` fields (None values dropped).

    Raises TypeError for a name that is neither, as a misspelt keyword argument would.
    """
    run_fields = {f.name for f in dataclasses.fields(RunOptions)}
    probe_fields = {f.name for f in dataclasses.fields(ProbeOptions)}
    unknown = sorted(set(settings) - run_fields - probe_fields)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {', '.join(unknown)}; expected fields of RunOptions or ProbeOptions")
    given = {k: v for k, v in settings.items() if v is not None}
    return ({k: v for k, v in given.items() if k in run_fields}, {k: v for k, v in given.items() if k in probe_fields})
