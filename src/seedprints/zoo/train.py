"""Initialise, train, LoRA-tune, distil and save the zoo's small language models.

Every model of the zoo has a known lineage: its init seed (:func:`init_model`), the data it saw
and in which order (:class:`TrainSpec`: ``domain``, ``data_seed``), and how it was derived
(:func:`train`, :func:`train_lora`, :func:`distill`). Two models built with different init seeds
but the same ``TrainSpec`` see exactly the same batches in the same order: SPEC's "hard
negative" (independent lineages, same data, same data order).

Training is plain AdamW with linear warmup and cosine decay; weights and optimizer state are
float32, the forward pass runs under bf16 autocast where the device computes bf16 natively
(CUDA, recent x86 CPUs; ``TrainSpec.precision``). On CPU a run is deterministic for a given seed,
machine and thread count. Batches are contiguous blocks of
``seq_len`` tokens cut from the domain's token stream (documents joined with ``<|eos|>``), in an
order drawn by a ``torch.Generator`` seeded with ``data_seed``.

Measured on a 2-core EPYC CPU with AVX512-BF16 (shared with other jobs), torch 2.13:
:data:`CPU_DEFAULT` at batch 16 x 128 tokens takes about 0.17 s/step with the default
``precision="auto"`` (bf16 autocast) and 0.37 s/step in float32; the default :class:`TrainSpec`
(300 steps on ``"prose"``, ~0.6 M tokens, 1.5 epochs) takes about a minute and brings the training
loss from 8.4 to about 5.2 nats/token.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import reprlib
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seedprints import tempfiles
from seedprints.errors import OutputPathError, ZooConfigError
from seedprints.zoo.corpora import DOMAINS, load_documents
from seedprints.zoo.tokenizer import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerFast

__all__ = [
    "CPU_DEFAULT",
    "FAMILIES",
    "PAPER_TOY",
    "PRECISIONS",
    "ArchSpec",
    "TrainSpec",
    "distill",
    "eval_loss",
    "init_model",
    "iter_batches",
    "save_model",
    "tail_occurrences",
    "train",
    "train_lora",
]

FAMILIES: tuple[str, ...] = ("llama", "qwen2", "gpt2")
"""Architectures :class:`ArchSpec` can build."""

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
"""Values of :attr:`TrainSpec.precision`."""

Checkpoints = dict[int, Callable[["PreTrainedModel", int], Any]]

_LORA_TARGETS = {
    "llama": ["q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen2": ["q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"],
    "gpt2": ["c_attn", "c_fc", "c_proj"],  # GPT-2 fuses q/k/v in c_attn (a Conv1D)
}


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
        ``"llama"``, ``"qwen2"`` (untied embeddings, RMSNorm, SwiGLU, RoPE) or ``"gpt2"`` (tied
        embeddings, LayerNorm, GELU, learned positions; ``intermediate_size`` is ``n_inner``).
    hidden_size, num_layers, num_heads, intermediate_size : int
        Width, depth, attention heads (no grouped-query attention), MLP width.
    vocab_size : int
        Rows of the embedding matrix; must be at least ``len(tokenizer)`` when training.
    max_position : int
        Longest sequence the model accepts.

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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchSpec:
        """Build from a plain dict (e.g. a zoo config); missing keys take the defaults."""
        return _from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, the inverse of :meth:`from_dict`."""
        return dataclasses.asdict(self)

    def to_config(self) -> PretrainedConfig:
        """Return the transformers config (dropout off; untied embeddings except for gpt2).

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
            tie_word_embeddings=False,
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
        tokens are rare rather than never seen (see :func:`iter_batches`).

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


# --------------------------------------------------------------------------------------------
# models


def init_model(arch: ArchSpec, seed: int) -> PreTrainedModel:
    """Return the model exactly as transformers initialises it under ``torch.manual_seed(seed)``.

    Parameters
    ----------
    arch : ArchSpec
        Shape and family.
    seed : int
        The init seed: the model's lineage root.

    Returns
    -------
    transformers.PreTrainedModel
        ``AutoModelForCausalLM.from_config(arch.to_config())`` in float32 on the CPU, in eval
        mode. The caller's global RNG state is left untouched.

    Examples
    --------
    >>> tiny = ArchSpec(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, vocab_size=512)
    >>> a, b = init_model(tiny, 1), init_model(tiny, 1)
    >>> bool((a.lm_head.weight == b.lm_head.weight).all())
    True
    """
    from seedprints.seeds import init_model_from_config

    return init_model_from_config(arch.to_config(), seed)


# --------------------------------------------------------------------------------------------
# data

_STREAM_CACHE: dict[tuple[str, str, int | None, int], torch.Tensor] = {}
_STREAM_CACHE_SIZE = 4


def _tokenizer_key(tokenizer: PreTrainedTokenizerFast) -> str:
    return hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode()).hexdigest()


def _token_stream(tokenizer: PreTrainedTokenizerFast, spec: TrainSpec) -> torch.Tensor:
    """The domain's documents, tokenised and joined by ``<|eos|>``: a 1-D int64 tensor (CPU)."""
    import torch

    key = (_tokenizer_key(tokenizer), spec.domain, spec.max_chars, spec.corpus_seed)
    cached = _STREAM_CACHE.get(key)
    if cached is not None:
        return cached
    docs: list[str] = []
    size = 0
    for doc in load_documents(spec.domain, seed=spec.corpus_seed):
        if spec.max_chars is not None and size >= spec.max_chars:
            break
        if spec.max_chars is not None:
            doc = doc[: spec.max_chars - size]
        docs.append(doc)
        size += len(doc)
    eos = tokenizer.eos_token_id
    ids: list[int] = []
    for enc in tokenizer.backend_tokenizer.encode_batch(docs, add_special_tokens=False):
        ids.extend(enc.ids)
        ids.append(eos)
    stream = torch.tensor(ids, dtype=torch.long)
    if len(_STREAM_CACHE) >= _STREAM_CACHE_SIZE:
        _STREAM_CACHE.pop(next(iter(_STREAM_CACHE)))
    _STREAM_CACHE[key] = stream
    return stream


