"""Deterministic probe specs: the random inputs fed identically to every model compared.

A :class:`ProbeSpec` is a small, versioned, JSON-serialisable description (kind, N, L, vocabulary
bound, seed, ...). Generated probes are a pure function of the spec: row ``i`` comes from its own
PCG64 stream seeded with ``(seed, i)``, read as raw 64-bit words, so the same spec gives
bit-identical token ids on any machine and any numpy version, and rows can be produced in any order
or extended later. ``rng="torch"`` reproduces the reference code's token probes instead
(``torch.manual_seed(seed); torch.randint(0, V, (N, L))``). Users can also bring probes: a file of
token-id sequences, or of texts that each model's own tokenizer encodes (:mod:`seedprints.probe_files` reads them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterable
from typing import Literal

import numpy as np

from seedprints.errors import UsageError

PROBE_SPEC_VERSION = 1
DEFAULT_PROBE_SEED = 42
DEFAULT_VOCAB_CAP = 32000  # the paper's vocabulary bound; smaller vocabularies use their own size
ProbeKind = Literal["token", "embedding", "token-file", "text-file"]
_KINDS = ("token", "embedding", "token-file", "text-file")
_FILE_KINDS = ("token-file", "text-file")
MIN_PROBES = 10


@dataclasses.dataclass(frozen=True)
class ProbeSpec:
    """What probes to feed: enough to regenerate them exactly (or to check a file against).

    Attributes
    ----------
    kind : {"token", "embedding", "token-file", "text-file"}
        Uniform random token ids, Gaussian vectors fed as ``inputs_embeds``, or a user file.
    n : int
        Number of probe sequences (rows of the fingerprint).
    length : int
        Tokens per sequence (for file probes: the longest sequence).
    seed : int
        Seed of the generator (ignored for file probes).
    vocab_bound : int or None
        Token ids are drawn uniformly from ``[0, vocab_bound)`` (token probes only).
    hidden_size : int or None
        Width of embedding probes.
    mean, std : float or None
        Parameters of the Gaussian embedding probes (HF default init: 0.0 and 0.02).
    rng : {"pcg64", "torch"}
        Generator: our portable per-row PCG64 streams, or the reference code's torch generator.
    source_sha256 : str or None
        SHA-256 of the probe file's bytes (file probes only).
    input_tokens : tuple of int or None
        Token probes draw their ids uniformly from this list instead of ``[0, vocab_bound)``: the
        default probes use padding tokens no model has trained, whose embeddings keep the init.
    output_tokens : tuple of int or None
        Tokens whose logits (``h . w_t``, the unembedding row of t) are recorded for every probe;
        disjoint from ``input_tokens``.
    untrained_from : int or None
        The tokenizer's length when the spec was made from a model's vocabulary: ids from here up
        to ``vocab_bound`` are padding rows no text encodes. Only when every output token lies there
        does the lineage test score the logits (:attr:`scores_untrained_logits`).
    trained_inputs_below : int or None
        With ``input_tokens``: even rows draw their ids uniformly below this bound (tokens the
        tokenizer encodes, which every trained model uses) and odd rows from ``input_tokens``. Two
        groups of probes (:meth:`row_groups`), so that the hidden part never depends on padding rows
        alone: in long-trained real models those rows collapse onto one vector.
    version : int
        Probe spec format version.
    """

    kind: ProbeKind
    n: int
    length: int
    seed: int = DEFAULT_PROBE_SEED
    vocab_bound: int | None = None
    hidden_size: int | None = None
    mean: float | None = None
    std: float | None = None
    rng: Literal["pcg64", "torch"] = "pcg64"
    source_sha256: str | None = None
    input_tokens: tuple[int, ...] | None = None
    output_tokens: tuple[int, ...] | None = None
    untrained_from: int | None = None
    trained_inputs_below: int | None = None
    version: int = PROBE_SPEC_VERSION

    def __post_init__(self) -> None:
        for name in ("input_tokens", "output_tokens"):  # JSON gives lists; keep specs hashable and comparable
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(int(t) for t in value))
        _check_spec(self)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces, unset fields left out): the same spec always gives the
        same string, and optional fields added later do not change the hash of specs that do not use them."""
        fields = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "ProbeSpec":
        """Parse a spec written by :meth:`to_json`; raises UsageError on unknown fields."""
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"probe spec is not valid JSON ({exc.msg}); re-create the fingerprint") from exc
        if not isinstance(fields, dict):
            raise UsageError("probe spec must be a JSON object; re-create the fingerprint")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise UsageError(f"probe spec has unknown fields {unknown}; upgrade seedprints to read it")
        if fields.get("version", PROBE_SPEC_VERSION) > PROBE_SPEC_VERSION:
            raise UsageError(
                f"probe spec version {fields['version']} is newer than this seedprints "
                f"(reads up to {PROBE_SPEC_VERSION}); upgrade seedprints"
            )
        return cls(**fields)

    @property
    def hash(self) -> str:
        """Short content hash of the canonical JSON, stored in every fingerprint."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def describe(self) -> str:
        """One human-readable line, used in error messages."""
        parts = [f"{self.kind}", f"n={self.n}", f"L={self.length}"]
        if not self.from_file:
            parts.append(f"seed={self.seed}")
        if self.vocab_bound is not None:
            parts.append(f"vocab<{self.vocab_bound}")
        if self.hidden_size is not None:
            parts.append(f"d={self.hidden_size}")
        if self.rng != "pcg64":
            parts.append(f"rng={self.rng}")
        word = "untrained" if self.scores_untrained_logits else "chosen"
        if self.trained_inputs_below is not None:
            parts.append(f"trained inputs<{self.trained_inputs_below}")
        if self.input_tokens:
            parts.append(f"{word} inputs={len(self.input_tokens)}")
        if self.output_tokens:
            parts.append(f"{word} logit tokens={len(self.output_tokens)}")
        if self.source_sha256:
            parts.append(f"file sha256={self.source_sha256[:12]}")
        return f"{' '.join(parts)} [{self.hash}]"

    @property
    def scores_untrained_logits(self) -> bool:
        """True when the recorded logits are of padding tokens past the tokenizer, which the lineage test scores.

        Such rows are never an input or a target, so training treats them all alike and their
        labels stay exchangeable in any model with this tokenizer: the vocab-side null is exact.
        Logits of tokens picked any other way (older "rare" specs: a reference's lowest-logit
        tokens) carry what training taught them, and are not scored.
        """
        return bool(self.output_tokens) and self.untrained_from is not None and min(self.output_tokens) >= self.untrained_from

    def row_groups(self) -> np.ndarray | None:
        """Group of each of the ``n`` rows (0: trained-token inputs, 1: padding-row inputs), or None for one group.

        The lineage test ranks each group's rows on their own, so that a group whose inputs carry
        nothing in some model (collapsed or zeroed padding rows) can be left out without touching the other.
        """
        if self.trained_inputs_below is None:
            return None
        return np.arange(self.n, dtype=np.int64) % 2

    @property
    def picked_by_a_model(self) -> bool:
        """True for the rare-token probes of seedprints before 0.2: tokens a reference model picked, none certified untrained."""
        return bool(self.output_tokens) and self.untrained_from is None

    @property
    def from_file(self) -> bool:
        """True for probes read from a user's file (token ids or texts): only that file, checked by its hash, gives them."""
        return self.kind in _FILE_KINDS

    @property
    def draws_token_ids(self) -> bool:
        """True for generated token ids (below ``vocab_bound``, or from ``input_tokens``): a model's vocabulary must hold them."""
        return self.kind == "token"

    @property
    def max_token_id(self) -> int | None:
        """The largest id generated token probes feed or score (None for other probes): a model's vocabulary must hold it."""
        if not self.draws_token_ids:
            return None
        used = [*(self.input_tokens or ()), *(self.output_tokens or ())]
        return max(used) if used else int(self.vocab_bound) - 1  # type: ignore[arg-type]

    @property
    def feeds_embeddings(self) -> bool:
        """True for Gaussian vectors fed as ``inputs_embeds``: a model must be ``hidden_size`` wide to take them."""
        return self.kind == "embedding"

    @property
    def needs_tokenizer(self) -> bool:
        """True for texts, which each model's own tokenizer encodes into token ids."""
        return self.kind == "text-file"

    @property
    def extendable(self) -> bool:
        """Row i does not depend on n (generated probes, per-row PCG64 streams): a spec of n rows is a prefix of one of more."""
        return not self.from_file and self.rng == "pcg64"

    def with_n(self, n: int) -> "ProbeSpec":
        """The same probes with ``n`` rows: the first ``min(n, self.n)`` rows of both are identical.

        Raises UsageError for probes read from a file or drawn by the torch generator, which have no
        such prefix property.
        """
        if not self.extendable:
            raise UsageError(
                f"probes {self.describe()} cannot change their count: only generated token or embedding probes "
                "(rng pcg64) draw each row on its own; fingerprint again with the probe count you need"
            )
        return dataclasses.replace(self, n=int(n))

    def differs_only_in_n(self, other: "ProbeSpec") -> bool:
        """True when ``other`` is these probes with another count (so the shorter is a prefix of the longer)."""
        return self.extendable and other.extendable and dataclasses.replace(other, n=self.n) == self

    def at_n_of(self, specs: Iterable["ProbeSpec"]) -> "ProbeSpec":
        """The first of ``specs`` that is these probes at some count (a registry's N for the same vocabulary), else
        this spec: so a model joins the entries it can be tested against without re-fingerprinting them."""
        return next((spec for spec in specs if spec == self or self.differs_only_in_n(spec)), self)


