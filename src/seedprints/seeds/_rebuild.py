"""Rebuild a model exactly as the framework initialises it under a seed, and fingerprint it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seedprints.errors import ModelLoadError, UsageError, compact_message
from seedprints.fingerprint import Fingerprint
from seedprints.options import RunOptions
from seedprints.probes import Probes, ProbeSpec
from seedprints.seeds._config import check_config, config_sha256, load_config

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel


INIT_METHODS: tuple[str, ...] = ("transformers",)
"""How a model can be initialised: ``"transformers"`` = ``AutoModelForCausalLM.from_config`` under ``torch.manual_seed``."""

MAX_SEED = 2**64 - 1  # torch.manual_seed takes seeds in [0, 2**64)


def init_model_from_config(
    config: Mapping[str, Any] | PretrainedConfig | str | Path, seed: int, *, init: str = "transformers"
) -> PreTrainedModel:
    """Return the model exactly as transformers initialises it under ``torch.manual_seed(seed)``.

    Parameters
    ----------
    config : dict, transformers.PretrainedConfig, or path
        The architecture: a config, its dict, a ``config.json`` file or a model directory.
    seed : int
        The init seed, in ``[0, 2**64)``.
    init : str
        How to initialise (:data:`INIT_METHODS`): ``"transformers"``, i.e.
        ``AutoModelForCausalLM.from_config(config, dtype=torch.float32)`` on the CPU.

    Returns
    -------
    transformers.PreTrainedModel
        The causal LM, float32, on the CPU, in eval mode. The caller's global RNG state is untouched.

    Raises
    ------
    UsageError
        Unknown ``init`` or a seed out of range.
    ModelLoadError
        A bad config, or one transformers has no causal LM for.

    Examples
    --------
    >>> cfg = {"model_type": "llama", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
    ...        "intermediate_size": 64, "vocab_size": 100}
    >>> a, b = init_model_from_config(cfg, 7), init_model_from_config(cfg, 7)
    >>> bool((a.lm_head.weight == b.lm_head.weight).all())
    True
    """
    check_init(init)
    if not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise UsageError(f"seed {seed!r} is out of range; torch seeds are integers in [0, 2**64)")
    cfg = load_config(config)
    import torch
    from transformers import AutoModelForCausalLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
        except (ValueError, RuntimeError) as exc:  # RuntimeError: the allocator's "can't allocate memory"
            raise ModelLoadError(
                f"transformers cannot build a causal LM from this {cfg.model_type!r} config ({compact_message(exc)}); "
                "correct the config or free memory"
            ) from exc
    return model.eval()


def init_metadata(config_sha: str, seed: int, init: str = "transformers") -> dict[str, str]:
    """Header fields that say how a candidate init was made: method, seed, config SHA-256 and framework versions."""
    import torch
    import transformers

    return {
        "init_method": init,
        "init_seed": str(seed),
        "init_config_sha256": config_sha,
        "init_framework": f"transformers {transformers.__version__}, torch {torch.__version__}",
    }


def fingerprint_init(
    model: Any,
    probes: ProbeSpec | Probes,
    *,
    seed: int,
    config_sha: str,
    init: str = "transformers",
    run: RunOptions | None = None,
) -> Fingerprint:
    """Fingerprint one model made by :func:`init_model_from_config` (run as ``run`` says), its header naming the seed
    and config."""
    from seedprints import pipeline  # scipy: only when a model is fingerprinted

    fp = pipeline.fingerprint_model(model, probes, run=run)
    metadata = {**fp.metadata, "model_revision": f"seed-{seed}", **init_metadata(config_sha, seed, init)}
    model_type = metadata.get("model_type") or "model"
    return dataclasses.replace(fp, model_id=f"{model_type}-init-{config_sha[:12]}-seed-{seed}", metadata=metadata)


def fingerprint_seeds(
    config: Mapping[str, Any] | PretrainedConfig | str | Path,
    seeds: Iterable[int],
    probes: ProbeSpec | Probes,
    *,
    init: str = "transformers",
    run: RunOptions | None = None,
) -> Iterator[Fingerprint]:
    """Yield the fingerprint of the init of each seed, in order, with the same probes.

    Parameters
    ----------
    config : dict, transformers.PretrainedConfig, or path
        The architecture (see :func:`init_model_from_config`).
    seeds : iterable of int
        Candidate init seeds.
    probes : ProbeSpec or Probes
        The probes, e.g. a suspect's ``spec`` so each candidate can be tested against it.
    init : str
        Init method (:data:`INIT_METHODS`).
    run : RunOptions, optional
        How each init runs on the probes (device, batch size); default :class:`RunOptions`'s.

    Examples
    --------
    >>> from seedprints.probes import token_spec
    >>> cfg = {"model_type": "llama", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
    ...        "intermediate_size": 64, "vocab_size": 100}
    >>> [fp.metadata["init_seed"] for fp in fingerprint_seeds(cfg, [3, 4], token_spec(20, 8, 100))]
    ['3', '4']
    """
    check_init(init)
    cfg = check_config(config)
    sha = config_sha256(cfg)
    for seed in seeds:
        model = init_model_from_config(cfg, seed, init=init)
        yield fingerprint_init(model, probes, seed=seed, config_sha=sha, init=init, run=run)


def check_init(init: str) -> None:
    if init not in INIT_METHODS:
        raise UsageError(f"unknown init method {init!r}; known: {', '.join(INIT_METHODS)}")
