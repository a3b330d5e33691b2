"""What a zoo model is and how it is trained: the architecture (:class:`ArchSpec`) and the run (:class:`TrainSpec`).

Specs are frozen dataclasses checked on construction, read from and written to the plain dicts of
a zoo config, so a bad config fails with one line naming the key before anything is trained.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from seedprints.errors import ZooConfigError
from seedprints.zoo.corpora import DOMAINS
from seedprints.zoo.tokenizer import BOS_ID, EOS_ID, PAD_ID

if TYPE_CHECKING:
    from transformers import PretrainedConfig

__all__ = ["CPU_DEFAULT", "FAMILIES", "PAPER_TOY", "PRECISIONS", "ArchSpec", "TrainSpec"]

FAMILIES: tuple[str, ...] = ("llama", "qwen2", "gpt2")
"""Architectures :class:`ArchSpec` can build."""

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
"""Values of :attr:`TrainSpec.precision`."""


def _require_int(owner: str, **values: Any) -> None:
    """ZooConfigError naming the first value that is not an integer (JSON ``true`` and ``2.0`` included)."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise ZooConfigError(f"{owner}.{name} must be an integer, got {reprlib.repr(value)}; give a whole number")


def _require_real(owner: str, **values: Any) -> None:
    """ZooConfigError naming the first value that is not a finite number."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ZooConfigError(f"{owner}.{name} must be a finite number, got {reprlib.repr(value)}; "
                                 "give a number such as 0.001")


def _require_positive(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ZooConfigError(f"{owner}.{name} must be positive, got {value!r}")


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:  # repr: a key read from JSON may hold a newline
        raise ZooConfigError(
            f"unknown {cls.__name__} key(s) {', '.join(map(reprlib.repr, unknown))}; "
            f"known keys: {', '.join(sorted(known))}"
        )
    return cls(**data)


@dataclass(frozen=True)
class ArchSpec:
    """Shape of a zoo model; the defaults are :data:`CPU_DEFAULT`.

    Parameters
    ----------
    family : str
        ``"llama"``, ``"qwen2"`` (RMSNorm, SwiGLU, RoPE) or ``"gpt2"`` (tied embeddings, LayerNorm,
        GELU, learned positions; ``intermediate_size`` is ``n_inner``).
    hidden_size, num_layers, num_heads, intermediate_size : int
        Width, depth, attention heads (no grouped-query attention), MLP width.
    vocab_size : int
        Rows of the embedding matrix; must be at least ``len(tokenizer)`` when training.
    max_position : int
        Longest sequence the model accepts.
    tie_embeddings : bool
        llama and qwen2: one matrix for the input embedding and the LM head (as in Qwen2.5-0.5B);
        default False. gpt2 is always tied.

    Raises
    ------
    ZooConfigError
        On an unknown family, a size that is not a positive integer, or ``hidden_size`` not
        divisible by ``num_heads``.

    Examples
    --------
    >>> ArchSpec(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, vocab_size=512)
    ... # doctest: +ELLIPSIS
    ArchSpec(family='llama', hidden_size=32, ...)
    """

    family: str = "llama"
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 688
    vocab_size: int = 4096
    max_position: int = 256
    tie_embeddings: bool = False

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ZooConfigError(
                f"unknown model family {reprlib.repr(self.family)}; known families: {', '.join(FAMILIES)}"
            )
        sizes = dict(hidden_size=self.hidden_size, num_layers=self.num_layers, num_heads=self.num_heads,
                     intermediate_size=self.intermediate_size, vocab_size=self.vocab_size,
                     max_position=self.max_position)
        _require_int("ArchSpec", **sizes)
        _require_positive("ArchSpec", **sizes)
        if self.hidden_size % self.num_heads:
            raise ZooConfigError(
                f"ArchSpec.hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads})"
            )
        if not isinstance(self.tie_embeddings, bool):
            raise ZooConfigError(f"ArchSpec.tie_embeddings must be true or false, got {reprlib.repr(self.tie_embeddings)}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchSpec:
        """Build from a plain dict (e.g. a zoo config); missing keys take the defaults."""
        return _from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, the inverse of :meth:`from_dict`."""
        return dataclasses.asdict(self)

    def to_config(self) -> PretrainedConfig:
        """Return the transformers config (dropout off; embeddings tied as ``tie_embeddings`` says, always for gpt2).

        Examples
        --------
        >>> ArchSpec().to_config().model_type
        'llama'
        """
        from transformers import GPT2Config, LlamaConfig, Qwen2Config

        ids = {"bos_token_id": BOS_ID, "eos_token_id": EOS_ID, "pad_token_id": PAD_ID}
        if self.family == "gpt2":
            return GPT2Config(
                vocab_size=self.vocab_size,
                n_positions=self.max_position,
                n_embd=self.hidden_size,
                n_layer=self.num_layers,
                n_head=self.num_heads,
                n_inner=self.intermediate_size,
                resid_pdrop=0.0,
                embd_pdrop=0.0,
                attn_pdrop=0.0,
                tie_word_embeddings=True,
                **ids,
            )
        common = dict(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            num_key_value_heads=self.num_heads,
            max_position_embeddings=self.max_position,
            tie_word_embeddings=self.tie_embeddings,
            attention_dropout=0.0,
            **ids,
        )
        if self.family == "qwen2":
            return Qwen2Config(use_sliding_window=False, **common)
        return LlamaConfig(**common)