def _check_spec(spec: ProbeSpec) -> None:
    """Refuse impossible specs with a message that names the field."""
    if spec.kind not in _KINDS:
        raise UsageError(f"unknown probe kind {spec.kind!r}; use one of {', '.join(_KINDS)}")
    if spec.n < MIN_PROBES:
        raise UsageError(f"probe count n={spec.n} is too small; use at least {MIN_PROBES} (the paper uses 2000)")
    if spec.length < 1:
        raise UsageError(f"probe length L={spec.length} must be at least 1")
    if spec.kind == "token" and (spec.vocab_bound is None or spec.vocab_bound < 2):
        raise UsageError(f"token probes need vocab_bound >= 2 (got {spec.vocab_bound})")
    if spec.kind == "embedding":
        if spec.hidden_size is None or spec.hidden_size < 1:
            raise UsageError(f"embedding probes need hidden_size >= 1 (got {spec.hidden_size})")
        if spec.std is None or not spec.std > 0 or spec.mean is None or not math.isfinite(spec.mean):
            raise UsageError(f"embedding probes need a finite mean and std > 0 (got {spec.mean}, {spec.std})")
        if spec.rng != "pcg64":
            raise UsageError("embedding probes support only rng='pcg64'")
    if spec.from_file and not spec.source_sha256:
        raise UsageError(f"{spec.kind} probes need the file's sha256")
    if spec.rng not in ("pcg64", "torch"):
        raise UsageError(f"unknown probe rng {spec.rng!r}; use 'pcg64' or 'torch'")
    for name in ("input_tokens", "output_tokens"):
        tokens = getattr(spec, name)
        if tokens is None:
            continue
        if spec.kind != "token" or spec.rng != "pcg64":
            raise UsageError(f"{name} go with token probes and rng='pcg64' only")
        if len(tokens) < 2 or len(set(tokens)) != len(tokens) or min(tokens) < 0 or max(tokens) >= spec.vocab_bound:
            raise UsageError(f"{name} must be at least 2 distinct token ids below vocab_bound={spec.vocab_bound}")
    if spec.input_tokens and spec.output_tokens and set(spec.input_tokens) & set(spec.output_tokens):
        raise UsageError("input_tokens and output_tokens must be disjoint (a token fed in and scored out breaks the null)")
    if spec.untrained_from is not None and not (
        spec.kind == "token" and spec.output_tokens and 0 < spec.untrained_from <= min(spec.output_tokens)
    ):
        raise UsageError(f"untrained_from={spec.untrained_from} must be a token id above 0 at or below every output token")
    if spec.trained_inputs_below is not None and not (
        spec.input_tokens and spec.untrained_from is not None and 2 <= spec.trained_inputs_below <= spec.untrained_from
    ):
        raise UsageError(f"trained_inputs_below={spec.trained_inputs_below} goes with input_tokens and must lie in "
                         "2..untrained_from (ids the tokenizer encodes)")


