"""Candidate init seeds: rebuild a model exactly as the framework initialises it under a seed, and fingerprint it.

The init seed is a model's lineage root. Given an architecture's config, :func:`init_model_from_config`
rebuilds the weights transformers draws under ``torch.manual_seed(seed)``, bit for bit, so any number
of candidate seeds can be fingerprinted (:func:`fingerprint_seeds`) and registered
(:func:`register_seeds`); ``seedprints identify`` then says from which of them a trained model grew.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seedprints.errors import ModelLoadError, RegistryError, UsageError, compact_message
from seedprints.fingerprint import Fingerprint
from seedprints.inputs import load_json, short_repr, special_file
from seedprints.options import ProbeOptions, RunOptions
from seedprints.probes import Probes, ProbeSpec
from seedprints.registry.entries import check_name, check_tags

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel

    from seedprints.registry import Registry, RegistryEntry

__all__ = [
    "INIT_METHODS",
    "MAX_SEEDS",
    "RegisterReport",
    "check_config",
    "check_prefix",
    "check_seed_tags",
    "config_sha256",
    "fingerprint_init",
    "fingerprint_seeds",
    "init_metadata",
    "init_model_from_config",
    "load_config",
    "parse_seeds",
    "register_seeds",
    "seed_entry_name",
]

INIT_METHODS: tuple[str, ...] = ("transformers",)
"""How a model can be initialised: ``"transformers"`` = ``AutoModelForCausalLM.from_config`` under ``torch.manual_seed``."""

MAX_SEEDS = 1_000_000
"""Most seeds one :func:`parse_seeds` call accepts (register more in several runs)."""

_MAX_SEED = 2**64 - 1  # torch.manual_seed takes seeds in [0, 2**64)
# keys that say where a config came from, not what it builds (the init is float32 whatever `dtype` says)
_PROVENANCE_KEYS = ("_name_or_path", "_commit_hash", "architectures", "dtype", "torch_dtype", "transformers_version")
_SEED_PART = re.compile(r"^(\d+)(?:-(\d+))?$")
_MAX_SEED_DIGITS = len(str(_MAX_SEED))
# sizes a config may leave out or set to null, but never to anything but a positive integer (vocab_size: at least 2)
_SIZE_KEYS = (
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "head_dim", "max_position_embeddings", "n_embd", "n_layer", "n_head", "n_inner", "n_positions", "d_model",
)


# ----------------------------------------------------------------------------------------------------------------------
# Configs and seeds


def load_config(config: Mapping[str, Any] | PretrainedConfig | str | Path) -> PretrainedConfig:
    """Turn a config dict, a ``config.json`` file, or a model directory holding one into a transformers config.

    Raises
    ------
    ModelLoadError
        The file is missing, a pipe or device, unreadable or not JSON; a size is not a positive integer or
        the dtype is not a torch dtype; or transformers does not know its ``model_type`` or refuses a value.
    """
    from huggingface_hub.errors import StrictDataclassError
    from transformers import AutoConfig, PretrainedConfig

    from seedprints.model.hf import quiet_transformers

    if isinstance(config, PretrainedConfig):
        return config
    where = "config"
    if isinstance(config, (str, Path)):
        path = Path(config)
        path = path / "config.json" if path.is_dir() else path
        where = str(path)
        if special_file(path):
            raise ModelLoadError(f"config {path} is not a regular file (a pipe or device); pass a model's config.json")
        try:
            config = load_json(path.read_bytes())
        except FileNotFoundError as exc:
            raise ModelLoadError(f"config file {path} does not exist; pass a model's config.json") from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"{path} is not a readable JSON file ({exc}); pass a model's config.json") from exc
    if not isinstance(config, Mapping):
        raise ModelLoadError(f"{where} must be a JSON object with a model_type, got {type(config).__name__}")
    values = dict(config)
    model_type = values.pop("model_type", None)
    if model_type is None:
        raise ModelLoadError(f"{where} has no model_type; pass a transformers model config (config.json)")
    if not isinstance(model_type, str) or not model_type:
        raise ModelLoadError(f"{where}: model_type {short_repr(model_type)} is not a name such as \"llama\"; correct the config")
    _check_values(values, where)
    try:
        with quiet_transformers():  # its warnings about odd values would precede our one-line error
            return AutoConfig.for_model(model_type, **values)
    except (ValueError, KeyError, TypeError, AttributeError, StrictDataclassError) as exc:
        raise ModelLoadError(
            f"{where}: transformers cannot build a {model_type!r} config ({compact_message(exc)}); correct the config"
        ) from exc


def check_config(config: Mapping[str, Any] | PretrainedConfig | str | Path) -> PretrainedConfig:
    """:func:`load_config`, then build the model on PyTorch's meta device (no memory, no RNG) to refuse, before any
    work, a config transformers cannot build or one whose float32 weights would not fit in this machine's memory.

    Raises
    ------
    ModelLoadError
        As :func:`load_config`, or transformers has no causal LM for the config, or the model is too large.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from seedprints.model.hf import quiet_transformers

    cfg = load_config(config)
    try:
        with quiet_transformers(), torch.device("meta"):
            model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    except Exception as exc:  # noqa: BLE001 - any failure of transformers on a stranger's config is a bad config
        raise ModelLoadError(
            f"transformers cannot build a causal LM from this {cfg.model_type!r} config ({compact_message(exc)}); correct the config"
        ) from exc
    count = sum(p.numel() for p in model.parameters())
    memory = _memory_bytes()
    if memory is not None and 4 * count > memory:
        raise ModelLoadError(
            f"this {cfg.model_type!r} config makes a model of {count:,} parameters ({_gigabytes(4 * count)} in float32), "
            f"more than this machine's {_gigabytes(memory)} of memory; check its sizes (vocab_size, hidden_size, layers) "
            "or use a machine with more memory"
        )
    return cfg


