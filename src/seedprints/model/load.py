"""Load a model for fingerprinting: a local Hugging Face directory, GGUF file or PEFT adapter, or an in-memory module.

:func:`load_model` gives a :class:`LoadedModel`: the inner model without its LM head, in eval mode, with what the
fingerprint header records (revision, config hash, widths) and the tokenizer when there is one. A local directory is
never turned into a hub download.

This module imports torch and transformers at import time; the rest of the package imports it only when a model
has to run.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import re
import shutil
import tempfile
import warnings
import weakref
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
import transformers
from packaging.version import Version

from seedprints.errors import ModelLoadError, UsageError, compact_message
from seedprints.model import precision, sources
from seedprints.model.config import (
    checkpoint_dtype, remote_code_error, config_hash, gguf_config, is_encoder, directory_config, read_raw_config, validate_config, vocab_size_of,
)
from seedprints.model.device import parse_device
from seedprints.model.forward import module_unembedding
from seedprints.model.hf import offline_hub, quiet_transformers
from seedprints.model.in_memory import wrap_module
from seedprints.model.loaded import LoadedModel
from seedprints.model.revision import model_revision
from seedprints.model.tokenizer import source_tokenizer
from seedprints.naming import setting

_DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")
_WEIGHT_FILES_HINT = "model.safetensors, model.safetensors.index.json or pytorch_model.bin"
# Weights a base model may lack or leave unused without changing ``last_hidden_state`` (BERT's pooler is not in
# *ForMaskedLM).
_HARMLESS_KEYS = re.compile(r"(^|\.)pooler\.")
# buffers that older checkpoints saved and today's transformers rebuilds (BERT's position_ids, Llama's rotary
# inv_freq, GPT-2's causal-mask attn.bias): extra, but not weights the config fails to describe
_SAVED_BUFFER_KEYS = re.compile(r"(^|\.)(position_ids|token_type_ids|inv_freq|masked_bias|attn\.bias)$")
_TRANSFORMERS_5 = Version(transformers.__version__).major >= 5
_DTYPE_KWARG = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"


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
        float16 overflows on long random sequences, except on a CPU without native bfloat16, where
        float32 runs 2-2.5x faster and is used when the float32 weights fit in half the available
        memory; everything else runs in float32 (:func:`seedprints.model.precision.choose_dtype`).
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
    >>> from seedprints.model.load import load_model
    >>> cfg = transformers.LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
    ...                                intermediate_size=64, vocab_size=100)
    >>> loaded = load_model(transformers.LlamaForCausalLM(cfg))
    >>> type(loaded.module).__name__, loaded.hidden_size, loaded.vocab_size, loaded.dtype
    ('LlamaModel', 32, 100, torch.float32)
    """
    torch_device = parse_device(device)
    if dtype != "auto" and dtype not in precision.EXPLICIT:
        raise UsageError(f"unknown dtype {dtype!r}; use auto, {', '.join(precision.EXPLICIT)}")
    if isinstance(source, torch.nn.Module):
        return wrap_module(source, dtype=dtype, device=torch_device)
    if device_map is not None and device_map not in _DEVICE_MAPS:
        raise UsageError(f"unknown device map {device_map!r}; use {', '.join(_DEVICE_MAPS)}")
    placement = _Placement(torch_device, device_map, max_memory)
    source_info = sources.inspect_source(Path(source), allow_pickle=allow_pickle)
    if trust_remote_code:
        sources.warn_remote_code(Path(source))
    with offline_hub():
        if source_info.kind == "peft":
            return _load_adapter(
                source_info, dtype=dtype, placement=placement, trust_remote_code=trust_remote_code,
                allow_pickle=allow_pickle, base=Path(base) if base is not None else None,
            )
        return _load_directory(
            source_info, dtype=dtype, placement=placement, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle
        )


@dataclasses.dataclass(frozen=True)
class _Placement:
    """Where the weights go: one device, or a device map (accelerate) with optional memory limits."""

    device: torch.device
    device_map: str | None = None
    max_memory: dict[int | str, int | str] | None = None

    def kwargs(self) -> dict[str, Any]:
        if self.device_map is not None:
            if not _has_accelerate():
                raise UsageError(f"{setting('device_map')} needs the accelerate package; pip install accelerate")
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


def _load_weights(
    source: sources.ModelSource, *, auto_class: Any, dtype: str, placement: _Placement, trust_remote_code: bool,
    allow_pickle: bool,
) -> tuple[torch.nn.Module, Any, bytes, dict[str, Any], precision.DtypeChoice]:
    """Config and weights of a Hugging Face directory or GGUF file, every failure turned into one ModelLoadError."""
    path = source.directory
    if source.kind == "gguf":
        raw_bytes, raw, config = gguf_config(source)
        where = path / str(source.gguf_file)
    else:
        raw_bytes, raw = read_raw_config(path)
        config = directory_config(path, raw, trust_remote_code)
        where = path
    if getattr(config, "is_encoder_decoder", False):
        raise ModelLoadError(
            f"{where} is an encoder-decoder model ({config.model_type}); seedprints fingerprints decoder-only "
            "or encoder-only models"
        )
    validate_config(config, where if source.kind == "gguf" else path / "config.json")
    stored = checkpoint_dtype(raw) if source.kind != "gguf" else None
    choice = precision.choose_dtype(
        dtype, stored, device=placement.device if placement.device_map is None else None,
        float32_bytes=precision.float32_size(source.weight_files, stored),
    )
    torch_dtype = choice.dtype
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
            raise remote_code_error(path) from exc
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
            f"cannot load the weights in {where}: {compact_message(exc, first_line=True)}; re-download or re-save the model"
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
    return module, config, raw_bytes, raw, choice