def token_spec(n: int, length: int, vocab_bound: int, seed: int = DEFAULT_PROBE_SEED, rng: str = "pcg64") -> ProbeSpec:
    """Spec of N uniform random token sequences of length L over ``[0, vocab_bound)``."""
    return ProbeSpec(kind="token", n=n, length=length, seed=seed, vocab_bound=vocab_bound, rng=rng)  # type: ignore[arg-type]


MIN_UNTRAINED_ROWS = 16  # 8 inputs and 8 scored outputs: the least the vocab part can test
MAX_UNTRAINED_TOKENS = 128


def untrained_token_spec(
    n: int, length: int, vocab_rows: int, tokenizer_length: int | None, *, seed: int = DEFAULT_PROBE_SEED,
    max_tokens: int = MAX_UNTRAINED_TOKENS,
) -> ProbeSpec:
    """The default probes of a vocabulary: a function of its sizes and public parameters only.

    With at least :data:`MIN_UNTRAINED_ROWS` embedding rows past the tokenizer (a padded vocabulary),
    even probes are uniform over the tokenizer's first ``min(length, 32000)`` ids and odd probes are
    sequences of every other padding row, and the logits of the padding rows between are recorded (up
    to ``max_tokens`` each): tokens no model with this tokenizer ever trained. Padding rows keep their
    init in models trained briefly, which the odd probes read; in long-trained real models they
    collapse, and the even probes still carry the hidden part. Without padding (or with no tokenizer
    to tell), the probes are uniform over the first ``min(rows, 32000)`` ids and record no logits;
    the lineage test then cannot see through a hidden-dimension permutation.
    """
    padded = vocab_rows - tokenizer_length if tokenizer_length is not None else 0
    if padded < MIN_UNTRAINED_ROWS:
        return token_spec(n, length, default_vocab_bound(vocab_rows), seed=seed)
    rows = range(tokenizer_length, vocab_rows)  # type: ignore[arg-type]
    return ProbeSpec(kind="token", n=n, length=length, seed=seed, vocab_bound=vocab_rows,
                     input_tokens=tuple(rows[0::2][:max_tokens]), output_tokens=tuple(rows[1::2][:max_tokens]),
                     untrained_from=tokenizer_length,
                     trained_inputs_below=default_vocab_bound(tokenizer_length))  # type: ignore[arg-type]


