"""``--dtype auto``: bfloat16 where the device computes it natively, float32 on a CPU that emulates bfloat16 when
the float32 weights fit; and fingerprints made in either dtype compare."""

from __future__ import annotations

import json

import pytest
import torch
import transformers

import seedprints
from seedprints.model import precision
from seedprints.model.load import load_model
from seedprints.model.metadata import model_metadata

GIB = 1 << 30
CPU = torch.device("cpu")


@pytest.fixture
def bf16_dir(tiny_llama_dir, tmp_path):
    """The tiny Llama saved in bfloat16 (config dtype bfloat16)."""
    model = transformers.LlamaForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
    model.to(torch.bfloat16).save_pretrained(tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_llama_dir / name).exists():
            (tmp_path / name).write_bytes((tiny_llama_dir / name).read_bytes())
    assert json.loads((tmp_path / "config.json").read_text()).get("dtype") == "bfloat16"
    return tmp_path


def _cpu(monkeypatch, *, native_bf16: bool, available: int | None):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native_bf16)
    monkeypatch.setattr(precision, "available_memory_bytes", lambda: available)


class TestChooseDtype:
    def test_explicit_dtype_wins(self, monkeypatch):
        _cpu(monkeypatch, native_bf16=False, available=64 * GIB)
        choice = precision.choose_dtype("bfloat16", "bfloat16", device=CPU, float32_bytes=GIB)
        assert choice == precision.DtypeChoice(torch.bfloat16, "asked for")

    @pytest.mark.parametrize("stored", ["float32", None, torch.float32])
    def test_full_precision_and_unknown_checkpoints_run_in_float32(self, stored):
        assert precision.choose_dtype("auto", stored, device=None, float32_bytes=None).dtype == torch.float32

    @pytest.mark.parametrize("stored", ["bfloat16", "float16", torch.bfloat16, torch.float16])
    def test_device_maps_mps_and_bf16_gpus_keep_bfloat16(self, stored, monkeypatch):
        monkeypatch.setattr(precision, "gpu_has_native_bf16", lambda device: True)
        for device in (None, torch.device("mps"), torch.device("cuda:0")):
            assert precision.choose_dtype("auto", stored, device=device, float32_bytes=GIB).dtype == torch.bfloat16

    def test_an_older_gpu_computes_in_float32_when_it_fits(self, monkeypatch):
        monkeypatch.setattr(precision, "gpu_has_native_bf16", lambda device: False)
        monkeypatch.setattr(precision, "gpu_free_bytes", lambda device: 16 * GIB)
        choice = precision.choose_dtype("auto", "bfloat16", device=torch.device("cuda"), float32_bytes=2 * GIB)
        assert choice.dtype == torch.float32 and choice.reason.startswith("auto: bfloat16 checkpoint, GPU without")
        monkeypatch.setattr(precision, "gpu_has_native_bf16", lambda device: True)
        assert precision.choose_dtype("auto", "bfloat16", device=torch.device("cuda"), float32_bytes=2 * GIB).dtype == torch.bfloat16

    def test_cpu_with_native_bf16_keeps_bfloat16(self, monkeypatch):
        _cpu(monkeypatch, native_bf16=True, available=64 * GIB)
        choice = precision.choose_dtype("auto", "bfloat16", device=CPU, float32_bytes=GIB)
        assert choice.dtype == torch.bfloat16 and "native bfloat16" in choice.reason

    def test_cpu_without_native_bf16_computes_in_float32_when_it_fits(self, monkeypatch):
        _cpu(monkeypatch, native_bf16=False, available=8 * GIB)
        choice = precision.choose_dtype("auto", "float16", device=CPU, float32_bytes=2 * GIB)
        assert choice.dtype == torch.float32 and choice.reason.endswith("float32 fits")

    @pytest.mark.parametrize(("float32_bytes", "available"), [(5 * GIB, 8 * GIB), (None, 8 * GIB), (GIB, None)])
    def test_cpu_without_native_bf16_keeps_bfloat16_when_float32_may_not_fit(self, monkeypatch, float32_bytes, available):
        _cpu(monkeypatch, native_bf16=False, available=available)
        choice = precision.choose_dtype("auto", "bfloat16", device=CPU, float32_bytes=float32_bytes)
        assert choice.dtype == torch.bfloat16 and choice.reason.endswith("does not fit")

    def test_float32_size_scales_half_files(self, tmp_path):
        weights = tmp_path / "model.safetensors"
        weights.write_bytes(b"\0" * 1000)
        assert precision.float32_size((weights,), "bfloat16") == 2000
        assert precision.float32_size((weights,), "float32") == 1000
        assert precision.float32_size((weights,), None) is None
        assert precision.float32_size((tmp_path / "gone.safetensors",), "float16") is None

    def test_this_machine_answers(self):
        assert isinstance(precision.cpu_has_native_bf16(), bool)
        available = precision.available_memory_bytes()
        assert available is None or available > 0


