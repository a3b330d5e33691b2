"""Tests of bench/bench_mfu.py: its FLOP arithmetic, its peak table, a CPU smoke run and its bad-input answers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode

from seedprints.model import fastpath

_PATH = Path(__file__).resolve().parents[1] / "bench" / "bench_mfu.py"
_SPEC = importlib.util.spec_from_file_location("bench_mfu", _PATH)
bench_mfu = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench_mfu)

SMOKE = ["--device", "cpu", "--arch", "tiny", "--n", "12", "--length", "16", "--peak-tflops", "2", "--repeats", "1"]


def _config(kv_heads: int = 2) -> transformers.LlamaConfig:
    return transformers.LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                    num_key_value_heads=kv_heads, intermediate_size=64, vocab_size=512)


class TestForwardFlops:
    def test_hand_count(self):
        # d=32, f=64, 2 layers, V=512, L=16: P_in = 3*32*32 = 3072, P_out = 32*32 + 3*32*64 = 7168,
        # attention = 2*2*32 * 16*17/2 = 17408, one full layer = 2*16*(3072+7168) + 17408 = 345088
        cfg = _config()
        assert bench_mfu.forward_flops(cfg, 16) == 345088 + 2 * 16 * 3072 + 17408 + 2 * 7168 == 475136
        assert bench_mfu.forward_flops(cfg, 16, last_position_only=False) == 2 * 345088 == 690176
        assert bench_mfu.forward_flops(cfg, 16, last_position_only=False, lm_head=True) == 690176 + 2 * 16 * 32 * 512

    def test_hand_count_grouped_query_attention(self):
        # one key/value head of size 16: P_in = 32*32 + 2*32*16 = 2048; one full layer = 2*16*(2048+7168) + 17408
        cfg = _config(kv_heads=1)
        layer = 2 * 16 * (2048 + 7168) + 17408
        assert bench_mfu.forward_flops(cfg, 16) == layer + 2 * 16 * 2048 + 17408 + 2 * 7168

    @pytest.mark.parametrize("kv_heads", [2, 1])
    def test_matches_torch_flop_counter(self, kv_heads):
        """torch counts eager attention's masked half of the scores (4*d*L*L per layer); we count the causal part."""
        torch.manual_seed(0)
        cfg = _config(kv_heads)
        cfg._attn_implementation = "eager"
        model = transformers.LlamaForCausalLM(cfg).eval()
        length, rows = 16, 3
        ids = torch.randint(0, cfg.vocab_size, (rows, length))
        masked_half = cfg.num_hidden_layers * (4 * 32 * length * length - 2 * 32 * length * (length + 1))
        with torch.inference_mode(), fastpath.last_position_only(model.model, cfg) as cutter:
            cutter.aim(torch.full((rows,), length - 1), uniform=True)
            with FlopCounterMode(display=False) as counter:
                model.model(input_ids=ids, use_cache=False)
        assert counter.get_total_flops() == rows * (bench_mfu.forward_flops(cfg, length) + masked_half)
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            model(input_ids=ids, use_cache=False, output_hidden_states=True)
        plain = bench_mfu.forward_flops(cfg, length, last_position_only=False, lm_head=True)
        assert counter.get_total_flops() == rows * (plain + masked_half)


class TestPeak:
    @pytest.mark.parametrize(
        "name, tflops",
        [
            ("NVIDIA H100 80GB HBM3", 989.0),
            ("NVIDIA H100 PCIe", 756.0),
            ("NVIDIA H200", 989.0),
            ("NVIDIA A100-SXM4-80GB", 312.0),
            ("NVIDIA A100 80GB PCIe", 312.0),
            ("NVIDIA L4", 121.0),
        ],
    )
    def test_known(self, name, tflops):
        assert bench_mfu.peak_tflops(name)[0] == tflops

    @pytest.mark.parametrize("name", ["NVIDIA L40S", "NVIDIA H100 NVL", "NVIDIA GH200 480GB", "cpu"])
    def test_unknown(self, name):
        assert bench_mfu.peak_tflops(name) is None

    def test_override_wins(self):
        assert bench_mfu.resolve_peak("NVIDIA H100 80GB HBM3", 500.0) == (500.0, "--peak-tflops")


class TestMain:
    def test_cpu_smoke_json(self, capsys):
        assert bench_mfu.main([*SMOKE, "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["flops_per_probe"] == bench_mfu.forward_flops(bench_mfu.ARCHS["tiny"].to_config(), 16)
        for key in ("tokens_per_s", "achieved_tflops", "mfu", "mfu_over_target", "speedup_vs_plain", "max_abs_diff"):
            assert result[key] >= 0, key
        assert result["mfu"] == pytest.approx(result["achieved_tflops"] / 2)
        assert result["mfu_over_target"] == pytest.approx(result["mfu"] / 0.5)
        tflops = result["tokens_per_s"] / 16 * result["flops_per_probe"] / 1e12
        assert tflops == pytest.approx(result["achieved_tflops"])
        assert set(result["plain"]) >= {"tokens_per_s", "achieved_tflops", "mfu", "flops_per_probe", "batch_size"}
        assert set(result["forward_only"]) == {"tokens_per_s", "achieved_tflops", "mfu"}
        # float32 on CPU: the fast path gives the plain forward's hidden states
        assert result["max_abs_diff"] <= 1e-4 * result["max_abs_value"]

    def test_cpu_smoke_text(self, capsys):
        assert bench_mfu.main(SMOKE) == 0
        out = capsys.readouterr().out
        for phrase in ("tokens/s", "TFLOP/s", "MFU", "target =", "as fast as the plain forward"):
            assert phrase in out

    def test_unknown_device_without_peak(self, capsys):
        assert bench_mfu.main(["--device", "cpu", "--arch", "tiny"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("Error: no dense bf16 peak is known for device 'cpu'")
        assert "--peak-tflops" in err and "Traceback" not in err

    def test_unavailable_device(self, capsys):
        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
        assert bench_mfu.main(["--device", "cuda", "--arch", "tiny"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("Error: ") and "CUDA is not available" in err

    @pytest.mark.parametrize(
        "argv",
        [["--batch-size", "0"], ["--batch-size", "many"], ["--peak-tflops", "-5"], ["--peak-tflops", "inf"],
         ["--n", "0"]],
    )
    def test_usage_errors_exit_2(self, argv, capsys):
        with pytest.raises(SystemExit) as exc:
            bench_mfu.main(["--device", "cpu", *argv])
        assert exc.value.code == 2
        assert "must be a positive" in capsys.readouterr().err