def iter_batches(
    tokenizer: PreTrainedTokenizerFast, spec: TrainSpec, *, steps: int | None = None
) -> Iterator[torch.Tensor]:
    """Yield the training batches of ``spec``, one ``[batch_size, seq_len]`` int64 tensor a step.

    The token stream is cut into non-overlapping blocks of ``seq_len`` tokens; each epoch visits
    all blocks in a fresh permutation drawn from one ``torch.Generator`` seeded with
    ``spec.data_seed``, and batches are consecutive slices of those permutations. With
    ``spec.seen_tail``, every non-special token of the tokenizer is also written over random
    positions of the batches 1 to 20 times (:func:`tail_occurrences`), spread evenly over the
    steps, so that each occurrence is trained on. The result depends only on the tokenizer, the
    corpus and ``spec``, never on a model.

    Parameters
    ----------
    tokenizer : transformers.PreTrainedTokenizerFast
        The zoo tokenizer (:func:`seedprints.zoo.tokenizer.build_tokenizer`).
    spec : TrainSpec
        Domain, sizes and ``data_seed``.
    steps : int, optional
        Number of batches; default ``spec.steps``.

    Raises
    ------
    ZooConfigError
        If the corpus holds fewer than ``batch_size`` blocks of ``seq_len`` tokens.
    """
    import torch

    stream = _token_stream(tokenizer, spec)
    n_blocks = stream.numel() // spec.seq_len
    if n_blocks < spec.batch_size:
        raise ZooConfigError(
            f"domain {spec.domain!r} has {stream.numel()} tokens (max_chars={spec.max_chars}): fewer than "
            f"batch_size x seq_len = {spec.batch_size} x {spec.seq_len}; raise max_chars or lower them"
        )
    blocks = stream[: n_blocks * spec.seq_len].view(n_blocks, spec.seq_len)
    generator = torch.Generator().manual_seed(spec.data_seed)
    order = torch.empty(0, dtype=torch.long)
    total = spec.steps if steps is None else steps
    tail = _tail_schedule(tokenizer, spec, total) if spec.seen_tail else None
    for step in range(total):
        if order.numel() < spec.batch_size:
            order = torch.cat([order, torch.randperm(n_blocks, generator=generator)])
        take, order = order[: spec.batch_size], order[spec.batch_size :]
        batch = blocks[take]
        if tail is not None:
            batch = batch.clone()
            positions, tokens = tail[step]
            batch.view(-1)[positions] = tokens
        yield batch