def embedding_spec(
    n: int, length: int, hidden_size: int, seed: int = DEFAULT_PROBE_SEED, mean: float = 0.0, std: float = 0.02
) -> ProbeSpec:
    """Spec of N Gaussian ``[L, d]`` input-embedding sequences (the paper's embedding probes)."""
    return ProbeSpec(kind="embedding", n=n, length=length, seed=seed, hidden_size=hidden_size, mean=mean, std=std)


def default_vocab_bound(vocab_size: int) -> int:
    """The paper bounds token ids by 32000; a smaller vocabulary uses its own size."""
    return min(int(vocab_size), DEFAULT_VOCAB_CAP)


def _row_words(seed: int, row: int, count: int) -> np.ndarray:
    """``count`` raw uint64 words of row ``row``'s own PCG64 stream (stable across numpy versions)."""
    seq = np.random.SeedSequence(entropy=seed, spawn_key=(row,))
    return np.random.PCG64(seq).random_raw(count).astype(np.uint64)


def _uniform_ids(words: np.ndarray, bound: int) -> np.ndarray:
    """Map uint64 words to ids in ``[0, bound)`` by multiply-high of their top 32 bits."""
    return (((words >> np.uint64(32)) * np.uint64(bound)) >> np.uint64(32)).astype(np.int64)