def _check_shapes(auto_class: Any, config: Any, source: sources.ModelSource, trust_remote_code: bool) -> None:
    """Refuse safetensors weights whose tensors have other shapes than the config gives, before allocating anything.

    The model is built on the meta device (no memory) and each checkpoint tensor is compared with the model tensor of
    the same name, with or without the base-model prefix (``model.``); names that differ (renamed or converted
    tensors) are left to transformers. Skipped for pickled or quantised weights, and when the meta build fails.
    """
    if getattr(config, "quantization_config", None) is not None:
        return
    stored = sources.safetensors_shapes(source.weight_files) if source.weight_files else None
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
    source: sources.ModelSource, *, dtype: str, placement: _Placement, trust_remote_code: bool, allow_pickle: bool
) -> LoadedModel:
    module, config, raw_bytes, raw, choice = _load_weights(
        source, auto_class=transformers.AutoModel, dtype=dtype, placement=placement,
        trust_remote_code=trust_remote_code, allow_pickle=allow_pickle,
    )
    path = source.directory
    tokenizer, tokenizer_error, length = source_tokenizer(source, trust_remote_code)
    if source.kind == "gguf":
        file = path / str(source.gguf_file)
        model_id, revision = str(file), sources.weights_digest(source.weight_files)[:12]
        unembedding: Callable[[], torch.Tensor] = lambda: sources.gguf_unembedding(file)  # noqa: E731
    else:
        model_id, revision = str(path), model_revision(path, raw_bytes)
        unembedding = lambda: _read_unembedding(path, config, module)  # noqa: E731
    return LoadedModel(
        module=module,
        tokenizer=tokenizer,
        config=config,
        model_id=model_id,
        revision=revision,
        config_hash=config_hash(config, module),
        hidden_size=int(config.hidden_size),
        vocab_size=vocab_size_of(module, config),
        dtype=choice.dtype,
        dtype_reason=choice.reason,
        is_encoder=is_encoder(config),
        unembedding=unembedding,
        weights_digest=sources.weights_digest(source.weight_files, raw_bytes),
        tokenizer_error=tokenizer_error,
        tokenizer_length=length,
    )


def _load_adapter(
    source: sources.ModelSource, *, dtype: str, placement: _Placement, trust_remote_code: bool, allow_pickle: bool,
    base: Path | None,
) -> LoadedModel:
    """A PEFT adapter merged into its base model; every adapter tensor must find its place in the base."""
    from peft import PeftConfig, get_peft_model, set_peft_model_state_dict
    from peft.utils import load_peft_weights

    adapter_dir = source.directory
    base_dir = sources.adapter_base(adapter_dir, base)
    base_source = sources.inspect_source(base_dir, allow_pickle=allow_pickle)
    if base_source.kind == "peft":
        raise ModelLoadError(f"the base of adapter {adapter_dir} ({base_dir}) is itself an adapter; pass the full model with {setting('base')}")
    task = str(sources.adapter_config(adapter_dir).get("task_type") or "")
    auto_class = transformers.AutoModelForCausalLM if task == "CAUSAL_LM" else transformers.AutoModel
    model, config, raw_bytes, _, choice = _load_weights(
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
            f"cannot apply adapter {adapter_dir} to {base_dir}: {compact_message(exc, first_line=True)}; check that it was trained on this base"
        ) from exc
    unexpected = [k for k in result.unexpected_keys if "lora" in k or "modules_to_save" in k or "adapter" in k]
    if unexpected:
        raise ModelLoadError(
            f"adapter {adapter_dir} has {len(unexpected)} tensor(s) that do not fit {base_dir} (e.g. {unexpected[0]}); "
            f"pass the base model it was trained on with {setting('base')}"
        )
    merged = peft_model.merge_and_unload().eval()
    head = merged if isinstance(merged, transformers.PreTrainedModel) else None
    module = merged.base_model if head is not None else merged
    raw_adapter = (adapter_dir / "adapter_config.json").read_bytes()
    tokenizer, tokenizer_error, length = source_tokenizer(source, trust_remote_code)
    if tokenizer is None and tokenizer_error is None:  # an adapter without tokenizer files uses its base's
        tokenizer, tokenizer_error, length = source_tokenizer(base_source, trust_remote_code)
    return LoadedModel(
        module=module,
        tokenizer=tokenizer,
        config=config,
        model_id=str(adapter_dir),
        revision=model_revision(adapter_dir, raw_adapter),
        config_hash=config_hash(config, module),
        hidden_size=int(config.hidden_size),
        vocab_size=vocab_size_of(module, config),
        dtype=choice.dtype,
        dtype_reason=choice.reason,
        is_encoder=is_encoder(config),
        unembedding=module_unembedding(head) if head is not None else None,
        weights_digest=sources.weights_digest(
            source.weight_files + base_source.weight_files, raw_adapter + raw_bytes
        ),
        tokenizer_error=tokenizer_error,
        tokenizer_length=length,
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
        weight_map = sources.read_json_object(index, "re-download or re-save the model").get("weight_map", {})
        files = [path / name for key, name in weight_map.items() if key.endswith("lm_head.weight")]
    for file in files:
        if file.is_file():
            with safe_open(str(file), framework="pt") as handle:
                for key in handle.keys():
                    if key == "lm_head.weight" or key.endswith(".lm_head.weight"):
                        return handle.get_tensor(key)
    raise UsageError(
        f"{path} has no lm_head.weight in its safetensors files; logit-recording (untrained) probes need a causal LM "
        f"head, use {setting('kind', 'token')}"
    )
