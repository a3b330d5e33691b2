"""Run a loaded model on probes and keep one float32 row per probe: the final hidden state at the last real position.

The model without its LM head reads each probe; the output of its final norm (``last_hidden_state``) at the last
real position of the sequence is the probe's row. :func:`extract_hidden_states` batches the probes through the
model, resumably; :func:`output_logits` adds the logits of a spec's scored tokens.
"""

from __future__ import annotations

import inspect
import os
import warnings
from typing import Any, Callable, Sequence

import numpy as np
import torch
import transformers

from seedprints.errors import ModelLoadError, NonFiniteHiddenStatesError, UsageError
from seedprints.model import fastpath
from seedprints.model.device import parse_device
from seedprints.model.fit import check_generated, check_length, check_vocab, refit_advice
from seedprints.model.loaded import LoadedModel
from seedprints.naming import setting
from seedprints.probes import Probes
from seedprints.progress import progress_bar
from seedprints.resume import Checkpoint


def call_module(module: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> Any:
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



def last_hidden(output: Any) -> torch.Tensor:
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



def module_device(module: torch.nn.Module) -> torch.device:
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")



def _ragged_rows(loaded: LoadedModel, probes: Probes, origin: str | None) -> list[np.ndarray]:
    """All token-id rows of token-file or text-file probes, checked against the model."""
    if not probes.spec.needs_tokenizer:
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
    check_vocab(loaded.model_id, loaded.vocab_size, int(max(int(r.max()) for r in rows)), "probe token ids",
                 f"a probe file whose ids stay below {loaded.vocab_size}", origin)
    check_length(loaded.model_id, loaded.config, int(lengths.max()), origin, file=True)
    return rows



def _pad_right(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad ragged rows with 0: (ids [B, Lmax], lengths [B]); the mask is ``arange(Lmax) < lengths``."""
    lengths = np.fromiter((r.size for r in rows), dtype=np.int64, count=len(rows))
    ids = np.zeros((len(rows), int(lengths.max())), dtype=np.int64)
    ids[np.arange(ids.shape[1]) < lengths[:, None]] = np.concatenate(rows)
    return ids, lengths



def _non_finite_hint(dtype: torch.dtype) -> str:
    if dtype == torch.float16:
        return f"retry with {setting('dtype', 'bfloat16')} (or float32)"
    if dtype == torch.bfloat16:
        return f"retry with {setting('dtype', 'float32')}"
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
        (:func:`seedprints.model.fastpath.last_position_only`); False runs every position.
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
    >>> from seedprints.model.load import load_model
    >>> from seedprints.model.forward import extract_hidden_states
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
    if spec.from_file:
        ragged = _ragged_rows(loaded, probes, probe_origin)
    else:
        check_generated(loaded.model_id, loaded.vocab_size, loaded.config, loaded.hidden_size, spec, probe_origin)

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
        progress, n, f"extracting {loaded.model_id} in {str(loaded.dtype).removeprefix('torch.')}"
    ) as advance, fastpath.last_position_only(module, loaded.config, last_position_only) as cutter:
        advance(start)
        while start < n:
            stop = min(start + size, n)
            inputs, last = _batch_inputs(loaded, probes, ragged, start, stop, run_device)
            cutter.aim(last, uniform=ragged is None)
            try:
                hidden = last_hidden(call_module(module, inputs))
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
    run_device = parse_device(device) if device is not None else module_device(module)
    if module_device(module) != run_device:
        module.to(run_device)
    return run_device



def _smaller_batch(loaded: LoadedModel, size: int, length: int, exc: BaseException, origin: str | None) -> int:
    """Half the batch after an out-of-memory error; at one probe, say what to change instead."""
    fastpath.release_memory()
    if size == 1:
        raise UsageError(
            f"out of memory running {loaded.model_id} on a single probe of length {length}; use "
            f"{setting('dtype', 'bfloat16')}, {setting('device_map', 'auto')} to offload layers, or shorter probes: "
            f"{refit_advice(origin, 'a smaller ' + setting('length'))}"
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
    if probes.spec.feeds_embeddings:
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



def unembedding_rows(loaded: LoadedModel, tokens: Sequence[int]) -> np.ndarray:
    """float32 ``[len(tokens), d]`` rows of the model's LM head for the given token ids."""
    if loaded.unembedding is None:
        raise UsageError(f"{loaded.model_id} has no LM head; logit-recording (untrained) probes need one, use {setting('kind', 'token')}")
    matrix = loaded.unembedding()
    if max(tokens) >= matrix.shape[0] or matrix.shape[1] != loaded.hidden_size:
        raise UsageError(
            f"{loaded.model_id}'s LM head is {tuple(matrix.shape)}, which does not fit token ids up to {max(tokens)} "
            f"and width {loaded.hidden_size}"
        )
    return matrix[torch.as_tensor(list(tokens))].float().cpu().numpy()



def module_unembedding(source: torch.nn.Module) -> Callable[[], torch.Tensor] | None:
    head = source.get_output_embeddings() if isinstance(source, transformers.PreTrainedModel) else None
    return None if head is None else (lambda: head.weight.detach())


def output_logits(loaded: LoadedModel, hidden: np.ndarray, tokens: tuple[int, ...]) -> np.ndarray:
    """float32 logits ``h . w_t`` of ``tokens`` for each row of ``hidden``, summed in float64 so that a row's
    logits do not depend on the other rows in the product (an extended fingerprint equals a fresh one)."""
    unembedding = unembedding_rows(loaded, tokens).astype(np.float64)
    return (hidden.astype(np.float64) @ unembedding.T).astype(np.float32)