TAIL_MAX_COUNT = 20
TAIL_ZIPF_EXPONENT = 1.5  # P(count = k) ~ k^-1.5 on 1..20: about half the tokens once, median 2


def tail_occurrences(first: int, stop: int, seed: int) -> np.ndarray:
    """Token ids ``first .. stop-1``, each repeated its Zipfian count (1 to 20), in a seeded random order."""
    rng = np.random.default_rng([seed, 0x7A11])
    ks = np.arange(1, TAIL_MAX_COUNT + 1)
    weights = ks ** -TAIL_ZIPF_EXPONENT
    counts = rng.choice(ks, size=stop - first, p=weights / weights.sum())
    return rng.permutation(np.repeat(np.arange(first, stop), counts))


def _tail_schedule(tokenizer: PreTrainedTokenizerFast, spec: TrainSpec, steps: int) -> list[tuple[Any, Any]]:
    """Per step: the flat batch positions to overwrite and the tail tokens written there."""
    import torch

    occurrences = tail_occurrences(len(SPECIAL_TOKENS), len(tokenizer), spec.data_seed)
    per_batch = spec.batch_size * spec.seq_len
    if len(occurrences) > steps * per_batch // 4:
        raise ZooConfigError(f"seen_tail needs {len(occurrences)} token slots, more than a quarter of the "
                             f"{steps} x {spec.batch_size} x {spec.seq_len} trained; train longer")
    rng = np.random.default_rng([spec.data_seed, 0x7A12])
    schedule = []
    for chunk in np.array_split(occurrences, steps):
        positions = rng.choice(per_batch, size=len(chunk), replace=False)
        schedule.append((torch.from_numpy(positions), torch.from_numpy(chunk.astype(np.int64))))
    return schedule


# --------------------------------------------------------------------------------------------
# training loop


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _native_bf16(device: torch.device) -> bool:
    return _native_bf16_type(device.type)


@functools.lru_cache(maxsize=None)
def _native_bf16_type(device_type: str) -> bool:
    import torch

    if device_type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device_type == "cpu":
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False


def _autocast(device: torch.device, precision: str):
    """bf16 autocast for ``"bf16"``, or for ``"auto"`` where the device computes bf16 natively."""
    import torch

    enabled = precision == "bf16" or (precision == "auto" and _native_bf16(device))
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def _check_fits(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, spec: TrainSpec) -> None:
    cfg = model.config
    vocab = cfg.get_text_config().vocab_size
    if len(tokenizer) > vocab:
        raise ZooConfigError(
            f"tokenizer has {len(tokenizer)} tokens but the model's vocab_size is {vocab}; "
            "build the tokenizer with vocab_size <= the model's"
        )
    max_pos = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
    if max_pos is not None and spec.seq_len > max_pos:
        raise ZooConfigError(f"TrainSpec.seq_len ({spec.seq_len}) exceeds the model's {max_pos} positions")


