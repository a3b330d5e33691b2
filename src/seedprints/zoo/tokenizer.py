"""A deterministic byte-level BPE tokenizer for the zoo, trained offline on every corpus domain.

Real LLM tokenizers are fitted on other text than any one model's training data, so every real
model has tokens it rarely or never saw; their embedding rows keep the initialisation. The zoo
reproduces that: the vocabulary is fitted on a mixture of **all** domains of
:mod:`seedprints.zoo.corpora`, while each zoo model trains on one domain, and the 256 byte tokens
include many bytes that never occur at all.

Special tokens take the first ids: ``<|pad|>`` = 0, ``<|bos|>`` = 1, ``<|eos|>`` = 2. No
special token is added automatically when encoding; :func:`seedprints.zoo.batches.iter_batches` puts
``<|eos|>`` between documents itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seedprints.errors import ZooConfigError
from seedprints.zoo.corpora import DOMAINS, load_documents

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

__all__ = [
    "BOS_ID",
    "BOS_TOKEN",
    "EOS_ID",
    "EOS_TOKEN",
    "MIN_VOCAB",
    "PAD_ID",
    "PAD_TOKEN",
    "SPECIAL_TOKENS",
    "build_tokenizer",
]

PAD_TOKEN, BOS_TOKEN, EOS_TOKEN = "<|pad|>", "<|bos|>", "<|eos|>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN)
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2

_MIN_CHARS_PER_DOMAIN = 1_000_000
_CHARS_PER_VOCAB_ENTRY = 250  # 32000 tokens need ~8 MB of text with min_frequency=2
MIN_VOCAB = len(SPECIAL_TOKENS) + 256
"""Smallest vocabulary :func:`build_tokenizer` makes: the special tokens and the 256 byte tokens."""


def _mixture(seed: int, chars_per_domain: int) -> list[str]:
    """Documents of every domain, about ``chars_per_domain`` characters from each, interleaved."""
    per_domain: list[list[str]] = []
    for domain in DOMAINS:
        taken: list[str] = []
        size = 0
        for doc in load_documents(domain, seed=seed):
            if size >= chars_per_domain:
                break
            taken.append(doc)
            size += len(doc)
        per_domain.append(taken)
    mixed: list[str] = []
    for i in range(max(len(docs) for docs in per_domain)):
        mixed.extend(docs[i] for docs in per_domain if i < len(docs))
    return mixed


def build_tokenizer(
    vocab_size: int = 4096, *, seed: int = 0, chars_per_domain: int | None = None
) -> PreTrainedTokenizerFast:
    """Train the zoo's byte-level BPE tokenizer (deterministic, offline, nothing cached).

    Parameters
    ----------
    vocab_size : int, optional
        Target vocabulary size, special tokens and the 256 byte tokens included. Default 4096.
        BPE stops early if the mixture runs out of pairs seen twice (``len(tokenizer)`` then
        falls short: e.g. ~19400 for 32000 with ``chars_per_domain=1_000_000``).
    seed : int, optional
        Seed of the document shuffle that picks the training mixture. Default 0.
    chars_per_domain : int or None, optional
        About how many characters of each domain the BPE is fitted on (all of a smaller domain:
        ``"prose"`` has ~1.4 MB, ``"topics"`` ~0.46 MB). Default ``None``:
        ``max(1_000_000, 250 * vocab_size)``, which reaches 32000 tokens (all domains, ~8 MB).

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        With ``pad_token`` / ``bos_token`` / ``eos_token`` set (ids 0, 1, 2); encoding adds no
        special tokens.

    Raises
    ------
    ZooConfigError
        If ``vocab_size`` is smaller than 259 (3 special tokens + 256 bytes) or
        ``chars_per_domain`` is not positive.

    Notes
    -----
    The mixture interleaves the documents of all domains, so tokens frequent in ``"code"``
    (indentation runs, ``self``) are rare in ``"prose"`` and vice versa, and byte tokens of
    characters absent from the Python sources are never seen by any model. Training is
    deterministic for a given ``tokenizers`` version, whatever the thread count (pinned by a
    golden hash in the tests). About 3 s on a 2-core CPU for the default size, most of it the
    first parse of the standard library in the process (kept in memory afterwards).

    Examples
    --------
    >>> tok = build_tokenizer(512, chars_per_domain=20_000)
    >>> len(tok), tok.bos_token_id, tok.eos_token_id, tok.pad_token_id
    (512, 1, 2, 0)
    """
    if vocab_size < MIN_VOCAB:
        raise ZooConfigError(f"vocab_size must be >= {MIN_VOCAB} (3 special + 256 bytes), got {vocab_size}")
    if chars_per_domain is None:
        chars_per_domain = max(_MIN_CHARS_PER_DOMAIN, _CHARS_PER_VOCAB_ENTRY * vocab_size)
    if chars_per_domain <= 0:
        raise ZooConfigError(f"chars_per_domain must be positive, got {chars_per_domain}")

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_mixture(seed, chars_per_domain), trainer=trainer)
    ids = [tok.token_to_id(t) for t in SPECIAL_TOKENS]
    if ids != [PAD_ID, BOS_ID, EOS_ID]:  # pragma: no cover - guards a tokenizers behaviour change
        raise RuntimeError(f"special tokens got ids {ids}, expected {[PAD_ID, BOS_ID, EOS_ID]}")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=PAD_TOKEN, bos_token=BOS_TOKEN, eos_token=EOS_TOKEN
    )
