"""Model FLOP utilisation (MFU) of seedprints' extraction on a GPU, against the issue's target of 50% of bf16 peak.

Builds the paper's 134M toy Llama (:data:`seedprints.zoo.specs.PAPER_TOY`: d=768, 12 layers, 12
heads, MLP 2048, vocab 32000) with random init (nothing downloaded), in bfloat16 on CUDA (float32
on CPU), and reads N uniform token probes of length L (:func:`seedprints.probes.token_spec`) three
ways, alternated ``--repeats`` times after one warm-up round, each timed with CUDA synchronisation:

- *extraction*: :func:`seedprints.model.forward.extract_hidden_states`, the fast path (inner model, no LM
  head, the last layer's post-attention work on the last position only, SDPA), end to end: probe
  generation, host-to-device copies and the copy of the rows back included. Its MFU is the headline.
- *forward only*: the same module and last-position hooks on token ids already on the device, so
  the gap to *extraction* is host-side overhead.
- *plain*: a transformers forward of the whole causal LM (LM head included) with
  ``output_hidden_states=True``, in the same dtype on the same ids (already on the device), keeping
  ``hidden_states[-1][:, -1]``: the paper code's way. Printed as extraction's speed-up over it.

Model FLOPs (matmuls only; norms, RoPE, activations, softmax and embedding look-ups are not counted),
per probe of length L, for a Llama layer of width d, MLP width f and key/value width d_kv (heads of
key/value times head size)::

    P_in    = d*d + 2*d*d_kv            # q, k, v projection weights: run on all L positions
    P_out   = d*d + 3*d*f               # o projection and gate/up/down MLP weights
    A       = 2 * 2*d * L*(L+1)/2       # scores Q K^T and values A V, 2*d FLOPs each per causal (query, key) pair
    layer   = 2*L*(P_in + P_out) + A    # one layer on all positions
    fast    = (layers-1)*layer + 2*L*P_in + A + 2*P_out      # last layer: o proj and MLP on the last position only
    plain   = layers*layer + 2*L*d*V                         # every layer on all positions, plus the LM head

achieved TFLOP/s = N * FLOPs per probe / seconds / 1e12, and MFU = achieved / peak. Dense bf16 peaks
(vendor datasheets, without sparsity, TFLOP/s): H100 SXM 989, H100 PCIe 756, H200 989, A100 312,
L4 121, matched on ``torch.cuda.get_device_name``; ``--peak-tflops`` overrides the table and is
required on any other device (CPU included).

Run: ``python bench/bench_mfu.py [--device cuda] [--n 256] [--length 1024] [--batch-size auto]
[--peak-tflops X] [--arch paper-toy|tiny] [--repeats 3] [--json]``
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np
import torch

from seedprints.model import fastpath
from seedprints.errors import SeedprintsError, UsageError
from seedprints.model.device import parse_device
from seedprints.model.forward import extract_hidden_states
from seedprints.model.load import load_model
from seedprints.probes import generated, token_spec
from seedprints.zoo.specs import PAPER_TOY, ArchSpec
from seedprints.zoo.train import init_model

MFU_TARGET = 0.5
INIT_SEED = 0
ARCHS: dict[str, ArchSpec] = {
    "paper-toy": PAPER_TOY,
    # a few-second CPU smoke shape with the paper's position table
    "tiny": ArchSpec(hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128, vocab_size=512,
                     max_position=1024),
}
# (pattern on the CUDA device name, dense bf16 TFLOP/s, datasheet entry): vendor datasheets, no sparsity
PEAKS_BF16: tuple[tuple[str, float, str], ...] = (
    (r"\bH100\b.*\bPCIe\b", 756.0, "NVIDIA H100 PCIe datasheet"),
    (r"\bH100\b.*\b(SXM|HBM3)\b", 989.0, "NVIDIA H100 SXM datasheet"),
    (r"\bH200\b", 989.0, "NVIDIA H200 datasheet"),
    (r"\bA100\b", 312.0, "NVIDIA A100 datasheet"),
    (r"\bL4\b", 121.0, "NVIDIA L4 datasheet"),
)


def forward_flops(config: Any, length: int, *, last_position_only: bool = True, lm_head: bool = False) -> int:
    """Matmul FLOPs of one probe's forward pass through a Llama-style model (formula in the module docstring).

    Parameters
    ----------
    config : transformers.LlamaConfig
        Needs ``hidden_size``, ``num_hidden_layers``, ``num_attention_heads``, ``intermediate_size``,
        ``vocab_size`` and optionally ``num_key_value_heads`` and ``head_dim``.
    length : int
        Probe length L.
    last_position_only : bool
        The last layer's o projection and MLP run on the last position only (seedprints' fast path).
    lm_head : bool
        Add the LM head on all L positions (a plain causal-LM forward).
    """
    d, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or d // heads
    d_kv = (getattr(config, "num_key_value_heads", None) or heads) * head_dim
    p_in = d * heads * head_dim + 2 * d * d_kv
    p_out = heads * head_dim * d + 3 * d * f
    attention = 2 * (2 * heads * head_dim) * length * (length + 1) // 2
    layer = 2 * length * (p_in + p_out) + attention
    if last_position_only:
        total = (layers - 1) * layer + 2 * length * p_in + attention + 2 * p_out
    else:
        total = layers * layer
    return total + (2 * length * d * config.vocab_size if lm_head else 0)


def peak_tflops(device_name: str) -> tuple[float, str] | None:
    """Dense bf16 peak (TFLOP/s) and its datasheet for a CUDA device name, or None if the table lacks it."""
    for pattern, tflops, source in PEAKS_BF16:
        if re.search(pattern, device_name):
            return tflops, source
    return None


def resolve_peak(device_name: str, override: float | None) -> tuple[float, str]:
    """``--peak-tflops`` if given, else the table's entry; an unknown device without override is a UsageError."""
    if override is not None:
        return override, "--peak-tflops"
    known = peak_tflops(device_name)
    if known is None:
        raise UsageError(
            f"no dense bf16 peak is known for device {device_name!r}; pass --peak-tflops with its datasheet value "
            "(known: H100 SXM, H100 PCIe, H200, A100, L4)"
        )
    return known