def _gaussians(words: np.ndarray) -> np.ndarray:
    """Box-Muller transform of pairs of uint64 words into standard normals (float64)."""
    half = words.size // 2
    u1 = ((words[:half] >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53  # in (0, 1]
    u2 = (words[half:] >> np.uint64(11)).astype(np.float64) * 2.0**-53
    radius = np.sqrt(-2.0 * np.log(u1))
    return np.concatenate([radius * np.cos(2 * np.pi * u2), radius * np.sin(2 * np.pi * u2)])


class Probes:
    """A probe spec together with whatever it needs to produce rows (a file's sequences or texts)."""

    def __init__(self, spec: ProbeSpec, sequences: list[np.ndarray] | None = None, texts: list[str] | None = None):
        self.spec = spec
        self._sequences = sequences
        self._texts = texts
        self._torch_ids: np.ndarray | None = None

    def __len__(self) -> int:
        return self.spec.n

    @property
    def needs_tokenizer(self) -> bool:
        """Text probes are encoded by each model's own tokenizer."""
        return self.spec.needs_tokenizer

    def token_ids(self, start: int, stop: int) -> list[np.ndarray]:
        """Token-id sequences of rows ``start:stop`` (token, token-file probes)."""
        spec = self.spec
        if spec.kind == "token" and spec.rng == "torch":
            return list(self._torch_token_ids()[start:stop])
        if spec.kind == "token" and spec.input_tokens:
            table = np.asarray(spec.input_tokens, dtype=np.int64)
            return [self._mixed_row(i, table) for i in range(start, stop)]
        if spec.kind == "token":
            return [_uniform_ids(_row_words(spec.seed, i, spec.length), spec.vocab_bound) for i in range(start, stop)]
        if spec.kind == "token-file":
            assert self._sequences is not None
            return self._sequences[start:stop]
        raise UsageError(f"{spec.kind} probes have no token ids")

    def _mixed_row(self, row: int, table: np.ndarray) -> np.ndarray:
        """Row ``row`` of a spec with chosen input tokens: from ``table``, or below the trained bound on even rows."""
        words = _row_words(self.spec.seed, row, self.spec.length)
        if self.spec.trained_inputs_below is not None and row % 2 == 0:
            return _uniform_ids(words, self.spec.trained_inputs_below)
        return table[_uniform_ids(words, len(table))]

    def texts(self, start: int, stop: int) -> list[str]:
        """Texts of rows ``start:stop`` (text-file probes)."""
        if self._texts is None:
            raise UsageError(f"{self.spec.kind} probes have no texts")
        return self._texts[start:stop]

    def embeddings(self, start: int, stop: int) -> np.ndarray:
        """Float32 ``[rows, L, d]`` input embeddings of rows ``start:stop`` (embedding probes)."""
        spec = self.spec
        if spec.kind != "embedding":
            raise UsageError(f"{spec.kind} probes have no embeddings")
        size = spec.length * spec.hidden_size
        rows = [
            (spec.mean + spec.std * _gaussians(_row_words(spec.seed, i, 2 * ((size + 1) // 2)))[:size])
            .astype(np.float32)
            .reshape(spec.length, spec.hidden_size)
            for i in range(start, stop)
        ]
        return np.stack(rows)

    def rows(self, start: int, stop: int) -> "Probes":
        """Rows ``start:stop`` as probes of their own (row j is row ``start + j`` here): to extract in rounds."""
        if not 0 <= start < stop <= len(self):
            raise UsageError(f"probe rows {start}:{stop} are outside 0:{len(self)}")
        return _RowWindow(self, start, stop)

    def _torch_token_ids(self) -> np.ndarray:
        """The reference code's probes: one torch.randint draw after torch.manual_seed(seed)."""
        if self._torch_ids is None:
            import torch

            generator = torch.Generator().manual_seed(self.spec.seed)
            ids = torch.randint(0, self.spec.vocab_bound, (self.spec.n, self.spec.length), generator=generator)
            self._torch_ids = ids.numpy()
        return self._torch_ids


class _RowWindow(Probes):
    """A contiguous range of another probe set's rows, indexed from 0 (see :meth:`Probes.rows`)."""

    def __init__(self, parent: Probes, start: int, stop: int):
        super().__init__(parent.spec)
        self._parent, self._start, self._stop = parent, start, stop

    def __len__(self) -> int:
        return self._stop - self._start

    def token_ids(self, start: int, stop: int) -> list[np.ndarray]:
        return self._parent.token_ids(self._start + start, self._start + stop)

    def texts(self, start: int, stop: int) -> list[str]:
        return self._parent.texts(self._start + start, self._start + stop)

    def embeddings(self, start: int, stop: int) -> np.ndarray:
        return self._parent.embeddings(self._start + start, self._start + stop)


def generated(spec: ProbeSpec) -> Probes:
    """Probes of a token or embedding spec (nothing to load)."""
    if spec.from_file:
        raise UsageError(f"{spec.kind} probes come from a file; use seedprints.probe_files.load_probe_file")
    return Probes(spec)


def probes_for(spec: ProbeSpec, file: Probes | None) -> ProbeSpec | Probes | None:
    """What runs ``spec``: the spec itself when its probes are generated, else ``file`` (a loaded probe file) when it
    holds exactly those probes, else None (the file is missing or another one)."""
    if not spec.from_file:
        return spec
    return file if file is not None and file.spec == spec else None
