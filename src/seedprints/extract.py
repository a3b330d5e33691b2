"""Run a model on probes and keep one vector per probe: the final hidden state at the last real position.

This is step 2 of the SeedPrints pipeline (arXiv 2509.26404): the model without its LM head reads
each probe, and the output of its final norm (``last_hidden_state``) at the last real position of
the sequence becomes one float32 row of the fingerprint. :func:`load_model` turns a local Hugging
Face model directory (never a hub download) or an in-memory torch module into a
:class:`LoadedModel`; :func:`extract_hidden_states` batches the probes through it; and
:func:`model_metadata` gives the strings stored in the fingerprint header.

This module imports torch and transformers at import time; the rest of the package imports it only
when a model has to run.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import inspect
import json
import os
import re
import shutil
import tempfile
import warnings
import weakref
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import transformers
from packaging.version import Version

from seedprints import fastpath, formats
from seedprints.errors import IncompatibleFingerprintsError, ModelLoadError, NonFiniteHiddenStatesError, UsageError
from seedprints.inputs import load_json, special_file
from seedprints.probes import Probes, ProbeSpec
from seedprints.progress import progress_bar
from seedprints.resume import Checkpoint

_DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_HALF = (torch.float16, torch.bfloat16)
_CONFIG_HASH_KEYS = ("model_type", "architectures", "hidden_size", "num_hidden_layers", "vocab_size")
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
)
_TOKENIZER_SIDE_FILES = ("special_tokens_map.json", "added_tokens.json", "merges.txt")  # read beside the above
_WEIGHT_FILES_HINT = "model.safetensors, model.safetensors.index.json or pytorch_model.bin"
# Weights a base model may lack or leave unused without changing ``last_hidden_state`` (BERT's pooler is not in
# *ForMaskedLM).
_HARMLESS_KEYS = re.compile(r"(^|\.)pooler\.")
# buffers that older checkpoints saved and today's transformers rebuilds (BERT's position_ids, Llama's rotary
# inv_freq, GPT-2's causal-mask attn.bias): extra, but not weights the config fails to describe
_SAVED_BUFFER_KEYS = re.compile(r"(^|\.)(position_ids|token_type_ids|inv_freq|masked_bias|attn\.bias)$")
_TRANSFORMERS_5 = Version(transformers.__version__).major >= 5
_DTYPE_KWARG = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"


@dataclasses.dataclass
class LoadedModel:
    """A model ready to read probes.

    Attributes
    ----------
    module : torch.nn.Module
        The inner model without LM head (e.g. ``LlamaModel``, ``BertModel``, ``GPT2Model``), in eval mode.
    tokenizer : transformers tokenizer or None
        The directory's tokenizer; None if it has none (only text probes need one).
    config : transformers.PretrainedConfig or None
        The model config; None for a plain torch module without one.
    model_id : str
        Where the model came from: the directory as given, or the module's name for an in-memory model.
    revision : str
        The git commit of the directory (or of its Hugging Face cache snapshot) if known, else the
        first 12 hex digits of the SHA-256 of ``config.json``; ``"in-memory"`` for a module.
    config_hash : str
        First 16 hex digits of the SHA-256 of the canonical JSON of the config's ``model_type``,
        ``architectures``, ``hidden_size``, ``num_hidden_layers`` and ``vocab_size``.
    hidden_size : int
        Width d of the hidden states.
    vocab_size : int or None
        Rows of the input embedding matrix (the largest valid token id + 1); None if unknown.
    dtype : torch.dtype
        Dtype of the forward pass.
    is_encoder : bool
        True for bidirectional encoders (BERT-style), False for causal decoders.
    unembedding : callable or None
        Loads the ``[V, d]`` output-embedding (LM head) matrix on demand; None when the model has none.
    weights_digest : str
        Short digest of the config and weight files (see :func:`seedprints.formats.weights_digest`), or of
        the parameters of an in-memory module: what partial results are keyed on.
    tokenizer_error : str or None
        Why the directory's tokenizer files did not load (None if they did or there are none); only
        text probes need them, so this is reported when text probes are run, not at load.
    """

    @property
    def tokenizer_length(self) -> int | None:
        """Token ids the tokenizer can produce (its largest id + 1), or None without a tokenizer."""
        return tokenizer_length(self.tokenizer)

    module: torch.nn.Module
    tokenizer: Any
    config: Any
    model_id: str
    revision: str
    config_hash: str
    hidden_size: int
    vocab_size: int | None
    dtype: torch.dtype
    is_encoder: bool
    unembedding: Callable[[], torch.Tensor] | None = None
    weights_digest: str = ""
    tokenizer_error: str | None = None


# ----------------------------------------------------------------------------------------------------------------------
# Loading


def load_model(
    source: str | os.PathLike[str] | torch.nn.Module,
    *,
    dtype: str = "auto",
    device: str = "cpu",
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    device_map: str | None = None,
    max_memory: dict[int | str, int | str] | None = None,
    base: str | os.PathLike[str] | None = None,
) -> LoadedModel:
    """Load a local model (directory, GGUF file or PEFT adapter) or wrap an in-memory module for extraction.

    Parameters
    ----------
    source : str, path or torch.nn.Module
        A local model directory (with ``config.json`` and weights; nothing is downloaded), a GGUF
        file (or a directory holding one; read by transformers' GGUF loader, which dequantises
        every tensor to float), a PEFT adapter directory (``adapter_config.json``; merged on load
        into its base model), or an in-memory module: a ``PreTrainedModel`` (its ``base_model`` is used, so a model with an LM head
        works) or any ``nn.Module`` that takes ``input_ids`` / ``inputs_embeds`` (and optionally
        ``attention_mask``) keyword arguments, or one tensor, and returns ``last_hidden_state``, a
        tuple whose first item is the hidden states, or a ``[batch, length, d]`` tensor. A plain
        module's width comes from ``module.config.hidden_size`` or else from one tiny forward pass.
        An in-memory module is switched to eval mode and, if ``dtype`` or ``device`` ask for it,
        cast or moved in place.
    dtype : {"auto", "float32", "bfloat16", "float16"}
        Dtype of the forward pass. ``"auto"`` runs half-precision checkpoints (config ``dtype`` /
        ``torch_dtype`` float16 or bfloat16; parameter dtype for a module) in bfloat16, because
        float16 overflows on long random sequences, and everything else in float32.
    device : str
        Torch device, e.g. ``"cpu"``, ``"cuda"``, ``"cuda:1"``.
    trust_remote_code : bool
        Allow a directory's own modelling code to run (a one-line warning names the directory).
        Only for code you trust.
    allow_pickle : bool
        Also load pickled weights (``.bin``, ``.pt``, ...), which can run code when loaded; by
        default only safetensors and GGUF weights load.
    device_map : str or None
        ``"auto"`` (or ``"balanced"``, ``"sequential"``) spreads the model over the GPUs and the CPU
        with accelerate, offloading what does not fit (then ``device`` is ignored); None keeps the
        whole model on ``device``.
    max_memory : dict or None
        With ``device_map``: the memory each device may use, e.g. ``{0: "20GiB", "cpu": "60GiB"}``;
        what exceeds it is offloaded to disk.
    base : str, path or None
        A PEFT adapter's base model directory; default: the adapter's ``base_model_name_or_path``.

    Returns
    -------
    LoadedModel
        The inner model (no LM head) in eval mode, with its tokenizer, config and identity.

    Raises
    ------
    ModelLoadError
        The path is missing, is a file other than GGUF, is not a model directory, has a config
        transformers cannot parse or no model can be built from (see :func:`validate_config`), has
        missing or unreadable weights, weights of other shapes than the config gives or that the
        config does not describe, holds only pickled weights while ``allow_pickle`` is False, needs
        remote code while ``trust_remote_code`` is False, is a GGUF of an unsupported architecture
        or quantisation type, or is an adapter without its weights or whose base model is not a
        local directory. Loading runs in Hugging Face offline mode (:func:`offline_hub`).
    UsageError
        Unknown ``dtype``, or a device that is not available (e.g. ``"cuda"`` without a GPU).

    Example
    -------
    >>> import transformers
    >>> from seedprints.extract import load_model
    >>> cfg = transformers.LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
    ...                                intermediate_size=64, vocab_size=100)
    >>> loaded = load_model(transformers.LlamaForCausalLM(cfg))
    >>> type(loaded.module).__name__, loaded.hidden_size, loaded.vocab_size, loaded.dtype
    ('LlamaModel', 32, 100, torch.float32)
    """
    torch_device = parse_device(device)
    if dtype != "auto" and dtype not in _DTYPES:
        raise UsageError(f"unknown dtype {dtype!r}; use auto, {', '.join(_DTYPES)}")
    if isinstance(source, torch.nn.Module):
        return _wrap_module(source, dtype=dtype, device=torch_device)
    if device_map is not None and device_map not in _DEVICE_MAPS:
        raise UsageError(f"unknown device map {device_map!r}; use {', '.join(_DEVICE_MAPS)}")
    placement = _Placement(torch_device, device_map, max_memory)
    source_info = formats.inspect_source(Path(source), allow_pickle=allow_pickle)
    if trust_remote_code:
        formats.warn_remote_code(Path(source))
    with offline_hub():
        if source_info.kind == "peft":
            return _load_adapter(
                source_info, dtype=dtype, placement=placement, trust_remote_code=trust_remote_code,
                allow_pickle=allow_pickle, base=Path(base) if base is not None else None,
            )
        return _load_directory(
            source_info, dtype=dtype, placement=placement, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle
        )


def resolve_device(device: str | torch.device) -> str | torch.device:
    """``"auto"`` as the fastest device here (cuda, then mps, then cpu); any other device as given."""
    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def parse_device(device: str | torch.device) -> torch.device:
    """A torch device from its name (``auto``: :func:`resolve_device`), or one clear error naming the devices here."""
    try:
        torch_device = torch.device(resolve_device(device))
    except (RuntimeError, TypeError) as exc:
        raise UsageError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from exc
    if torch_device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device {device!r} requested but CUDA is not available here; use --device cpu")
        if torch_device.index is not None and torch_device.index >= torch.cuda.device_count():
            raise UsageError(
                f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist; "
                f"use cuda:0..cuda:{torch.cuda.device_count() - 1}"
            )
    elif torch_device.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise UsageError(f"device {device!r} requested but MPS is not available here; use --device cpu")
    return torch_device


@contextlib.contextmanager
def offline_hub() -> Iterator[None]:
    """Hugging Face Hub offline mode for the duration: a hub lookup that transformers or peft might try fails at once.

    seedprints reads local files only; this makes sure no code path (a file missing from an adapter, a base model
    named by hub id) turns into a network request. Sets ``huggingface_hub.constants.HF_HUB_OFFLINE``, which
    huggingface_hub and transformers consult on every request, and the ``HF_HUB_OFFLINE`` variable peft reads.
    """
    from huggingface_hub import constants

    flag, variable = constants.HF_HUB_OFFLINE, os.environ.get("HF_HUB_OFFLINE")
    constants.HF_HUB_OFFLINE = True
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = flag
        if variable is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = variable


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports and progress bars for the duration of a load."""
    logging = transformers.utils.logging
    verbosity = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def _first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an error's message, with the next line too when the first only announces it (ends in ':')."""
    text = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    line = text[0] if text else type(exc).__name__
    if line.endswith(":") and len(text) > 1:
        line = f"{line} {text[1]}"
    line = line.rstrip(".")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _read_raw_config(path: Path) -> tuple[bytes, dict[str, Any]]:
    """Check the directory and parse config.json ourselves, so every failure gets a precise message."""
    if not path.exists():
        raise formats.missing_source(path)
    if not path.is_dir():
        raise ModelLoadError(f"{path} is a file, not a model directory; pass the directory that holds config.json")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelLoadError(
            f"{path} is not a Hugging Face model directory (no config.json); pass the directory "
            "written by save_pretrained or downloaded from the hub"
        )
    try:
        raw_bytes = config_file.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read {config_file}: {exc.strerror}; check its permissions") from exc
    raw = formats.read_json_object(config_file, "re-download or re-save the model")
    model_type = raw.get("model_type")
    if model_type is not None and not isinstance(model_type, str):
        raise ModelLoadError(
            f"{config_file} gives model_type as {type(model_type).__name__} {model_type!r}; it must be a string "
            "such as \"llama\", fix config.json"
        )
    for key in ("dtype", "torch_dtype"):
        value = raw.get(key)
        if value is not None and not (isinstance(value, str) and _torch_dtype_name(value)):
            raise ModelLoadError(
                f"{config_file} gives {key} {value!r}, which is not a torch dtype; set it to \"float32\", "
                "\"bfloat16\" or \"float16\""
            )
    validate_config(raw, config_file)
    return raw_bytes, raw