def default_probes(config: str | Path, cfg: PretrainedConfig, options: ProbeOptions) -> ProbeSpec:
    """The default probes of the architecture ``cfg`` (read from ``config``, a config file or its folder): the spec a
    default fingerprint of a model of that vocabulary has, its tokenizer length read from the tokenizer files beside
    the config."""
    from seedprints.model.metadata import directory_tokenizer_length  # torch and transformers

    config = Path(config)
    tokenizer_length = directory_tokenizer_length(config if config.is_dir() else config.parent)
    return options.spec_for([getattr(cfg, "vocab_size", None)], int(getattr(cfg, "hidden_size", 0) or 0), tokenizer_length)


def config_sha256(config: Mapping[str, Any] | PretrainedConfig | str | Path) -> str:
    """SHA-256 of the canonical JSON of what a config builds (provenance keys such as versions left out)."""
    values = {k: v for k, v in load_config(config).to_dict().items() if k not in _PROVENANCE_KEYS}
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def parse_seeds(text: str) -> list[int]:
    """Parse a seed list such as ``"0-999"``, ``"1,5,9"`` or ``"0-9,100"`` into sorted distinct seeds.

    Raises
    ------
    UsageError
        Empty parts, anything but non-negative integers and ``a-b`` ranges with ``a <= b``, seeds of
        2**64 or more, or more than :data:`MAX_SEEDS` seeds.

    Examples
    --------
    >>> parse_seeds("0-3,10,2")
    [0, 1, 2, 3, 10]
    """
    seeds: set[int] = set()
    for part in str(text).split(","):
        match = _SEED_PART.match(part.strip())
        if not match:
            raise UsageError(
                f"bad seed list {short_repr(text)}: {short_repr(part.strip())} is not a seed or a range; write e.g. 0-999 or 1,5,9"
            )
        if any(len(digits.lstrip("0")) > _MAX_SEED_DIGITS for digits in match.groups() if digits is not None):
            raise UsageError(f"seed {short_repr(part.strip())} is too large; torch seeds are below 2**64")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise UsageError(f"bad seed range {part.strip()!r}: the end is below the start; write e.g. {high}-{low}")
        if high > _MAX_SEED:
            raise UsageError(f"seed {high} is too large; torch seeds are below 2**64")
        if len(seeds) + (high - low + 1) > MAX_SEEDS:
            raise UsageError(f"seed list {short_repr(text)} has more than {MAX_SEEDS} seeds; register them in several runs")
        seeds.update(range(low, high + 1))
    return sorted(seeds)