def _lr_lambda(spec: TrainSpec) -> Callable[[int], float]:
    def factor(step: int) -> float:  # step = number of optimiser steps already taken
        if step < spec.warmup:
            return (step + 1) / spec.warmup
        span = max(1, spec.steps - spec.warmup)
        progress = min(1.0, (step - spec.warmup) / span)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return spec.min_lr_ratio + (1.0 - spec.min_lr_ratio) * cosine

    return factor


@contextmanager
def _progress_bar(enabled: bool, description: str, total: int):
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total, loss="-", rate="")

        def update(step: int, loss: float, seconds: float) -> None:
            progress.update(
                task, completed=step, loss=f"{loss:.3f}", rate=f"{seconds / max(step, 1):.2f} s/step"
            )

        yield update


def _run(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    tokenizer: PreTrainedTokenizerFast,
    spec: TrainSpec,
    *,
    description: str,
    progress: bool,
    checkpoints: Checkpoints | None,
    history: list[float] | None,
) -> None:
    import torch

    device = _device(model)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ZooConfigError("the model has no trainable parameters")
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": spec.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(
        [g for g in groups if g["params"]], lr=spec.lr, betas=(0.9, 0.95), eps=1e-8
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(spec))
    checkpoints = dict(checkpoints or {})
    if 0 in checkpoints:
        checkpoints.pop(0)(model, 0)
    start = time.perf_counter()
    model.train()
    with _progress_bar(progress, description, spec.steps) as update:
        for step, batch in enumerate(iter_batches(tokenizer, spec), start=1):
            batch = batch.to(device, non_blocking=True)
            with _autocast(device, spec.precision):
                loss = loss_fn(batch)
            loss.backward()
            if spec.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, spec.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if history is not None or update is not None:
                value = loss.item()
                if history is not None:
                    history.append(value)
                if update is not None:
                    update(step, value, time.perf_counter() - start)
            if step in checkpoints:
                checkpoints[step](model, step)
                model.train()
    model.eval()


