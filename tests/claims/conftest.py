"""A small world of claiming models: tiny Llamas with model cards (true, false, listed, missing, malformed claims), one
of another width, a PEFT adapter, a model whose weights are junk, and a registry of the bases."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest

from tests.conftest import TINY_VOCAB, _save, build_tokenizer, tiny_llama

FAST = ("--n", "100", "--length", "8")
INPUTS = ("derived", "stranger", "listed", "no-card", "malformed", "claims-wide", "claims-unknown", "adapter",
          "junk-weights", "base")
CARDS = {
    "derived": "---\nbase_model: base\nbase_model_relation: finetune\n---\n# a fine-tune of base\n",
    "stranger": "---\nbase_model: base\nbase_model_relation: finetune\n---\n# claims base, but has its own seed\n",
    "listed": "---\nbase_model:\n  - base\n  - other\nbase_model_relation: merge\n---\n",
    "malformed": "---\nbase_model: [base\nlicense: mit\n---\n",
    "claims-wide": "---\nbase_model: wide\n---\n",
    "claims-unknown": "---\nbase_model: tiny-org/unknown\n---\n",
    "junk-weights": "---\nbase_model: base\n---\n",
}


def wide_llama(seed: int = 5):
    """A tiny Llama of width 48 (the world's others are 32 wide), same vocabulary."""
    import torch
    import transformers

    torch.manual_seed(seed)
    config = transformers.LlamaConfig(hidden_size=48, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                      vocab_size=TINY_VOCAB, max_position_embeddings=256)
    return transformers.LlamaForCausalLM(config)


def save_adapter(base_dir: Path, target: Path, named_base: str) -> Path:
    """A LoRA adapter (non-zero B, so it changes the model) on ``base_dir``, its config naming ``named_base``."""
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(3)
    base = transformers.LlamaForCausalLM.from_pretrained(base_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                        task_type="CAUSAL_LM")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft calls a transformers method deprecated in v5
        get_peft_model(base, config).save_pretrained(target)
    path = target / "adapter_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "base_model_name_or_path": named_base}))
    (target / "README.md").unlink(missing_ok=True)  # peft's card names the base by path; the config alone claims here
    return target


@pytest.fixture(scope="session")
def claims_world(tmp_path_factory, tiny_llama_dir, tiny_llama_derived_dir, tiny_llama_other_dir) -> Path:
    """Models under ``models/`` and ``refs.db`` holding ``base`` (seed 0), ``other`` (seed 1) and ``wide`` (d = 48).

    derived (base + 5% noise) claims base, truly; stranger (seed 2) claims base, falsely; listed (a copy of derived)
    claims base and other; no-card (derived again) has no card; malformed has a card that is not YAML; claims-wide
    names the 48-wide base; claims-unknown a base nobody registered; adapter is a LoRA on base whose config names
    base; junk-weights has a card but weights that are not safetensors.
    """
    import seedprints

    root = tmp_path_factory.mktemp("claims-world")
    models = root / "models"
    models.mkdir()
    tokenizer = build_tokenizer()
    for name, source in (("base", tiny_llama_dir), ("other", tiny_llama_other_dir), ("derived", tiny_llama_derived_dir),
                         ("listed", tiny_llama_derived_dir), ("no-card", tiny_llama_derived_dir),
                         ("malformed", tiny_llama_derived_dir), ("claims-wide", tiny_llama_derived_dir),
                         ("claims-unknown", tiny_llama_derived_dir), ("junk-weights", tiny_llama_derived_dir)):
        shutil.copytree(source, models / name)
    _save(tiny_llama(2), tokenizer, models / "stranger")
    _save(wide_llama(), tokenizer, models / "wide")
    (models / "junk-weights" / "model.safetensors").write_bytes(b"not a safetensors file at all")
    save_adapter(models / "base", models / "adapter", "base")
    for name, text in CARDS.items():
        (models / name / "README.md").write_text(text)
    with seedprints.Registry.open(root / "refs.db") as reg:
        for name in ("base", "other", "wide"):
            fp = seedprints.fingerprint_model(models / name, n=100, length=8, device="cpu")
            reg.add(fp, name=name, source=models / name)
    return root


def argv(world: Path, *extra: object, names: tuple[str, ...] = INPUTS) -> list[object]:
    """``seedprints claims`` on the world's models ``names`` against its registry, fast probes, on the CPU."""
    return ["claims", *(world / "models" / n for n in names), "--registry", world / "refs.db", *FAST, "--device", "cpu",
            *extra]


@pytest.fixture(scope="session")
def world_run(claims_world, tmp_path_factory) -> tuple[dict, Path]:
    """The whole world checked once, with --json, a report and bundles: the JSON and the folder of the outputs."""
    import contextlib
    import io

    from seedprints.cli import main

    out = tmp_path_factory.mktemp("claims-run")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main([str(a) for a in argv(claims_world, "--cache", out / "cache", "--json", "--report", out / "report",
                                          "--bundle", out / "bundles")])
    assert code == 0, stderr.getvalue()
    return json.loads(stdout.getvalue()), out


def gguf_with_bases(model_dir: Path, path: Path, bases: list[dict[str, str]], tokens: tuple = ()) -> Path:
    """A GGUF file of a tiny Llama whose metadata names ``bases`` (as llama.cpp's converter writes them), with the
    token list ``tokens`` (see :func:`tests.gguf_files.llama_cpp_tokens`)."""
    import gguf

    from tests.gguf_files import write_gguf

    plain = path.with_suffix(".plain.gguf")
    write_gguf(model_dir, plain, tokens=tokens)
    reader = gguf.GGUFReader(str(plain))
    writer = gguf.GGUFWriter(str(path), "llama")
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        kind = field.types[0]
        value = field.contents()
        writer.add_key_value(field.name, value, kind, sub_type=field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None)
    writer.add_base_model_count(len(bases))
    for i, base in enumerate(bases):
        for key, value in base.items():
            getattr(writer, f"add_base_model_{key}")(i, value)
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    plain.unlink()
    return path