def _synced(device: torch.device, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``fn`` takes with the device idle before and after, and its result."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, out


def _forward_only(loaded: Any, ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The fast path's forward on ids already on the device: ``[N, d]`` last-position rows, left on the device."""
    rows = []
    last = torch.full((batch_size,), ids.shape[1] - 1, dtype=torch.long, device=ids.device)
    with torch.inference_mode(), fastpath.last_position_only(loaded.module, loaded.config) as cutter:
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            cutter.aim(last[: len(batch)], uniform=True)
            out = loaded.module(input_ids=batch, attention_mask=torch.ones_like(batch), use_cache=False)
            rows.append(fastpath.rows_at(out.last_hidden_state, last[: len(batch)]))
    return torch.cat(rows)


def _plain_forward(model: torch.nn.Module, ids: torch.Tensor, batch_size: int) -> np.ndarray:
    """The paper code's way: the whole causal LM with all hidden states, last position of the last one."""
    rows = []
    with torch.inference_mode():
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            mask = torch.ones_like(batch)
            out = model(input_ids=batch, attention_mask=mask, output_hidden_states=True, use_cache=False)
            rows.append(out.hidden_states[-1][:, -1].float().cpu().numpy())
    return np.concatenate(rows)


def _plain_batch_size(model: torch.nn.Module, ids: torch.Tensor, batch_size: int) -> int:
    """The largest batch, halving from ``batch_size``, at which the plain forward (logits of every position) fits."""
    while True:
        try:
            _plain_forward(model, ids[:batch_size], batch_size)
            return batch_size
        except Exception as exc:  # only out-of-memory errors are handled here
            if not fastpath.is_out_of_memory(exc) or batch_size == 1:
                raise
            fastpath.release_memory()
            batch_size //= 2


def _rates(flops_per_probe: int, n: int, length: int, seconds: float, peak: float) -> dict[str, float]:
    achieved = flops_per_probe * n / seconds / 1e12
    return {"tokens_per_s": n * length / seconds, "achieved_tflops": achieved, "mfu": achieved / peak}


def run(
    arch: str = "paper-toy",
    *,
    device: str = "cuda",
    n: int = 256,
    length: int = 1024,
    batch_size: int | None = None,
    peak: float | None = None,
    repeats: int = 3,
) -> dict[str, Any]:
    """Measure extraction, forward-only and plain-forward throughput and MFU; see the module docstring.

    Returns a dict of plain JSON types: the setting, ``flops_per_probe``, ``tokens_per_s``,
    ``achieved_tflops``, ``mfu``, ``mfu_over_target`` for the extraction, the same rates under
    ``forward_only`` and ``plain``, ``speedup_vs_plain`` and ``max_abs_diff`` of the final hidden states.
    Raises UsageError for an unknown device or one without a known peak and no ``peak``.
    """
    torch_device = parse_device(device)
    device_name = torch.cuda.get_device_name(torch_device) if torch_device.type == "cuda" else torch_device.type
    peak_value, peak_source = resolve_peak(device_name, peak)
    spec = ARCHS[arch]
    dtype = "bfloat16" if torch_device.type == "cuda" else "float32"
    model = init_model(spec, INIT_SEED)
    parameters = sum(p.numel() for p in model.parameters())
    model.to(device=torch_device, dtype=getattr(torch, dtype))
    loaded = load_model(model, dtype=dtype, device=device)
    config = model.config
    size = min(n, batch_size or fastpath.auto_batch_size(config, length, torch_device, loaded.dtype))
    probes = generated(token_spec(n, length, spec.vocab_size, seed=42))
    ids = torch.from_numpy(np.stack(probes.token_ids(0, n))).to(torch_device)
    plain_size = _plain_batch_size(model, ids, size)  # also warms the plain path up

    runs = {
        "extraction": lambda: extract_hidden_states(loaded, probes, batch_size=size, device=device),
        "forward_only": lambda: _forward_only(loaded, ids, size),
        "plain": lambda: _plain_forward(model, ids, plain_size),
    }
    for fn in runs.values():  # warm-up round
        _synced(torch_device, fn)
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    outputs: dict[str, Any] = {}
    for _ in range(repeats):  # alternated, so that other load on the machine hits all three alike
        for name, fn in runs.items():
            elapsed, outputs[name] = _synced(torch_device, fn)
            seconds[name].append(elapsed)
    median = {name: statistics.median(values) for name, values in seconds.items()}

    fast_flops = forward_flops(config, length, last_position_only=True)
    plain_flops = forward_flops(config, length, last_position_only=False, lm_head=True)
    extraction = _rates(fast_flops, n, length, median["extraction"], peak_value)
    return {
        "arch": arch,
        "model": f"Llama d={spec.hidden_size}, {spec.num_layers} layers, {parameters / 1e6:.1f}M parameters",
        "device": device_name,
        "dtype": dtype,
        "attention": config._attn_implementation,
        "n": n,
        "length": length,
        "batch_size": size,
        "repeats": repeats,
        "peak_tflops": peak_value,
        "peak_source": peak_source,
        "flops_per_probe": fast_flops,
        **extraction,
        "mfu_target": MFU_TARGET,
        "mfu_over_target": extraction["mfu"] / MFU_TARGET,
        "forward_only": _rates(fast_flops, n, length, median["forward_only"], peak_value),
        "plain": {
            "flops_per_probe": plain_flops,
            "batch_size": plain_size,
            **_rates(plain_flops, n, length, median["plain"], peak_value),
        },
        "speedup_vs_plain": median["plain"] / median["extraction"],
        "max_abs_diff": float(np.abs(outputs["extraction"] - outputs["plain"]).max()),
        "max_abs_value": float(np.abs(outputs["plain"]).max()),
    }


def _batch_size(text: str) -> int | None:
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', got {text!r}")
    return int(text)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _print(result: dict[str, Any]) -> None:
    fo, plain = result["forward_only"], result["plain"]
    print(f"{result['arch']} ({result['model']}), {result['dtype']} on {result['device']}, N={result['n']}, "
          f"L={result['length']}, batch {result['batch_size']}, attention {result['attention']}, "
          f"median of {result['repeats']} runs")
    print(f"peak: {result['peak_tflops']:g} TFLOP/s dense bf16 ({result['peak_source']}); "
          f"model FLOPs per probe: {result['flops_per_probe']:.4g} (fast path), {plain['flops_per_probe']:.4g} (plain)")
    print(f"seedprints extraction: {result['tokens_per_s']:,.0f} tokens/s, {result['achieved_tflops']:.1f} TFLOP/s, "
          f"MFU {result['mfu']:.1%}; MFU / {MFU_TARGET:.0%} target = {result['mfu_over_target']:.2f} "
          "(1 or more meets the target)")
    print(f"  forward only (ids already on the device): {fo['tokens_per_s']:,.0f} tokens/s, "
          f"{fo['achieved_tflops']:.1f} TFLOP/s, MFU {fo['mfu']:.1%}")
    print(f"plain causal-LM forward with output_hidden_states (batch {plain['batch_size']}): "
          f"{plain['tokens_per_s']:,.0f} tokens/s, {plain['achieved_tflops']:.1f} TFLOP/s, MFU {plain['mfu']:.1%}")
    print(f"seedprints extraction is {result['speedup_vs_plain']:.2f}x as fast as the plain forward; max |difference| "
          f"of the final hidden states {result['max_abs_diff']:.2e} (values up to {result['max_abs_value']:.2f})")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print; a bad setting is one ``Error:`` line on stderr and exit 1 (usage errors: 2)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="torch device (default cuda)")
    parser.add_argument("--n", type=_positive_int, default=256, help="probes (default 256)")
    parser.add_argument("--length", type=_positive_int, default=1024, help="probe length L (default 1024)")
    parser.add_argument("--batch-size", type=_batch_size, default=None, metavar="auto|N",
                        help="probes per forward pass (default auto: from free GPU memory)")
    parser.add_argument("--peak-tflops", type=_positive_float, default=None,
                        help="dense bf16 peak of the device in TFLOP/s (default: the table for known GPUs)")
    parser.add_argument("--arch", choices=sorted(ARCHS), default="paper-toy")
    parser.add_argument("--repeats", type=_positive_int, default=3, help="timed rounds after the warm-up (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        result = run(args.arch, device=args.device, n=args.n, length=args.length, batch_size=args.batch_size,
                     peak=args.peak_tflops, repeats=args.repeats)
    except SeedprintsError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