CPU_DEFAULT = ArchSpec()
"""Llama, d=256, 4 layers, 4 heads, MLP 688, vocab 4096, 256 positions (5.3 M parameters)."""

PAPER_TOY = ArchSpec(
    family="llama",
    hidden_size=768,
    num_layers=12,
    num_heads=12,
    intermediate_size=2048,
    vocab_size=32000,
    max_position=1024,
)
"""The paper's 134 M toy Llama (d=768, 12 layers, 12 heads, MLP 2048, vocab 32000)."""


@dataclass(frozen=True)
class TrainSpec:
    """What a training run sees and how; the defaults pretrain :data:`CPU_DEFAULT` in ~1 min.

    Parameters
    ----------
    domain : str
        Corpus domain (:data:`seedprints.zoo.corpora.DOMAINS`).
    steps, batch_size, seq_len : int
        Optimiser steps; sequences per batch; tokens per sequence.
    lr : float
        Peak learning rate (after ``warmup`` linear steps; cosine decay to ``lr * min_lr_ratio``).
    warmup : int
        Linear warmup steps (may be 0).
    data_seed : int
        Seed of the batch order. Same ``TrainSpec`` (hence same ``data_seed``) and tokenizer give
        the same batches in the same order, whatever the model.
    weight_decay : float
        AdamW decoupled weight decay on matrices (embeddings included), none on norms/biases.
    max_chars : int or None
        Characters of the domain that are tokenised (``None``: all of it).
    corpus_seed : int
        Seed of the document shuffle (:func:`seedprints.zoo.corpora.load_documents`) that decides
        which documents fall within ``max_chars`` and how they are concatenated.
    grad_clip : float or None
        Global gradient-norm clip; ``None`` disables it.
    min_lr_ratio : float
        Final learning rate as a fraction of ``lr``.
    precision : str
        ``"fp32"``; ``"bf16"`` (bf16 autocast of the forward pass, float32 weights, optimizer
        state and loss); or ``"auto"`` (default): bf16 on CUDA and on CPUs with native bf16
        (AVX512-BF16 or AMX; about twice as fast there), fp32 elsewhere.
    seen_tail : bool
        Make every token of the tokenizer occur in training: each non-special token is written
        into the batches 1 to 20 times (a Zipfian tail, median 2), as in a real LLM whose rarest
        tokens are rare rather than never seen (see :func:`seedprints.zoo.batches.iter_batches`).

    Raises
    ------
    ZooConfigError
        On an unknown domain, a size that is not a positive integer, or a rate that is not a
        finite number in its range.
    """

    domain: str = "prose"
    steps: int = 300
    batch_size: int = 16
    seq_len: int = 128
    lr: float = 1e-3
    warmup: int = 30
    data_seed: int = 0
    weight_decay: float = 0.1
    max_chars: int | None = 2_000_000
    corpus_seed: int = 0
    grad_clip: float | None = 1.0
    min_lr_ratio: float = 0.1
    precision: str = "auto"
    seen_tail: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ZooConfigError(
                f"unknown precision {reprlib.repr(self.precision)}; known: {', '.join(PRECISIONS)}"
            )
        if self.domain not in DOMAINS:
            raise ZooConfigError(
                f"unknown corpus domain {reprlib.repr(self.domain)}; known domains: {', '.join(DOMAINS)}"
            )
        _require_int("TrainSpec", steps=self.steps, batch_size=self.batch_size, seq_len=self.seq_len,
                     warmup=self.warmup, data_seed=self.data_seed, corpus_seed=self.corpus_seed,
                     **({} if self.max_chars is None else {"max_chars": self.max_chars}))
        _require_real("TrainSpec", lr=self.lr, weight_decay=self.weight_decay, min_lr_ratio=self.min_lr_ratio,
                      **({} if self.grad_clip is None else {"grad_clip": self.grad_clip}))
        _require_positive(
            "TrainSpec", steps=self.steps, batch_size=self.batch_size, seq_len=self.seq_len, lr=self.lr
        )
        if self.seq_len < 2:
            raise ZooConfigError(f"TrainSpec.seq_len must be >= 2, got {self.seq_len}")
        if self.warmup < 0 or self.weight_decay < 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ZooConfigError(
                "TrainSpec.warmup and weight_decay must be >= 0 and min_lr_ratio in [0, 1]"
            )
        if self.max_chars is not None and self.max_chars <= 0:
            raise ZooConfigError(f"TrainSpec.max_chars must be positive or None, got {self.max_chars}")
        if not isinstance(self.seen_tail, bool):
            raise ZooConfigError(f"TrainSpec.seen_tail must be true or false, got {reprlib.repr(self.seen_tail)}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSpec:
        """Build from a plain dict (e.g. a zoo config); missing keys take the defaults."""
        return _from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, the inverse of :meth:`from_dict`."""
        return dataclasses.asdict(self)