# ----------------------------------------------------------------------------------------------------------------------
# Init and fingerprints


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
    _check_init(init)
    if not isinstance(seed, int) or not 0 <= seed <= _MAX_SEED:
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
    device: str = "auto",
    batch_size: int = 32,
) -> Fingerprint:
    """Fingerprint one model made by :func:`init_model_from_config`, its header naming the seed and config."""
    from seedprints import pipeline  # scipy: only when a model is fingerprinted

    fp = pipeline.fingerprint_model(model, probes, run=RunOptions(device=device, batch_size=batch_size))
    metadata = {**fp.metadata, "model_revision": f"seed-{seed}", **init_metadata(config_sha, seed, init)}
    model_type = metadata.get("model_type") or "model"
    return dataclasses.replace(fp, model_id=f"{model_type}-init-{config_sha[:12]}-seed-{seed}", metadata=metadata)


def fingerprint_seeds(
    config: Mapping[str, Any] | PretrainedConfig | str | Path,
    seeds: Iterable[int],
    probes: ProbeSpec | Probes,
    *,
    init: str = "transformers",
    device: str = "auto",
    batch_size: int = 32,
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
    init, device, batch_size
        Init method and forward-pass settings.

    Examples
    --------
    >>> from seedprints.probes import token_spec
    >>> cfg = {"model_type": "llama", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
    ...        "intermediate_size": 64, "vocab_size": 100}
    >>> [fp.metadata["init_seed"] for fp in fingerprint_seeds(cfg, [3, 4], token_spec(20, 8, 100))]
    ['3', '4']
    """
    _check_init(init)
    cfg = check_config(config)
    sha = config_sha256(cfg)
    for seed in seeds:
        model = init_model_from_config(cfg, seed, init=init)
        yield fingerprint_init(model, probes, seed=seed, config_sha=sha, init=init, device=device, batch_size=batch_size)


# ----------------------------------------------------------------------------------------------------------------------
# Registration


def seed_entry_name(prefix: str, seed: int) -> str:
    """Registry name of a candidate seed: ``{prefix}seed-{seed}``."""
    return f"{prefix}seed-{seed}"


@dataclasses.dataclass(frozen=True)
class RegisterReport:
    """What :func:`register_seeds` did.

    Attributes
    ----------
    registry : str
        The registry file.
    config_sha256 : str
        SHA-256 of the config every entry was initialised from.
    probe_hash : str
        Hash of the probes every entry was fingerprinted with.
    added, skipped : list of str
        Entry names registered now, and those already registered with the same config, init and probes.
    """

    registry: str
    config_sha256: str
    probe_hash: str
    added: list[str]
    skipped: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _same_candidate(entry: RegistryEntry, probe_hash: str, tags: Mapping[str, str]) -> bool:
    return entry.probe_hash == probe_hash and all(entry.tags.get(k) == v for k, v in tags.items())


def register_seeds(
    registry: Registry,
    config: Mapping[str, Any] | PretrainedConfig | str | Path,
    seeds: Iterable[int],
    probes: ProbeSpec | Probes,
    *,
    init: str = "transformers",
    prefix: str = "",
    tags: Mapping[str, str] | None = None,
    device: str = "auto",
    batch_size: int = 32,
    on_seed: Callable[[int, bool], Any] | None = None,
) -> RegisterReport:
    """Fingerprint the init of each seed and register it as ``{prefix}seed-{k}``, resuming an earlier run.

    Each entry is tagged ``seed=k``, ``init=<init>``, ``config=<config SHA-256>`` plus ``tags``. A name
    already registered with the same probes and those tags is skipped; any other entry of that name
    stops the run before anything is computed.

    Parameters
    ----------
    registry : Registry
        An open registry (:class:`seedprints.registry.Registry`).
    config, seeds, probes, init, device, batch_size
        As for :func:`fingerprint_seeds`.
    prefix : str
        Prepended to every entry name.
    tags : mapping of str to str, optional
        Extra tags for every entry; they may not redefine ``seed``, ``init`` or ``config``.
    on_seed : callable, optional
        Called as ``on_seed(seed, added)`` after each seed (e.g. to advance a progress bar).

    Returns
    -------
    RegisterReport

    Raises
    ------
    RegistryError
        A name is taken by an entry of other probes, config, init or tags.
    UsageError
        Unknown ``init``, a ``prefix`` that makes bad entry names, or ``tags`` that redefine ``seed``, ``init`` or
        ``config``.
    TypeError
        ``prefix`` not a str, or ``tags`` not a mapping of str to str.
    """
    _check_init(init)
    extra = check_seed_tags(tags)
    seeds = list(seeds)
    check_prefix(prefix, seeds)
    cfg = load_config(config)
    sha = config_sha256(cfg)
    spec = probes.spec if isinstance(probes, Probes) else probes
    wanted = {seed: {**extra, "seed": str(seed), "init": init, "config": sha} for seed in seeds}
    existing = {e.name: e for e in registry.entries()}
    todo: list[int] = []
    skipped: list[str] = []
    for seed in seeds:
        name = seed_entry_name(prefix, seed)
        entry = existing.get(name)
        if entry is None:
            todo.append(seed)
        elif _same_candidate(entry, spec.hash, wanted[seed]):
            skipped.append(name)
        else:
            raise RegistryError(
                f"registry {registry.path} already has an entry {name!r} made otherwise (other probes, config, init or "
                "tags); choose another --name-prefix or remove it"
            )
    for seed in seeds:
        if seed not in todo and on_seed is not None:
            on_seed(seed, False)
    added: list[str] = []
    for seed, fp in zip(todo, fingerprint_seeds(cfg, todo, probes, init=init, device=device, batch_size=batch_size)):
        name = seed_entry_name(prefix, seed)
        registry.add(fp, name=name, tags=wanted[seed])
        added.append(name)
        if on_seed is not None:
            on_seed(seed, True)
    return RegisterReport(registry=str(registry.path), config_sha256=sha, probe_hash=spec.hash, added=added, skipped=skipped)


def check_seed_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """Extra tags for candidate seeds, checked as registry tags; ``seed``, ``init`` and ``config`` are set by
    :func:`register_seeds` itself (UsageError)."""

    extra = check_tags(tags)
    reserved = sorted({"seed", "init", "config"} & set(extra))
    if reserved:
        raise UsageError(f"tag(s) {', '.join(reserved)} are set by seeds register itself; use other tag names")
    return extra


def check_prefix(prefix: str, seeds: list[int], *, option: str | None = None) -> None:
    """Refuse a name prefix that makes bad entry names (see :func:`seedprints.registry.entries.check_name`) before any
    work; ``option`` names the CLI flag that gave it, for advice."""

    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    if seeds:
        check_name(seed_entry_name(prefix, max(seeds)), option=option)  # the longest name; the prefix is the rest


def _check_init(init: str) -> None:
    if init not in INIT_METHODS:
        raise UsageError(f"unknown init method {init!r}; known: {', '.join(INIT_METHODS)}")


def _check_values(values: Mapping[str, Any], where: str) -> None:
    """Refuse sizes that are not positive integers and unknown dtypes before transformers warns about them."""
    import torch

    for key in _SIZE_KEYS:
        value = values.get(key)
        least = 2 if key == "vocab_size" else 1
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < least):
            raise ModelLoadError(f"{where}: {key} must be an integer of at least {least}, not {short_repr(value)}; correct the config")
    for key in ("dtype", "torch_dtype"):
        value = values.get(key)
        known = isinstance(value, torch.dtype) or value in (None, "auto") or (
            isinstance(value, str) and isinstance(getattr(torch, value, None), torch.dtype))
        if not known:
            raise ModelLoadError(f"{where}: {key} {short_repr(value)} is not a torch dtype; write e.g. \"float32\" or remove it")


def _memory_bytes() -> int | None:
    """This machine's physical memory, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _gigabytes(count: int) -> str:
    return f"{count / 1e9:,.1f} GB"