def _torch_dtype_name(name: str) -> bool:
    """True for a name torch knows as a dtype (``"float16"``, ``"torch.bfloat16"``), or transformers' ``"auto"``."""
    return name == "auto" or isinstance(getattr(torch, name.removeprefix("torch."), None), torch.dtype)


_POSITIVE_CONFIG_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")


def validate_config(config: Any, where: str | os.PathLike[str]) -> None:
    """Refuse a config no model can be built from, before anything is allocated.

    Checks that ``hidden_size``, ``num_hidden_layers``, ``num_attention_heads`` and ``vocab_size``
    (where the config has them) are positive integers and that the heads divide the width when no
    ``head_dim`` is given; building such a model would print warnings or fail deep in torch.

    Parameters
    ----------
    config : transformers.PretrainedConfig, dict or object
        The config, or the raw ``config.json`` object (checked before transformers parses it).
    where : str or path
        The config's file (or GGUF file), named in the message.

    Raises
    ------
    ModelLoadError
        Naming the field, its value and ``where``.
    """
    def field(name: str) -> Any:
        return config.get(name) if isinstance(config, dict) else getattr(config, name, None)

    for name in _POSITIVE_CONFIG_FIELDS:
        value = field(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise ModelLoadError(
                f"{where} sets {name} to {value!r}; it must be a positive integer, fix the config or re-download the model"
            )
    hidden, heads = field("hidden_size"), field("num_attention_heads")
    if isinstance(hidden, int) and isinstance(heads, int) and hidden % heads and not field("head_dim"):
        raise ModelLoadError(
            f"{where} sets hidden_size {hidden}, which num_attention_heads {heads} does not divide; fix the config "
            "or re-download the model"
        )


def _remote_code_error(path: Path) -> ModelLoadError:
    return ModelLoadError(
        f"{path} needs its own modelling code (auto_map in config.json); pass --trust-remote-code "
        "(trust_remote_code=True) only if you trust the code in that directory"
    )


def _load_config(path: Path, raw: dict[str, Any], trust_remote_code: bool) -> Any:
    try:
        with quiet_transformers():
            return transformers.AutoConfig.from_pretrained(
                str(path), local_files_only=True, trust_remote_code=trust_remote_code
            )
    except Exception as exc:  # transformers raises ValueError, OSError, KeyError, ... here
        text = str(exc)
        if not trust_remote_code and ("trust_remote_code" in text or "custom code" in text):
            raise _remote_code_error(path) from exc
        model_type = raw.get("model_type")
        if model_type is None:
            raise ModelLoadError(
                f"{path / 'config.json'} has no model_type; this is not a transformers model config"
            ) from exc
        if "does not recognize this architecture" in text or "Unrecognized" in text:
            hint = " or pass --trust-remote-code if it ships its own code and you trust it" if "auto_map" in raw else ""
            raise ModelLoadError(
                f"{path / 'config.json'} has model_type {model_type!r}, which transformers "
                f"{transformers.__version__} does not know; upgrade transformers{hint}"
            ) from exc
        raise ModelLoadError(
            f"transformers cannot parse {path / 'config.json'}: {_first_line(exc)}; fix config.json or re-download the model"
        ) from exc


def _checkpoint_dtype(raw: dict[str, Any]) -> str | None:
    value = raw.get("dtype") or raw.get("torch_dtype")
    if value is None and isinstance(raw.get("text_config"), dict):
        value = raw["text_config"].get("dtype") or raw["text_config"].get("torch_dtype")
    return str(value).removeprefix("torch.") if value is not None else None


def _choose_dtype(dtype: str, stored: str | torch.dtype | None) -> torch.dtype:
    if dtype != "auto":
        return _DTYPES[dtype]
    if isinstance(stored, torch.dtype):
        return torch.bfloat16 if stored in _HALF else torch.float32
    return torch.bfloat16 if stored in ("float16", "bfloat16") else torch.float32


@dataclasses.dataclass(frozen=True)
class _Placement:
    """Where the weights go: one device, or a device map (accelerate) with optional memory limits."""

    device: torch.device
    device_map: str | None = None
    max_memory: dict[int | str, int | str] | None = None

    def kwargs(self) -> dict[str, Any]:
        if self.device_map is not None:
            if not _has_accelerate():
                raise UsageError("--device-map needs the accelerate package; pip install accelerate")
            return {"device_map": self.device_map, **({"max_memory": self.max_memory} if self.max_memory else {})}
        if self.device.type != "cpu" and (_TRANSFORMERS_5 or _has_accelerate()):
            return {"device_map": str(self.device)}
        return {}


def _from_pretrained(
    auto_class: Any, path: Path, config: Any, torch_dtype: torch.dtype, placement: _Placement, trust_remote_code: bool,
    allow_pickle: bool, gguf_file: str | None = None,
):
    kwargs: dict[str, Any] = {
        "config": config,
        "local_files_only": True,
        "trust_remote_code": trust_remote_code,
        "output_loading_info": True,
        _DTYPE_KWARG: torch_dtype,
        **placement.kwargs(),
    }
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
    elif not allow_pickle:
        kwargs["use_safetensors"] = True
    offload = None
    if placement.device_map is not None:  # layers that fit nowhere go to disk, in a folder removed with the model
        offload = kwargs["offload_folder"] = tempfile.mkdtemp(prefix="seedprints-offload-")
    try:
        with quiet_transformers(), _quiet_gguf(gguf_file is not None):
            try:
                loaded = auto_class.from_pretrained(str(path), attn_implementation="sdpa", **kwargs)
            except (ValueError, ImportError, NotImplementedError) as exc:
                text = str(exc).lower()
                if not any(h in text for h in ("sdpa", "scaled_dot_product", "attn_implementation", "attention implementation")):
                    raise
                loaded = auto_class.from_pretrained(str(path), **kwargs)
    except BaseException:
        if offload is not None:
            shutil.rmtree(offload, ignore_errors=True)
        raise
    if offload is not None:
        weakref.finalize(loaded[0], shutil.rmtree, offload, ignore_errors=True)
    return loaded


@contextlib.contextmanager
def _quiet_gguf(enabled: bool) -> Iterator[None]:
    """Silence the plain tqdm bar transformers' GGUF loader draws while dequantising (stdout/stderr stay ours)."""
    if not enabled:
        yield
        return
    import functools

    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    original = gguf_utils.tqdm
    gguf_utils.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = original


def _has_accelerate() -> bool:
    import importlib.util

    return importlib.util.find_spec("accelerate") is not None


def _gguf_config(source: formats.ModelSource) -> tuple[bytes, dict[str, Any], Any]:
    file = source.directory / str(source.gguf_file)
    formats.check_gguf(file)
    try:
        with quiet_transformers():
            config = transformers.AutoConfig.from_pretrained(
                str(source.directory), gguf_file=source.gguf_file, local_files_only=True
            )
    except Exception as exc:  # transformers raises ValueError / KeyError on GGUF metadata it cannot map
        raise ModelLoadError(f"transformers cannot read the model config in {file}: {_first_line(exc)}") from exc
    raw = config.to_dict()
    return json.dumps(raw, sort_keys=True, default=str).encode(), raw, config


def _load_weights(
    source: formats.ModelSource, *, auto_class: Any, dtype: str, placement: _Placement, trust_remote_code: bool,
    allow_pickle: bool,
) -> tuple[torch.nn.Module, Any, bytes, dict[str, Any], torch.dtype]:
    """Config and weights of a Hugging Face directory or GGUF file, every failure turned into one ModelLoadError."""
    path = source.directory
    if source.kind == "gguf":
        raw_bytes, raw, config = _gguf_config(source)
        where = path / str(source.gguf_file)
    else:
        raw_bytes, raw = _read_raw_config(path)
        config = _load_config(path, raw, trust_remote_code)
        where = path
    if getattr(config, "is_encoder_decoder", False):
        raise ModelLoadError(
            f"{where} is an encoder-decoder model ({config.model_type}); seedprints fingerprints decoder-only "
            "or encoder-only models"
        )
    validate_config(config, where if source.kind == "gguf" else path / "config.json")
    torch_dtype = _choose_dtype(dtype, _checkpoint_dtype(raw) if source.kind != "gguf" else None)
    if source.kind == "transformers":
        _check_shapes(auto_class, config, source, trust_remote_code)
    try:
        module, info = _from_pretrained(
            auto_class, path, config, torch_dtype, placement, trust_remote_code, allow_pickle, source.gguf_file
        )
    except UsageError:
        raise
    except Exception as exc:  # OSError, SafetensorError, RuntimeError (shapes), ValueError, ...
        text = str(exc)
        if not trust_remote_code and ("trust_remote_code" in text or "custom code" in text):
            raise _remote_code_error(path) from exc
        if isinstance(exc, OSError) and ("no file named" in text or "does not appear to have" in text):
            raise ModelLoadError(
                f"{path} has config.json but no weights ({_WEIGHT_FILES_HINT}); copy the weight files into it"
            ) from exc
        mismatch = re.search(r"size mismatch for [^\n]*", text)
        if mismatch or "ignore_mismatched_sizes" in text:
            detail = f" ({mismatch.group(0).rstrip('.')})" if mismatch else ""
            raise ModelLoadError(
                f"the tensor shapes in {where} do not match its config{detail}; the config does not match the "
                "checkpoint, fix it (hidden_size, vocab_size, ...) or re-download the model"
            ) from exc
        raise ModelLoadError(
            f"cannot load the weights in {where}: {_first_line(exc)}; re-download or re-save the model"
        ) from exc
    missing = sorted(k for k in info.get("missing_keys", ()) if not _HARMLESS_KEYS.search(k))
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ModelLoadError(
            f"the weights in {where} lack {len(missing)} tensor(s) of the model ({shown}); they would be "
            "randomly initialised, so re-download or re-save the model"
        )
    unused = _unused_tensors(module, info.get("unexpected_keys", ()))
    if unused:
        raise ModelLoadError(
            f"the weights in {where} hold {len(unused)} tensor(s) the config does not describe (e.g. {unused[0]}); "
            "the config does not match the checkpoint, fix it (e.g. num_hidden_layers) or re-download the model"
        )
    if placement.device_map is None and placement.device.type != "cpu" and next(module.parameters()).device != placement.device:
        module = module.to(placement.device)
    module.eval()
    return module, config, raw_bytes, raw, torch_dtype


def _check_shapes(auto_class: Any, config: Any, source: formats.ModelSource, trust_remote_code: bool) -> None:
    """Refuse safetensors weights whose tensors have other shapes than the config gives, before allocating anything.

    The model is built on the meta device (no memory) and each checkpoint tensor is compared with the model tensor of
    the same name, with or without the base-model prefix (``model.``); names that differ (renamed or converted
    tensors) are left to transformers. Skipped for pickled or quantised weights, and when the meta build fails.
    """
    if getattr(config, "quantization_config", None) is not None:
        return
    stored = formats.safetensors_shapes(source.weight_files) if source.weight_files else None
    if not stored:
        return
    try:
        with torch.device("meta"), quiet_transformers(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            skeleton = auto_class.from_config(copy.deepcopy(config), trust_remote_code=trust_remote_code)
    except Exception:  # models that cannot be built on meta: transformers' own load reports any mismatch
        return
    prefix = f"{getattr(skeleton, 'base_model_prefix', '')}."
    expected = {key.removeprefix(prefix): tuple(t.shape) for key, t in skeleton.state_dict().items()}
    for key, shape in stored.items():
        want = expected.get(key.removeprefix(prefix))
        if want is not None and want != shape:
            raise ModelLoadError(
                f"the weights in {source.directory} do not match its config: {key} is {list(shape)} in the checkpoint "
                f"but {list(want)} by config.json; fix config.json (hidden_size, vocab_size, ...) or re-download the model"
            )


def _unused_tensors(module: torch.nn.Module, unexpected: Sequence[str]) -> list[str]:
    """Checkpoint tensors transformers did not load that belong to the inner model (not to a task head it lacks).

    A tensor belongs to the inner model when its name starts with the base-model prefix (``model.``) or with one of
    the inner model's own submodules (``layers.``): e.g. layers beyond ``num_hidden_layers``, silently dropped.
    """
    prefix = getattr(module, "base_model_prefix", "") or None
    base = getattr(module, "base_model", module)
    inner = {name for name, _ in base.named_children()}
    return sorted(
        key for key in unexpected
        if not _HARMLESS_KEYS.search(key) and not _SAVED_BUFFER_KEYS.search(key) and key.split(".", 1)[0] in inner | {prefix}
    )


def _load_directory(
    source: formats.ModelSource, *, dtype: str, placement: _Placement, trust_remote_code: bool, allow_pickle: bool
) -> LoadedModel:
    module, config, raw_bytes, raw, torch_dtype = _load_weights(
        source, auto_class=transformers.AutoModel, dtype=dtype, placement=placement,
        trust_remote_code=trust_remote_code, allow_pickle=allow_pickle,
    )
    path = source.directory
    tokenizer, tokenizer_error = None, None
    if source.kind == "gguf":
        file = path / str(source.gguf_file)
        model_id, revision = str(file), formats.weights_digest(source.weight_files)[:12]
        unembedding: Callable[[], torch.Tensor] = lambda: formats.gguf_unembedding(file)  # noqa: E731
    else:
        model_id, revision = str(path), _revision(path, raw_bytes)
        tokenizer, tokenizer_error = _load_tokenizer(path, trust_remote_code)
        unembedding = lambda: _read_unembedding(path, config, module)  # noqa: E731
    return LoadedModel(
        module=module,
        tokenizer=tokenizer,
        config=config,
        model_id=model_id,
        revision=revision,
        config_hash=_config_hash(config, module),
        hidden_size=int(config.hidden_size),
        vocab_size=_vocab_size(module, config),
        dtype=torch_dtype,
        is_encoder=_is_encoder(config),
        unembedding=unembedding,
        weights_digest=formats.weights_digest(source.weight_files, raw_bytes),
        tokenizer_error=tokenizer_error,
    )


def _load_adapter(
    source: formats.ModelSource, *, dtype: str, placement: _Placement, trust_remote_code: bool, allow_pickle: bool,
    base: Path | None,
) -> LoadedModel:
    """A PEFT adapter merged into its base model; every adapter tensor must find its place in the base."""
    from peft import PeftConfig, get_peft_model, set_peft_model_state_dict
    from peft.utils import load_peft_weights

    adapter_dir = source.directory
    base_dir = formats.adapter_base(adapter_dir, base)
    base_source = formats.inspect_source(base_dir, allow_pickle=allow_pickle)
    if base_source.kind == "peft":
        raise ModelLoadError(f"the base of adapter {adapter_dir} ({base_dir}) is itself an adapter; pass the full model with --base")
    task = str(formats.adapter_config(adapter_dir).get("task_type") or "")
    auto_class = transformers.AutoModelForCausalLM if task == "CAUSAL_LM" else transformers.AutoModel
    model, config, raw_bytes, _, torch_dtype = _load_weights(
        base_source, auto_class=auto_class, dtype=dtype, placement=placement,
        trust_remote_code=trust_remote_code, allow_pickle=allow_pickle,
    )
    try:
        with quiet_transformers(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # peft's notes on renamed bases and deprecations; failures raise below
            peft_config = PeftConfig.from_pretrained(str(adapter_dir))
            peft_model = get_peft_model(model, peft_config)
            weights = load_peft_weights(str(adapter_dir), device="cpu")
            result = set_peft_model_state_dict(peft_model, weights)
    except Exception as exc:  # ValueError / KeyError / RuntimeError (shapes) from peft
        raise ModelLoadError(
            f"cannot apply adapter {adapter_dir} to {base_dir}: {_first_line(exc)}; check that it was trained on this base"
        ) from exc
    unexpected = [k for k in result.unexpected_keys if "lora" in k or "modules_to_save" in k or "adapter" in k]
    if unexpected:
        raise ModelLoadError(
            f"adapter {adapter_dir} has {len(unexpected)} tensor(s) that do not fit {base_dir} (e.g. {unexpected[0]}); "
            "pass the base model it was trained on with --base"
        )
    merged = peft_model.merge_and_unload().eval()
    head = merged if isinstance(merged, transformers.PreTrainedModel) else None
    module = merged.base_model if head is not None else merged
    raw_adapter = (adapter_dir / "adapter_config.json").read_bytes()
    tokenizer, tokenizer_error = _load_tokenizer(adapter_dir, trust_remote_code)
    if tokenizer is None and tokenizer_error is None:  # an adapter without tokenizer files uses its base's
        tokenizer, tokenizer_error = _load_tokenizer(base_dir, trust_remote_code)
    return LoadedModel(
        module=module,
        tokenizer=tokenizer,
        config=config,
        model_id=str(adapter_dir),
        revision=_revision(adapter_dir, raw_adapter),
        config_hash=_config_hash(config, module),
        hidden_size=int(config.hidden_size),
        vocab_size=_vocab_size(module, config),
        dtype=torch_dtype,
        is_encoder=_is_encoder(config),
        unembedding=_module_unembedding(head) if head is not None else None,
        weights_digest=formats.weights_digest(
            source.weight_files + base_source.weight_files, raw_adapter + raw_bytes
        ),
        tokenizer_error=tokenizer_error,
    )


def _read_unembedding(path: Path, config: Any, module: torch.nn.Module) -> torch.Tensor:
    """The LM-head matrix of a checkpoint: the input embeddings when tied, else ``lm_head.weight`` read
    straight from the safetensors file that holds it (the head itself is never instantiated)."""
    if getattr(config, "tie_word_embeddings", False):
        return module.get_input_embeddings().weight.detach()
    from safetensors import safe_open

    index = path / "model.safetensors.index.json"
    files = [path / "model.safetensors"]
    if index.is_file():
        weight_map = formats.read_json_object(index, "re-download or re-save the model").get("weight_map", {})
        files = [path / name for key, name in weight_map.items() if key.endswith("lm_head.weight")]
    for file in files:
        if file.is_file():
            with safe_open(str(file), framework="pt") as handle:
                for key in handle.keys():
                    if key == "lm_head.weight" or key.endswith(".lm_head.weight"):
                        return handle.get_tensor(key)
    raise UsageError(
        f"{path} has no lm_head.weight in its safetensors files; logit-recording (untrained) probes need a causal LM "
        "head, use --probe token"
    )


def _load_tokenizer(path: Path, trust_remote_code: bool) -> tuple[Any, str | None]:
    """A directory's tokenizer, or None and why its files did not load ((None, None) when it has none).

    Nothing is reported here: only text probes need the tokenizer, and they report the reason (see
    :func:`_ragged_rows`). A tokenizer file that is a pipe or device is refused before anything opens it.
    """
    present = [path / name for name in _TOKENIZER_FILES + _TOKENIZER_SIDE_FILES if (path / name).exists()]
    if not any(file.name in _TOKENIZER_FILES for file in present):
        return None, None
    for file in present:
        if special_file(file):
            return None, f"its tokenizer file {file} is not a regular file (a pipe or device)"
    try:
        with quiet_transformers():
            return transformers.AutoTokenizer.from_pretrained(
                str(path), local_files_only=True, trust_remote_code=trust_remote_code
            ), None
    except Exception as exc:  # OSError, ValueError, JSON and tokenizers errors, ...
        return None, _tokenizer_failure(path, present, exc)


def _tokenizer_failure(path: Path, present: list[Path], exc: BaseException) -> str:
    """Why a tokenizer did not load: the JSON file that is not JSON if there is one, else transformers' whole reason."""
    for file in present:
        if file.suffix == ".json":
            try:
                load_json(file.read_bytes())
            except json.JSONDecodeError as bad:
                return f"its tokenizer file {file} is not valid JSON ({bad})"
            except OSError as bad:
                return f"its tokenizer file {file} cannot be read ({bad.strerror or bad})"
    names = ", ".join(file.name for file in present)
    return f"its tokenizer files in {path} ({names}) do not load: {_whole_reason(exc)}"


def _whole_reason(exc: BaseException, limit: int = 1000) -> str:
    """An error's type and message on one line, every line of it kept (a guard cuts only a message over ``limit``)."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()).rstrip(".")
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _git_commit(path: Path) -> str | None:
    """The commit of a git checkout at ``path`` or of a Hugging Face cache snapshot, read from files only."""
    resolved = path.resolve()
    if resolved.parent.name == "snapshots" and re.fullmatch(r"[0-9a-f]{40}", resolved.name):
        return resolved.name
    git_dir = path / ".git"
    try:
        if git_dir.is_file():  # worktree / submodule: "gitdir: <path>"
            target = git_dir.read_text().strip().removeprefix("gitdir:").strip()
            git_dir = (path / target).resolve()
        head = (git_dir / "HEAD").read_text().strip()
        if re.fullmatch(r"[0-9a-f]{40,64}", head):
            return head
        if not head.startswith("ref:"):
            return None
        ref = head.removeprefix("ref:").strip()
        ref_file = git_dir / ref
        if ref_file.is_file():
            return ref_file.read_text().strip()
        packed = git_dir / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0]
    except OSError:
        return None
    return None


def _revision(path: Path, config_bytes: bytes) -> str:
    return _git_commit(path) or hashlib.sha256(config_bytes).hexdigest()[:12]


def _config_hash(config: Any, module: torch.nn.Module) -> str:
    fields = {key: getattr(config, key, None) if config is not None else None for key in _CONFIG_HASH_KEYS}
    if config is None:
        fields["architectures"] = [type(module).__name__]
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _vocab_size(module: torch.nn.Module, config: Any) -> int | None:
    embeddings = None
    with contextlib.suppress(Exception):
        embeddings = module.get_input_embeddings()  # type: ignore[operator]
    weight = getattr(embeddings, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.ndim == 2:
        return int(weight.shape[0])
    size = getattr(config, "vocab_size", None)
    return int(size) if isinstance(size, int) else None


def _is_encoder(config: Any) -> bool:
    """BERT-style bidirectional encoder: a masked-LM model type not configured as a decoder."""
    if config is None or getattr(config, "is_decoder", False) or getattr(config, "is_encoder_decoder", False):
        return False
    architectures = getattr(config, "architectures", None) or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        return False
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    return getattr(config, "model_type", None) in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def _wrap_module(source: torch.nn.Module, *, dtype: str, device: torch.device) -> LoadedModel:
    module = source.base_model if isinstance(source, transformers.PreTrainedModel) else source
    config = getattr(module, "config", None)
    if config is None:
        config = getattr(source, "config", None)
    param = next(module.parameters(), None)
    current = param.dtype if param is not None else torch.float32
    torch_dtype = _choose_dtype(dtype, current)
    if param is not None and (param.dtype != torch_dtype or param.device != device):
        module.to(device=device, dtype=torch_dtype)
    module.eval()
    hidden_size = getattr(config, "hidden_size", None)
    if not isinstance(hidden_size, int):
        hidden_size = _infer_width(module, device)
    name = getattr(config, "_name_or_path", "") or type(source).__name__
    return LoadedModel(
        module=module,
        tokenizer=None,
        config=config,
        model_id=str(name),
        revision="in-memory",
        config_hash=_config_hash(config, module),
        hidden_size=int(hidden_size),
        vocab_size=_vocab_size(module, config),
        dtype=torch_dtype,
        is_encoder=_is_encoder(config),
        unembedding=_module_unembedding(source),
        weights_digest=_parameters_digest(module),
    )


def _parameters_digest(module: torch.nn.Module) -> str:
    """First 16 hex digits of a SHA-256 over each parameter's name, shape and up to 4096 evenly spaced values."""
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, param in module.named_parameters():
            flat = param.detach().reshape(-1)
            sample = flat[:: max(1, flat.numel() // 4096)].float().cpu().numpy()
            digest.update(f"{name}\0{tuple(param.shape)}\0".encode() + sample.tobytes())
    return digest.hexdigest()[:16]


def _module_unembedding(source: torch.nn.Module) -> Callable[[], torch.Tensor] | None:
    head = source.get_output_embeddings() if isinstance(source, transformers.PreTrainedModel) else None
    return None if head is None else (lambda: head.weight.detach())


def unembedding_rows(loaded: LoadedModel, tokens: Sequence[int]) -> np.ndarray:
    """float32 ``[len(tokens), d]`` rows of the model's LM head for the given token ids."""
    if loaded.unembedding is None:
        raise UsageError(f"{loaded.model_id} has no LM head; logit-recording (untrained) probes need one, use --probe token")
    matrix = loaded.unembedding()
    if max(tokens) >= matrix.shape[0] or matrix.shape[1] != loaded.hidden_size:
        raise UsageError(
            f"{loaded.model_id}'s LM head is {tuple(matrix.shape)}, which does not fit token ids up to {max(tokens)} "
            f"and width {loaded.hidden_size}"
        )
    return matrix[torch.as_tensor(list(tokens))].float().cpu().numpy()


def _infer_width(module: torch.nn.Module, device: torch.device) -> int:
    ids = torch.zeros((1, 1), dtype=torch.long, device=device)
    try:
        with torch.inference_mode():
            hidden = _last_hidden(_call(module, {"input_ids": ids, "attention_mask": torch.ones_like(ids)}))
    except Exception as exc:
        raise ModelLoadError(
            f"cannot infer the hidden size of {type(module).__name__} from a forward pass ({_first_line(exc)}); "
            "give the module a config with hidden_size"
        ) from exc
    return int(hidden.shape[-1])


# ----------------------------------------------------------------------------------------------------------------------
# Extraction


def _call(module: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> Any:
    """Call a module with the keyword arguments its forward accepts (or with one tensor if it takes none)."""
    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return module(**inputs)
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = {k: v for k, v in inputs.items() if k in params}
    if "input_ids" in named or "inputs_embeds" in named:
        if "use_cache" in params:
            named["use_cache"] = False
        return module(**named)
    if accepts_any:
        return module(**inputs)
    main = inputs.get("input_ids", inputs.get("inputs_embeds"))
    return module(main)


def _last_hidden(output: Any) -> torch.Tensor:
    hidden = getattr(output, "last_hidden_state", None)
    if hidden is None and isinstance(output, (tuple, list)) and output:
        hidden = output[0]
    if hidden is None and isinstance(output, torch.Tensor):
        hidden = output
    if not isinstance(hidden, torch.Tensor) or hidden.ndim != 3:
        raise UsageError(
            f"the model returned {type(output).__name__}, not hidden states [batch, length, d]; "
            "pass a base model that returns last_hidden_state"
        )
    return hidden


def _module_device(module: torch.nn.Module) -> torch.device:
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _max_positions(config: Any) -> int | None:
    value = getattr(config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) and value > 0 else None


def _refit(origin: str | None, fix: str) -> str:
    """Advice for probes that do not fit the model: ``fix`` (e.g. ``"--length 64 or less"``) in this run, or, for
    probes taken from a reference (``origin``, when the caller knows it), in a new fingerprint of that reference."""
    redo = f"re-fingerprint that reference with {fix}"
    if origin is not None:
        return f"the probes come from {origin}, so {redo}"
    return f"use {fix} when fingerprinting, or, for probes taken from a reference fingerprint or registry entry, {redo}"


def _check_vocab(model_id: str, vocab_size: int | None, max_id: int, what: str, fix: str, origin: str | None) -> None:
    if vocab_size is not None and max_id >= vocab_size:
        raise UsageError(
            f"{what} reach id {max_id} but {model_id} has only {vocab_size} token embeddings; {_refit(origin, fix)}"
        )


def _check_length(model_id: str, config: Any, length: int, origin: str | None, file: bool = False) -> None:
    limit = _max_positions(config)
    if limit is not None and length > limit:
        fix = f"a probe file whose rows have at most {limit} tokens" if file else f"--length {limit} or less"
        raise UsageError(f"probes of length {length} exceed the {limit} positions of {model_id}; {_refit(origin, fix)}")


def _check_generated(model_id: str, vocab_size: int | None, config: Any, hidden_size: int, spec: ProbeSpec,
                     origin: str | None) -> None:
    """Refuse generated (token or embedding) probes the model cannot take: ids past its embeddings, more tokens
    than its positions, or embedding vectors of another width."""
    if spec.kind == "token":
        used = [*(spec.input_tokens or ()), *(spec.output_tokens or ())]
        _check_vocab(model_id, vocab_size, max(used) if used else int(spec.vocab_bound) - 1,
                     f"token probes (vocab_bound={spec.vocab_bound})", f"--vocab-bound {vocab_size} or less", origin)
    elif spec.hidden_size != hidden_size:
        raise UsageError(
            f"embedding probes have width d={spec.hidden_size} but {model_id} has hidden size {hidden_size}; embedding "
            f"probes need equal widths, make them with d={hidden_size} or use token probes"
        )
    _check_length(model_id, config, spec.length, origin)


def check_model_takes(source: str | os.PathLike, spec: ProbeSpec, *, hidden_size: int | None = None,
                      origin: str | None = None, trust_remote_code: bool = False) -> None:
    """From the config alone, before any weight is read: refuse a model whose width differs from ``hidden_size``
    (the reference fingerprint's) or that cannot take the generated probes of ``spec``.

    Raises IncompatibleFingerprintsError for a width mismatch and UsageError for probes that do not fit, the same
    answers a full extraction would give only after loading the weights (or, for the width, after the forward pass).
    """
    config = _source_config(source, trust_remote_code=trust_remote_code)
    hidden, vocab = _config_shape(config, source)
    if hidden_size is not None and hidden != hidden_size:
        raise IncompatibleFingerprintsError(
            f"hidden sizes differ ({origin or 'the reference'} has d={hidden_size}, {source} has d={hidden} by its "
            "config); this test compares dimensions one to one and needs equal widths"
        )
    if spec.kind in ("token", "embedding"):
        _check_generated(str(source), vocab, config, hidden, spec, origin)


def _ragged_rows(loaded: LoadedModel, probes: Probes, origin: str | None) -> list[np.ndarray]:
    """All token-id rows of token-file or text-file probes, checked against the model."""
    kind = probes.spec.kind
    if kind == "token-file":
        rows = [np.asarray(r, dtype=np.int64) for r in probes.token_ids(0, len(probes))]
    else:
        if loaded.tokenizer is None and loaded.tokenizer_error is not None:
            raise ModelLoadError(
                f"text probes need the tokenizer of {loaded.model_id}, but {loaded.tokenizer_error}; replace the "
                "broken tokenizer file(s) with the model's real ones, or use token probes"
            )
        if loaded.tokenizer is None:
            raise UsageError(
                f"text probes need a tokenizer but {loaded.model_id} has none; "
                "add the tokenizer files to the model directory or use token probes"
            )
        encoded = loaded.tokenizer(probes.texts(0, len(probes)))["input_ids"]
        rows = [np.asarray(r, dtype=np.int64) for r in encoded]
    lengths = np.fromiter((r.size for r in rows), dtype=np.int64, count=len(rows))
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise UsageError(f"probe row {int(empty[0])} has no tokens after tokenisation; remove it from the probe file")
    _check_vocab(loaded.model_id, loaded.vocab_size, int(max(int(r.max()) for r in rows)), "probe token ids",
                 f"a probe file whose ids stay below {loaded.vocab_size}", origin)
    _check_length(loaded.model_id, loaded.config, int(lengths.max()), origin, file=True)
    return rows


def _pad_right(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad ragged rows with 0: (ids [B, Lmax], lengths [B]); the mask is ``arange(Lmax) < lengths``."""
    lengths = np.fromiter((r.size for r in rows), dtype=np.int64, count=len(rows))
    ids = np.zeros((len(rows), int(lengths.max())), dtype=np.int64)
    ids[np.arange(ids.shape[1]) < lengths[:, None]] = np.concatenate(rows)
    return ids, lengths


def _non_finite_hint(dtype: torch.dtype) -> str:
    if dtype == torch.float16:
        return "retry with --dtype bfloat16 (or float32)"
    if dtype == torch.bfloat16:
        return "retry with --dtype float32"
    return "the model's weights may hold NaN/Inf; check the checkpoint"


def extract_hidden_states(
    loaded: LoadedModel,
    probes: Probes,
    *,
    batch_size: int | None = fastpath.CPU_BATCH_SIZE,
    device: str | None = None,
    progress: bool = False,
    partial: str | os.PathLike[str] | None = None,
    save_every: int = 8,
    last_position_only: bool = True,
    probe_origin: str | None = None,
) -> np.ndarray:
    """Final hidden state at the last real position of every probe: the fingerprint matrix.

    Parameters
    ----------
    loaded : LoadedModel
        From :func:`load_model`.
    probes : Probes
        Token probes (fed as ``input_ids`` with an all-ones attention mask), embedding probes (fed
        as ``inputs_embeds`` in the model's dtype), token-file probes, or text-file probes (encoded by
        ``loaded.tokenizer`` with its default special tokens). Ragged rows are right-padded with id 0
        under an attention mask, and each row's vector is taken at its own last real token.
    batch_size : int or None
        Probes per forward pass; the result does not depend on it beyond float rounding. None
        chooses it: 32 on CPU, from the free memory on a GPU. An out-of-memory error halves it
        (with a warning) and the run goes on.
    device : str or None
        Device to run on; None uses the model's. A different device moves the module there in place
        (not for a model spread by ``device_map``: its inputs go to its first device).
    progress : bool
        Show a rich progress bar on stderr.
    partial : str, path or None
        File for partial results (see :mod:`seedprints.resume`): rows already there for the same
        model, probes and dtype are reused, and the rows done so far are saved every ``save_every``
        batches. A file from another model or probe spec is refused. The caller removes it once the
        final output is written.
    save_every : int
        Batches between saves of ``partial``.
    last_position_only : bool
        For architectures that allow it (Llama, Mistral, Qwen2, Qwen3, GPT-2, BERT), run the last
        layer's output projection, MLP and the final norm on each row's last position only
        (:func:`seedprints.fastpath.last_position_only`); False runs every position.
    probe_origin : str or None
        What the probes were taken from when the user cannot change them in this run, e.g.
        ``"fingerprint ref.fp"`` or ``"registry entry base"``: probes too long for the model, or
        with ids beyond its vocabulary, are then answered with advice to re-fingerprint that
        reference. None: the advice names both, the option when fingerprinting (``--length``,
        ``--vocab-bound``) and re-fingerprinting the reference for probes taken from one.

    Returns
    -------
    numpy.ndarray
        float32 ``[N, d]`` on CPU: row i is ``last_hidden_state[i, last_i]`` (after the final norm),
        where ``last_i`` is the last non-padding position of probe i.

    Raises
    ------
    UsageError
        Token ids at or above the model's vocabulary size, probes longer than the model's position
        table, embedding probes of another width, text probes for a model without tokenizer, a bad
        ``batch_size``, out of accelerator memory even for one probe, or a ``partial`` file from
        another model or probe spec.
    ModelLoadError
        Text probes for a model whose tokenizer files are broken (``loaded.tokenizer_error``).
    NonFiniteHiddenStatesError
        The model produced NaN or Inf (usually float16 overflow).

    Notes
    -----
    Encoders (BERT-style, ``loaded.is_encoder``) are treated like decoders: the vector is the last
    layer's output at the last real position, which for text probes is the ``[SEP]`` position when
    the tokenizer adds it. Decoders see only earlier tokens there, so right padding never changes
    the result; encoders mask the padding out.

    Example
    -------
    >>> import transformers
    >>> from seedprints.extract import load_model, extract_hidden_states
    >>> from seedprints.probes import generated, token_spec
    >>> cfg = transformers.LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
    ...                                intermediate_size=64, vocab_size=100)
    >>> loaded = load_model(transformers.LlamaForCausalLM(cfg))
    >>> extract_hidden_states(loaded, generated(token_spec(n=16, length=8, vocab_bound=100))).shape
    (16, 32)
    """
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise UsageError(f"batch_size must be a positive integer (got {batch_size!r})")
    module = loaded.module
    run_device = _run_device(module, device)
    module.eval()
    spec = probes.spec
    n = len(probes)
    ragged: list[np.ndarray] | None = None
    if spec.kind in ("token", "embedding"):
        _check_generated(loaded.model_id, loaded.vocab_size, loaded.config, loaded.hidden_size, spec, probe_origin)
    elif spec.kind in ("token-file", "text-file"):
        ragged = _ragged_rows(loaded, probes, probe_origin)
    else:
        raise UsageError(f"unknown probe kind {spec.kind!r}")

    length = max(r.size for r in ragged) if ragged is not None else spec.length
    size = batch_size or fastpath.auto_batch_size(loaded.config, length, run_device, loaded.dtype)
    d = loaded.hidden_size
    checkpoint = None
    if partial is not None:
        key = {"model_digest": loaded.weights_digest, "probe_hash": spec.hash, "dtype": str(loaded.dtype), "n": n, "d": d}
        checkpoint = Checkpoint(partial, key)
    result, start = checkpoint.restore(n, d) if checkpoint is not None else (None, 0)
    if result is None:
        result = np.empty((n, d), dtype=np.float32)
    unsaved = 0
    with fastpath.cpu_threads(run_device), torch.inference_mode(), progress_bar(
        progress, n, f"extracting {loaded.model_id}"
    ) as advance, fastpath.last_position_only(module, loaded.config, last_position_only) as cutter:
        advance(start)
        while start < n:
            stop = min(start + size, n)
            inputs, last = _batch_inputs(loaded, probes, ragged, start, stop, run_device)
            cutter.aim(last, uniform=ragged is None)
            try:
                hidden = _last_hidden(_call(module, inputs))
            except Exception as exc:  # only out-of-memory errors are handled here
                if not fastpath.is_out_of_memory(exc):
                    raise
                size = _smaller_batch(loaded, stop - start, length, exc, probe_origin)
                continue
            rows = fastpath.rows_at(hidden, last).float().cpu().numpy()
            if rows.shape[1] != d:
                raise UsageError(f"{loaded.model_id} returned hidden states of width {rows.shape[1]}, not its hidden size {d}")
            if not np.isfinite(rows).all():
                dtype_name = str(loaded.dtype).removeprefix("torch.")
                raise NonFiniteHiddenStatesError(
                    f"{loaded.model_id} produced NaN/Inf hidden states in {dtype_name} (probes {start}..{stop - 1}); "
                    f"{_non_finite_hint(loaded.dtype)}"
                )
            result[start:stop] = rows
            advance(stop - start)
            start, unsaved = stop, unsaved + 1
            if checkpoint is not None and unsaved >= save_every and start < n:
                checkpoint.save(result[:start])
                unsaved = 0
    return result


def _run_device(module: torch.nn.Module, device: str | None) -> torch.device:
    """Where inputs go; moves a single-device module to ``device`` when asked, never a device-mapped one."""
    device_map = getattr(module, "hf_device_map", None) or {}
    placed = {str(v) for v in device_map.values()}
    if len(placed) > 1 or "disk" in placed:
        accelerators = [v for v in device_map.values() if str(v) not in ("cpu", "disk")]
        return parse_device(f"cuda:{accelerators[0]}" if accelerators and isinstance(accelerators[0], int) else "cpu")
    run_device = parse_device(device) if device is not None else _module_device(module)
    if _module_device(module) != run_device:
        module.to(run_device)
    return run_device


def _smaller_batch(loaded: LoadedModel, size: int, length: int, exc: BaseException, origin: str | None) -> int:
    """Half the batch after an out-of-memory error; at one probe, say what to change instead."""
    fastpath.release_memory()
    if size == 1:
        raise UsageError(
            f"out of memory running {loaded.model_id} on a single probe of length {length}; use --dtype bfloat16, "
            f"--device-map auto to offload layers, or shorter probes: {_refit(origin, 'a smaller --length')}"
        ) from exc
    warnings.warn(f"out of memory at batch size {size}; continuing with {size // 2}", stacklevel=3)
    return size // 2


def _batch_inputs(
    loaded: LoadedModel,
    probes: Probes,
    ragged: list[np.ndarray] | None,
    start: int,
    stop: int,
    device: torch.device,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Model inputs of rows ``start:stop`` and each row's last real position."""
    rows = stop - start
    if probes.spec.kind == "embedding":
        embeds = fastpath.to_device(torch.from_numpy(probes.embeddings(start, stop)).to(loaded.dtype), device)
        mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=device)
        last = torch.full((rows,), embeds.shape[1] - 1, dtype=torch.long, device=device)
        return {"inputs_embeds": embeds, "attention_mask": mask}, last
    if ragged is None:
        ids_np = np.stack([np.asarray(r, dtype=np.int64) for r in probes.token_ids(start, stop)])
        ids = fastpath.to_device(torch.from_numpy(ids_np), device)
        mask = torch.ones_like(ids)
        last = torch.full((rows,), ids.shape[1] - 1, dtype=torch.long, device=device)
        return {"input_ids": ids, "attention_mask": mask}, last
    ids_np, lengths = _pad_right(ragged[start:stop])
    ids = fastpath.to_device(torch.from_numpy(ids_np), device)
    lengths_t = fastpath.to_device(torch.from_numpy(lengths), device)
    mask = (torch.arange(ids.shape[1], device=device)[None, :] < lengths_t[:, None]).long()
    return {"input_ids": ids, "attention_mask": mask}, lengths_t - 1


# ----------------------------------------------------------------------------------------------------------------------
# Metadata


def model_metadata(loaded: LoadedModel) -> dict[str, str]:
    """Strings describing the model, for the fingerprint header.

    Returns
    -------
    dict of str to str
        ``model_revision``, ``config_hash``, ``dtype`` (e.g. ``"bfloat16"``), ``model_type``,
        ``architecture``, ``num_layers``, ``vocab_size``, ``tokenizer_hash`` (of the token -> id
        map: text probes are encoded by each model's own tokenizer, so this says how),
        ``transformers_version``, ``torch_version``, ``device`` (where the forward pass ran, e.g. ``"cuda:0"``;
        under a device map, the first layer's); unknown values are empty strings.

    Example
    -------
    >>> import transformers
    >>> from seedprints.extract import load_model, model_metadata
    >>> cfg = transformers.LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
    ...                                intermediate_size=64, vocab_size=100)
    >>> meta = model_metadata(load_model(transformers.LlamaForCausalLM(cfg)))
    >>> meta["model_type"], meta["num_layers"], meta["dtype"]
    ('llama', '2', 'float32')
    """
    config = loaded.config
    architectures = getattr(config, "architectures", None) or []
    num_layers = getattr(config, "num_hidden_layers", None)
    return {
        "model_revision": loaded.revision,
        "config_hash": loaded.config_hash,
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "model_type": str(getattr(config, "model_type", "") or ""),
        "architecture": str(architectures[0]) if architectures else type(loaded.module).__name__,
        "num_layers": str(num_layers) if num_layers is not None else "",
        "vocab_size": str(loaded.vocab_size) if loaded.vocab_size is not None else "",
        "tokenizer_hash": _tokenizer_hash(loaded.tokenizer),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "device": str(_module_device(loaded.module)),
    }


def _tokenizer_hash(tokenizer: Any) -> str:
    """First 16 hex digits of the SHA-256 of the tokenizer's token -> id map ("" without a tokenizer)."""
    if tokenizer is None:
        return ""
    vocab = json.dumps(tokenizer.get_vocab(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(vocab.encode()).hexdigest()[:16]


def tokenizer_length(tokenizer: Any) -> int | None:
    """Largest id a tokenizer can produce + 1 (added tokens included); None for no tokenizer or an empty one.

    Embedding rows from here on are padding: no text encodes them, so no model trained them.
    """
    if tokenizer is None:
        return None
    try:
        ids = tokenizer.get_vocab().values()
    except Exception:  # noqa: BLE001 - a tokenizer that cannot list its vocabulary tells nothing
        return None
    return max(ids) + 1 if ids else None


def read_tokenizer_length(source: str | os.PathLike, *, trust_remote_code: bool = False) -> int | None:
    """:func:`tokenizer_length` of a model directory's (or an adapter's base's) tokenizer files, without weights."""
    info = formats.inspect_source(Path(source), allow_pickle=True)
    if info.kind == "gguf":
        return None
    length = directory_tokenizer_length(info.directory, trust_remote_code=trust_remote_code)
    if length is None and info.kind == "peft":
        return read_tokenizer_length(formats.adapter_base(info.directory, None), trust_remote_code=trust_remote_code)
    return length


def directory_tokenizer_length(directory: Path, *, trust_remote_code: bool = False) -> int | None:
    """:func:`tokenizer_length` of the tokenizer files in ``directory`` (None when it has none that load)."""
    return tokenizer_length(_load_tokenizer(Path(directory), trust_remote_code)[0])


def read_model_shape(source: str | os.PathLike, *, trust_remote_code: bool = False) -> tuple[int, int | None]:
    """``(hidden_size, vocab_size)`` of a model directory, GGUF file or adapter from its config alone (no weights loaded)."""
    return _config_shape(_source_config(source, trust_remote_code=trust_remote_code), source)


def _source_config(source: str | os.PathLike, *, trust_remote_code: bool) -> Any:
    """The checked config of a model directory, GGUF file or adapter (its base's), read without any weight."""
    info = formats.inspect_source(Path(source), allow_pickle=True)  # no weights are read here
    if info.kind == "peft":
        return _source_config(formats.adapter_base(info.directory, None), trust_remote_code=trust_remote_code)
    with offline_hub():
        if info.kind == "gguf":
            _, _, config = _gguf_config(info)
        else:
            _, raw = _read_raw_config(info.directory)
            config = _load_config(info.directory, raw, trust_remote_code)
    validate_config(config, source)
    return config


def _config_shape(config: Any, source: str | os.PathLike) -> tuple[int, int | None]:
    hidden = getattr(config, "hidden_size", None)
    if not isinstance(hidden, int):
        raise ModelLoadError(f"{source} gives no hidden_size in its config; seedprints cannot fingerprint this model")
    vocab = getattr(config, "vocab_size", None)
    return hidden, vocab if isinstance(vocab, int) else None