def _lm_loss(model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    def loss_fn(batch: torch.Tensor) -> torch.Tensor:
        return model(input_ids=batch, labels=batch, use_cache=False).loss

    return loss_fn


def train(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    spec: TrainSpec,
    *,
    progress: bool = False,
    checkpoints: Checkpoints | None = None,
    history: list[float] | None = None,
) -> PreTrainedModel:
    """Train ``model`` (all parameters) as a causal LM on ``spec``'s batches, in place.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        Trained on whatever device it sits on, float32 weights (forward precision: ``spec.precision``).
    tokenizer : transformers.PreTrainedTokenizerFast
        The zoo tokenizer; ``len(tokenizer)`` must not exceed the model's vocabulary.
    spec : TrainSpec
        Data, order, schedule. AdamW (betas 0.9/0.95), linear warmup, cosine decay.
    progress : bool, optional
        Show a rich progress bar (loss, s/step) on stderr.
    checkpoints : dict of int to callable, optional
        ``{step: callback}``; ``callback(model, step)`` runs after that optimiser step (step 0:
        before training), e.g. to save an early checkpoint. The model is put back in train mode
        afterwards.
    history : list of float, optional
        If given, each step's training loss is appended to it.

    Returns
    -------
    transformers.PreTrainedModel
        The same object, trained, in eval mode.

    Raises
    ------
    ZooConfigError
        If the tokenizer or ``seq_len`` does not fit the model, or the corpus is too small.

    Notes
    -----
    On CPU the run is deterministic given the model's init, ``spec`` and the torch thread count.
    Rows of the embedding matrix whose token never occurs in the batches only receive weight
    decay, so they keep their initial direction (SPEC, "Under-trained tokens keep the init").
    """
    _check_fits(model, tokenizer, spec)
    _run(
        model,
        _lm_loss(model),
        tokenizer,
        spec,
        description=f"train {spec.domain}",
        progress=progress,
        checkpoints=checkpoints,
        history=history,
    )
    return model


def train_lora(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    spec: TrainSpec,
    *,
    rank: int = 8,
    alpha: float | None = None,
    seed: int = 0,
    progress: bool = False,
    history: list[float] | None = None,
) -> PreTrainedModel:
    """Fine-tune a LoRA adapter with peft, merge it, and return the plain merged model.

    Adapters go on the attention query/value and all MLP projections (``q_proj``, ``v_proj``,
    ``gate_proj``, ``up_proj``, ``down_proj``; GPT-2: ``c_attn``, ``c_fc``, ``c_proj``). The
    base weights stay frozen during training; ``merge_and_unload()`` then folds ``B @ A`` into
    them.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        The base model; modified in place (its modules are wrapped, then merged).
    tokenizer, spec
        As for :func:`train`; ``spec.lr`` is the adapter learning rate.
    rank : int, optional
        LoRA rank. Default 8.
    alpha : float, optional
        LoRA scaling numerator; default ``2 * rank``.
    seed : int, optional
        Seed of the adapter's own init (``A`` is random, ``B`` zero). Default 0.
    progress : bool, optional
        Rich progress bar on stderr.
    history : list of float, optional
        Receives each step's loss.

    Returns
    -------
    transformers.PreTrainedModel
        The base model class (no peft wrapper), weights changed by the merged adapter.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    if rank <= 0:
        raise ZooConfigError(f"LoRA rank must be positive, got {rank}")
    _check_fits(model, tokenizer, spec)
    family = model.config.model_type
    targets = _LORA_TARGETS.get(family)
    if targets is None:
        raise ZooConfigError(f"no LoRA targets known for model type {family!r}; known: {', '.join(_LORA_TARGETS)}")
    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank if alpha is None else alpha,
        lora_dropout=0.0,
        target_modules=targets,
        fan_in_fan_out=family == "gpt2",
        bias="none",
        task_type="CAUSAL_LM",
    )
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        # peft 0.21 calls a transformers 5 method that is deprecated in favour of another name
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        torch.manual_seed(seed)
        peft_model = get_peft_model(model, config)
    peft_model.to(_device(model))
    _run(
        peft_model,
        _lm_loss(peft_model),
        tokenizer,
        spec,
        description=f"lora r={rank} {spec.domain}",
        progress=progress,
        checkpoints=None,
        history=history,
    )
    merged = peft_model.merge_and_unload()
    merged.requires_grad_(True)
    return merged.eval()


def distill(
    student: PreTrainedModel,
    teacher: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    spec: TrainSpec,
    *,
    temperature: float = 2.0,
    progress: bool = False,
    history: list[float] | None = None,
) -> PreTrainedModel:
    """Train ``student`` to match ``teacher``'s next-token distribution (logit distillation).

    The loss is ``T^2 * KL(softmax(t / T) || softmax(s / T))`` per token (Hinton et al. 2015),
    averaged over all positions of each batch; no ground-truth labels are used. The teacher is
    run without gradients and is not modified. The student keeps its own init: it shares no
    weights with the teacher, so it is a different lineage that learnt the teacher's function.

    Parameters
    ----------
    student : transformers.PreTrainedModel
        Trained in place (e.g. ``init_model(arch, seed)`` with its own seed).
    teacher : transformers.PreTrainedModel
        Source of the soft targets; should be on the student's device. If the vocabularies
        differ, only the shared first ``min(V_student, V_teacher)`` logits are matched.
    tokenizer, spec
        As for :func:`train`.
    temperature : float, optional
        Softmax temperature ``T``. Default 2.0.
    progress, history
        As for :func:`train`.

    Returns
    -------
    transformers.PreTrainedModel
        The student, trained, in eval mode.
    """
    import torch
    import torch.nn.functional as F

    if not temperature > 0:
        raise ZooConfigError(f"distillation temperature must be positive, got {temperature}")
    _check_fits(student, tokenizer, spec)
    _check_fits(teacher, tokenizer, spec)
    was_training = teacher.training
    teacher.eval()
    device = _device(student)

    def loss_fn(batch: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            t_logits = teacher(input_ids=batch.to(_device(teacher)), use_cache=False).logits
        s_logits = student(input_ids=batch, use_cache=False).logits
        vocab = min(s_logits.shape[-1], t_logits.shape[-1])
        s = F.log_softmax(s_logits[..., :vocab].float() / temperature, dim=-1).flatten(0, -2)
        t = F.log_softmax(t_logits[..., :vocab].to(device).float() / temperature, dim=-1).flatten(0, -2)
        return F.kl_div(s, t, log_target=True, reduction="batchmean") * temperature**2

    try:
        _run(
            student,
            loss_fn,
            tokenizer,
            spec,
            description=f"distill {spec.domain}",
            progress=progress,
            checkpoints=None,
            history=history,
        )
    finally:
        teacher.train(was_training)
    return student


def eval_loss(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, spec: TrainSpec, *, batches: int = 8
) -> float:
    """Mean causal-LM loss (nats/token) of ``model`` on the first ``batches`` batches of ``spec``.

    Use a ``data_seed`` other than the training one to look at (mostly) other blocks; the zoo
    has no held-out split, so this is a training-distribution loss.
    """
    import torch

    _check_fits(model, tokenizer, spec)
    device = _device(model)
    was_training = model.training
    model.eval()
    total = 0.0
    try:
        with torch.no_grad(), _autocast(device, spec.precision):
            for batch in iter_batches(tokenizer, spec, steps=batches):
                batch = batch.to(device)
                total += model(input_ids=batch, labels=batch, use_cache=False).loss.item()
    finally:
        model.train(was_training)
    return total / batches


# --------------------------------------------------------------------------------------------
# saving


@contextmanager
def _quiet_hf_progress():
    """Silence transformers' tqdm bars ("Writing model shards") for the duration."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def save_model(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    out_dir: str | Path,
    *,
    overwrite: bool = True,
) -> Path:
    """Write a normal Hugging Face model directory, atomically.

    The model (safetensors weights, ``config.json``, ``generation_config.json``) and the
    tokenizer (``tokenizer.json`` and its configs) are written into a temporary directory beside
    ``out_dir``, which is then renamed into place; an existing ``out_dir`` is replaced only once
    the new one is complete. Load it back with
    ``AutoModelForCausalLM.from_pretrained(out_dir, local_files_only=True)``.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        Saved in its current dtype.
    tokenizer : transformers.PreTrainedTokenizerFast
        Saved next to the weights.
    out_dir : str or Path
        Target directory; parents are created.
    overwrite : bool, optional
        Replace an existing directory (default). If False, an existing ``out_dir`` is an error.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    OutputPathError
        If ``out_dir`` exists and is a file, or exists and ``overwrite`` is False, or cannot be
        written; no temporary directory is left behind.
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or not overwrite):
        what = "a file" if not out.is_dir() else "an existing directory (overwrite=False)"
        raise OutputPathError(f"cannot write model to {out}: it is {what}; choose another path")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfiles.temp_dir(out)
    except OSError as exc:
        raise OutputPathError(f"cannot write model to {out}: {exc.strerror or exc}") from exc
    old: Path | None = None
    try:
        with _quiet_hf_progress():
            model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            old.rmdir()
            out.rename(old)
        tmp.rename(out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists() and not out.exists():
            old.rename(out)
        raise OutputPathError(f"cannot write model to {out}: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out


def load_saved(model_dir: str | Path, *, device: str = "cpu") -> PreTrainedModel:
    """Load a model written by :func:`save_model` (local files only, no progress bars), in eval mode."""
    from transformers import AutoModelForCausalLM

    with _quiet_hf_progress():
        model = AutoModelForCausalLM.from_pretrained(Path(model_dir), local_files_only=True)
    return model.to(device).eval()