class TestLoading:
    def test_a_bf16_checkpoint_on_a_cpu_without_bf16_loads_in_float32_and_says_why(self, monkeypatch, bf16_dir):
        _cpu(monkeypatch, native_bf16=False, available=64 * GIB)
        loaded = load_model(bf16_dir)
        assert loaded.dtype == torch.float32 and next(loaded.module.parameters()).dtype == torch.float32
        meta = model_metadata(loaded)
        assert meta["dtype"] == "float32" and "CPU without native bfloat16" in meta["dtype_reason"]

    def test_a_bf16_checkpoint_on_a_cpu_with_bf16_loads_in_bfloat16(self, monkeypatch, bf16_dir):
        _cpu(monkeypatch, native_bf16=True, available=64 * GIB)
        loaded = load_model(bf16_dir)
        assert loaded.dtype == torch.bfloat16 and model_metadata(loaded)["dtype_reason"].startswith("auto: bfloat16")

    def test_an_in_memory_bf16_module_follows_the_same_rule(self, monkeypatch, tiny_llama_dir):
        _cpu(monkeypatch, native_bf16=False, available=64 * GIB)
        model = transformers.LlamaForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.bfloat16)
        assert load_model(model).dtype == torch.float32

    def test_the_progress_line_names_the_dtype(self, monkeypatch, bf16_dir, capsys):
        _cpu(monkeypatch, native_bf16=False, available=64 * GIB)
        monkeypatch.setattr("seedprints.progress.PLAIN_EVERY_S", 0.0)
        seedprints.fingerprint_model(bf16_dir, n=20, length=8, progress=True)
        assert f"extracting {bf16_dir} in float32" in capsys.readouterr().err


def test_fingerprints_made_in_either_dtype_compare(tiny_llama_dir, tiny_llama_other_dir):
    """bfloat16 rounding moves the hidden states a little; the lineage test still pairs the model with itself across
    dtypes and still tells it from an independent model."""
    in_float32 = seedprints.fingerprint_model(tiny_llama_dir, n=300, length=16, dtype="float32")
    in_bfloat16 = seedprints.fingerprint_model(tiny_llama_dir, in_float32.spec, dtype="bfloat16")
    other_bfloat16 = seedprints.fingerprint_model(tiny_llama_other_dir, in_float32.spec, dtype="bfloat16")
    assert in_float32.metadata["dtype"] == "float32" and in_bfloat16.metadata["dtype"] == "bfloat16"
    assert seedprints.compare(in_float32, in_bfloat16).verdict == "same-lineage"
    assert seedprints.compare(in_float32, other_bfloat16).verdict == "independent"


def test_stored_dtype_reads_the_config(bf16_dir, tmp_path):
    assert precision.stored_dtype(bf16_dir) == "bfloat16"
    assert precision.stored_dtype(tmp_path / "nothing-here") is None
    assert precision.stored_dtype(object()) is None
